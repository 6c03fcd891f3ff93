package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/parquet-go/parquet-go"
)

// Faults the sink must survive with its exactly-once rule intact: failed,
// duplicated and retried bundle attempts, a failed commit and a full disk.
// prism fails a job on a bundle error instead of retrying, so the attempts
// are simulated here by calling the DoFns' methods directly.

// bundleTemps writes rows through one Writer, as one bundle attempt does,
// and returns the temporary files it would emit.
func bundleTemps(t *testing.T, c Commit, rows []DenoiseRow, noise string) []TempFile {
	t.Helper()
	ctx := context.Background()
	w, err := NewWriter(ctx, c.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		r.Noise = noise
		if err := w.Add(ctx, r.Key, r, len(r.Input)); err != nil {
			t.Fatal(err)
		}
		w.Count("noise/"+noise, 1)
	}
	temps, err := w.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return temps
}

// stage runs the merge of every partition, as Finalize's merge step does
// (MergePartition), and returns the staged shards: those of the partitions
// merged before the first failure, and its error.
func stage(t *testing.T, c Commit, temps []TempFile) ([]StagedShard, error) {
	t.Helper()
	byPart := map[int][]TempFile{}
	for _, tf := range temps {
		byPart[tf.Partition] = append(byPart[tf.Partition], tf)
	}
	var staged []StagedShard
	for k := 0; k < c.NumShards; k++ {
		var inputs []string
		var rows int64
		stats := map[string]int64{}
		for _, tf := range byPart[k] {
			inputs = append(inputs, tf.Path)
			rows += tf.Rows
			for s, n := range tf.Stats {
				stats[s] += n
			}
		}
		sort.Strings(inputs)
		sh, err := MergePartition(context.Background(), c, k, inputs, rows, stats)
		if err != nil {
			return staged, err
		}
		staged = append(staged, sh)
	}
	return staged, nil
}

func iterOf[T any](list []T) func(*T) bool {
	i := 0
	return func(v *T) bool {
		if i == len(list) {
			return false
		}
		*v = list[i]
		i++
		return true
	}
}

// commitStaged runs the commit of one dataset, as Finalize's commit step does (Publish),
// with inputs read and labeled.
func commitStaged(c Commit, staged []StagedShard, inputs, labeled int64) error {
	_, err := Publish(context.Background(), c, iterOf(staged), map[string]int64{OutcomeInput: inputs, OutcomeLabeled: labeled})
	return err
}

// folder lists every file under dir, relative to it.
func folder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// committedFolder is what a committed dataset folder of n shards holds.
func committedFolder(n int) []string {
	want := []string{ManifestName}
	for k := 0; k < n; k++ {
		want = append(want, fmt.Sprintf("denoise-%05d-of-%05d.parquet", k, n))
	}
	sort.Strings(want)
	return want
}

// noFinalNames fails if dir holds a file under a final shard name or a
// manifest.
func noFinalNames(t *testing.T, dir string) {
	t.Helper()
	for _, f := range folder(t, dir) {
		if final, _ := filepath.Match("denoise-*-of-*.parquet", filepath.Base(f)); final || filepath.Base(f) == ManifestName {
			t.Errorf("%s exists after a failed run", f)
		}
	}
}

// readKeys reads back every row of a committed dataset.
func readKeys(t *testing.T, c Commit, m *Manifest) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, sh := range m.Shards {
		data, err := os.ReadFile(filepath.Join(c.Dir, sh.Path))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := parquet.Read[DenoiseRow](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: %v", sh.Path, err)
		}
		for _, r := range rows {
			k := fmt.Sprintf("%s/%d", r.Key, r.Variant)
			if _, dup := got[k]; dup {
				t.Errorf("row %s published twice", k)
			}
			got[k] = r.Noise
		}
	}
	return got
}

// Three attempts of one bundle: the first dies half way through writing a
// temporary file, the second finishes but its output is discarded (a
// speculative duplicate, or a retry after a lost acknowledgement), the third
// is the one the runner commits. Each row is published exactly once, from
// the committed attempt, and finalize leaves nothing but the manifest and
// the shards.
func TestBundleAttemptsPublishedExactlyOnce(t *testing.T) {
	ctx := context.Background()
	c := dataset(t.TempDir(), 3)
	rows := testRows(90)

	// Attempt 1: killed while writing.
	fs, err := NewFS(ctx, c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	partial, err := fs.OpenWrite(ctx, Join(c.StagingDir(), "tmp-00001-killed-attempt-0.rows.zst"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := partial.Write([]byte("\x28\xb5\x2f\xfd half a frame")); err != nil {
		t.Fatal(err)
	}
	partial.Close()
	fs.Close()
	// Attempt 2: complete, never committed.
	discarded := bundleTemps(t, c, rows, "duplicate-attempt")
	// Attempt 3: committed.
	committed := bundleTemps(t, c, rows, "gaussian")

	staged, err := stage(t, c, committed)
	if err != nil {
		t.Fatal(err)
	}
	if err := commitStaged(c, staged, int64(len(rows)), int64(len(rows))); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(ctx, c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := folder(t, c.Dir), committedFolder(3); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after finalize the folder holds %v, want %v", got, want)
	}
	for _, tf := range discarded {
		if _, err := os.Stat(tf.Path); !os.IsNotExist(err) {
			t.Errorf("temporary file %s of the discarded attempt survived", tf.Path)
		}
	}
	got := readKeys(t, c, m)
	if len(got) != len(rows) || m.Rows != int64(len(rows)) {
		t.Errorf("%d distinct rows read back, manifest %d, want %d", len(got), m.Rows, len(rows))
	}
	for k, noise := range got {
		if noise != "gaussian" {
			t.Errorf("row %s comes from attempt %q, not the committed one", k, noise)
		}
	}
}

// A commit retried after an attempt that moved some or all shards and then
// failed (Dataflow retries the bundle) finishes the job: shards whose final
// name already holds the staged bytes count as moved, and the manifest is the
// one a single attempt writes.
func TestCommitRetryIsIdempotent(t *testing.T) {
	rows := testRows(60)
	once := dataset(t.TempDir(), 2)
	writeDataset(t, once, rows, 60)
	want := shardBytes(t, once.Dir)

	for _, moved := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("%d-of-2-moved", moved), func(t *testing.T) {
			c := dataset(t.TempDir(), 2)
			staged, err := stage(t, c, bundleTemps(t, c, rows, "gaussian"))
			if err != nil {
				t.Fatal(err)
			}
			// The failed attempt moved the first shards into the new folder,
			// then died.
			if err := os.MkdirAll(c.NextDir(), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, sh := range staged[:moved] {
				if err := os.Rename(sh.Staged, Join(c.NextDir(), path.Base(c.ShardName(sh.Partition)))); err != nil {
					t.Fatal(err)
				}
			}
			if err := commitStaged(c, staged, int64(len(rows)), int64(len(rows))); err != nil {
				t.Fatalf("retried commit: %v", err)
			}
			// And once more, after a success whose acknowledgement was lost.
			if err := commitStaged(c, staged, int64(len(rows)), int64(len(rows))); err != nil {
				t.Fatalf("commit retried after success: %v", err)
			}
			got := shardBytes(t, c.Dir)
			if len(got) != len(want) {
				t.Errorf("files %d, want %d", len(got), len(want))
			}
			for name, b := range want {
				if !bytes.Equal(got[name], b) {
					t.Errorf("%s differs from a single attempt's", name)
				}
			}
			if got, want := folder(t, c.Dir), committedFolder(2); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("folder holds %v, want %v", got, want)
			}
		})
	}
}

// A retried commit does not take just any file under a final name for its
// shard: if the staged file is gone and the final name holds other bytes,
// the commit fails and writes no manifest.
func TestCommitRetryRefusesOtherBytes(t *testing.T) {
	ctx := context.Background()
	c := dataset(t.TempDir(), 2)
	rows := testRows(40)
	staged, err := stage(t, c, bundleTemps(t, c, rows, "gaussian"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(staged[1].Staged)
	if err != nil {
		t.Fatal(err)
	}
	// Shard 0's staged file is lost; its final name holds shard 1's bytes.
	if err := os.Remove(staged[0].Staged); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.NextDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(Join(c.NextDir(), path.Base(c.ShardName(0))), other, 0o644); err != nil {
		t.Fatal(err)
	}
	err = commitStaged(c, staged, int64(len(rows)), int64(len(rows)))
	if err == nil {
		t.Fatal("commit published a shard whose bytes it never staged")
	}
	if _, err := ReadManifest(ctx, c.Dir); !errors.Is(err, ErrIncomplete) {
		t.Errorf("after a failed commit, ReadManifest: %v, want ErrIncomplete", err)
	}
}

// A commit that fails (a shard never staged, or inputs unaccounted for)
// writes no manifest and publishes no shard.
func TestFailedCommitLeavesNoManifest(t *testing.T) {
	ctx := context.Background()
	rows := testRows(40)
	for name, fail := range map[string]func(c Commit, staged []StagedShard) error{
		"shard-missing": func(c Commit, staged []StagedShard) error { return commitStaged(c, staged[1:], 40, 40) },
		"input-lost":    func(c Commit, staged []StagedShard) error { return commitStaged(c, staged, 41, 40) },
	} {
		t.Run(name, func(t *testing.T) {
			c := dataset(t.TempDir(), 2)
			staged, err := stage(t, c, bundleTemps(t, c, rows, "gaussian"))
			if err != nil {
				t.Fatal(err)
			}
			if err := fail(c, staged); err == nil {
				t.Fatal("commit succeeded")
			}
			if _, err := ReadManifest(ctx, c.Dir); !errors.Is(err, ErrIncomplete) {
				t.Errorf("ReadManifest: %v, want ErrIncomplete", err)
			}
			noFinalNames(t, c.Dir)
		})
	}
}

// fullDisk is a local filesystem, under the scheme "fulldisk://", whose disk
// holds only budget more bytes: a write past it writes what fits and fails
// with ENOSPC, as a full disk does.
type fullDisk struct {
	mu     sync.Mutex
	budget int64
}

var disk = &fullDisk{}

func init() {
	filesystem.Register("fulldisk", func(context.Context) filesystem.Interface { return disk })
}

func (d *fullDisk) setBudget(n int64) {
	d.mu.Lock()
	d.budget = n
	d.mu.Unlock()
}

// take reserves up to n bytes and returns how many it got.
func (d *fullDisk) take(n int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	got := min(int64(n), d.budget)
	d.budget -= got
	return int(got)
}

func local(name string) string { return strings.TrimPrefix(name, "fulldisk://") }

func (d *fullDisk) Close() error { return nil }

func (d *fullDisk) List(_ context.Context, glob string) ([]string, error) {
	found, err := filepath.Glob(local(glob))
	for i, f := range found {
		found[i] = "fulldisk://" + f
	}
	return found, err
}

func (d *fullDisk) OpenRead(_ context.Context, name string) (io.ReadCloser, error) {
	return os.Open(local(name))
}

func (d *fullDisk) OpenWrite(_ context.Context, name string) (io.WriteCloser, error) {
	if err := os.MkdirAll(filepath.Dir(local(name)), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(local(name))
	if err != nil {
		return nil, err
	}
	return &fullFile{File: f, disk: d}, nil
}

func (d *fullDisk) Size(_ context.Context, name string) (int64, error) {
	st, err := os.Stat(local(name))
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (d *fullDisk) Remove(_ context.Context, name string) error { return os.Remove(local(name)) }

func (d *fullDisk) Rename(_ context.Context, from, to string) error {
	if err := os.MkdirAll(filepath.Dir(local(to)), 0o755); err != nil {
		return err
	}
	return os.Rename(local(from), local(to))
}

type fullFile struct {
	*os.File
	disk *fullDisk
}

func (f *fullFile) Write(p []byte) (int, error) {
	n := f.disk.take(len(p))
	if _, err := f.File.Write(p[:n]); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return n, nil
}

// A full disk, whether it fills while bundles write temporary files or
// while a shard is merged, fails the run with an error that says so
// (ENOSPC, wrapped with the file's name) and leaves no file under a final
// shard name and no manifest.
func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	rows := testRows(200)
	for _, tc := range []struct {
		name   string
		budget int64 // bytes the disk takes
		stage  bool  // the temporary files fit; the merge does not
	}{
		{"while writing temporary files", 2000, false},
		{"while merging a shard", 3000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := dataset("", 2)
			c.Dir = "fulldisk://" + filepath.Join(dir, "denoise")
			c.MaxBufferBytes = 1 << 20
			disk.setBudget(1 << 40)
			w, err := NewWriter(ctx, c.Dataset)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if err := w.Add(ctx, r.Key, r, len(r.Input)); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.stage {
				disk.setBudget(tc.budget)
			}
			temps, err := w.Flush(ctx)
			if tc.stage {
				if err != nil {
					t.Fatalf("temporary files did not fit: %v", err)
				}
				disk.setBudget(tc.budget)
				_, err = stage(t, c, temps)
			}
			if err == nil {
				t.Fatal("no error from a full disk")
			}
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not say the disk is full, or where", err)
			}
			t.Logf("error: %v", err)
			noFinalNames(t, filepath.Join(dir, "denoise"))
			disk.setBudget(1 << 40)
			if _, err := ReadManifest(ctx, c.Dir); !errors.Is(err, ErrIncomplete) {
				t.Errorf("ReadManifest: %v, want ErrIncomplete", err)
			}
		})
	}
}
