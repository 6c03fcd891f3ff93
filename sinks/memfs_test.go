package sinks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path"
	"strings"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"
)

// Object stores (gs://, s3://) publish an object whole when its writer
// closes, have no folders, and differ in renaming: GCS renames by a
// server-side copy and a delete, S3 has no rename, so Beam's
// filesystem.Rename copies and removes. Beam's in-memory filesystem (memfs)
// publishes on Close too; the two stores below wrap it, one per way of
// renaming, and record what every change leaves visible.
var (
	renamingStore = &objectStore{scheme: "objrename"}
	copyingStore  = &objectStore{scheme: "objcopy"}
)

func init() {
	filesystem.Register(renamingStore.scheme, func(context.Context) filesystem.Interface { return renamer{renamingStore} })
	filesystem.Register(copyingStore.scheme, func(context.Context) filesystem.Interface { return copyingStore })
}

// objectStore keeps its objects in memfs under memfs://<scheme>/ and records
// each change it is asked to make.
type objectStore struct {
	scheme string

	mu     sync.Mutex
	dir    string // the folder whose objects each event snapshots
	events []storeEvent
}

// storeEvent is one change and what a reader listing dir saw right after it.
type storeEvent struct {
	op, name string            // open (for writing), write (closed), copy, rename, remove
	visible  map[string]string // every object directly in dir → sha256 of its bytes
}

// renamer is an objectStore with a native rename, as GCS has.
type renamer struct{ *objectStore }

func (r renamer) Rename(ctx context.Context, from, to string) error {
	if err := r.mem().(Renamer).Rename(ctx, r.key(from), r.key(to)); err != nil {
		return err
	}
	r.record("rename", to)
	return nil
}

// watch starts a new record of the changes, snapshotting dir after each.
func (s *objectStore) watch(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dir, s.events = dir, nil
}

// recorded returns the changes since watch.
func (s *objectStore) recorded() []storeEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]storeEvent(nil), s.events...)
}

func (s *objectStore) mem() FS { return memfs.New(context.Background()) }

func (s *objectStore) key(name string) string {
	return "memfs://" + s.scheme + "/" + strings.TrimPrefix(name, s.scheme+"://")
}

func (s *objectStore) name(key string) string {
	return s.scheme + "://" + strings.TrimPrefix(key, "memfs://"+s.scheme+"/")
}

func (s *objectStore) record(op, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		return
	}
	ctx := context.Background()
	keys, _ := s.mem().List(ctx, s.key(Join(s.dir, "*")))
	visible := map[string]string{}
	for _, k := range keys {
		r, err := s.mem().OpenRead(ctx, k)
		if err != nil {
			continue
		}
		h := sha256.New()
		io.Copy(h, r)
		r.Close()
		visible[s.name(k)] = hex.EncodeToString(h.Sum(nil))
	}
	s.events = append(s.events, storeEvent{op: op, name: name, visible: visible})
}

func (s *objectStore) Close() error { return nil }

func (s *objectStore) List(ctx context.Context, glob string) ([]string, error) {
	keys, err := s.mem().List(ctx, s.key(glob))
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = s.name(k)
	}
	return names, err
}

func (s *objectStore) OpenRead(ctx context.Context, name string) (io.ReadCloser, error) {
	return s.mem().OpenRead(ctx, s.key(name))
}

func (s *objectStore) OpenWrite(ctx context.Context, name string) (io.WriteCloser, error) {
	w, err := s.mem().OpenWrite(ctx, s.key(name))
	if err != nil {
		return nil, err
	}
	s.record("open", name)
	return &recordingWriter{WriteCloser: w, store: s, name: name}, nil
}

func (s *objectStore) Size(ctx context.Context, name string) (int64, error) {
	return s.mem().Size(ctx, s.key(name))
}

func (s *objectStore) Remove(ctx context.Context, name string) error {
	if err := s.mem().(Remover).Remove(ctx, s.key(name)); err != nil {
		return err
	}
	s.record("remove", name)
	return nil
}

func (s *objectStore) Copy(ctx context.Context, from, to string) error {
	if err := s.mem().(filesystem.Copier).Copy(ctx, s.key(from), s.key(to)); err != nil {
		return err
	}
	s.record("copy", to)
	return nil
}

type recordingWriter struct {
	io.WriteCloser
	store *objectStore
	name  string
}

func (w *recordingWriter) Close() error {
	if err := w.WriteCloser.Close(); err != nil {
		return err
	}
	w.store.record("write", w.name)
	return nil
}

// On an object store, a shard is visible only with its complete final bytes,
// and only from the commit on; the manifest appears (or changes) in one move
// of a complete hidden object, after every shard it lists; until then a
// rerun leaves the previous dataset (manifest and shards) exactly as it was.
// A temporary file left by a failed bundle attempt is never published and is
// removed. A rerun with fewer shards leaves none of the earlier run's objects
// behind, and a third run goes back to the plain shard names. The shards'
// bytes are those of the same rows written to local disk.
func TestObjectStoreCommitIsAtomic(t *testing.T) {
	ctx := context.Background()
	rows := testRows(300)
	local := dataset(t.TempDir(), 4)
	writeDataset(t, local, rows, 64)
	want := shardBytes(t, local.Dir)

	for _, tc := range []struct {
		s     *objectStore
		store FS // what filesystem.New returns for s.scheme
	}{{renamingStore, renamer{renamingStore}}, {copyingStore, copyingStore}} {
		s, store := tc.s, tc.store
		t.Run(s.scheme, func(t *testing.T) {
			c := dataset("", 4)
			c.Dir = s.scheme + "://bucket/out/denoise"
			orphan := Join(c.StagingDir(), "tmp-00000-failed-attempt-0.rows.zst")
			if err := WriteFile(ctx, store, orphan, []byte("what a killed bundle attempt wrote")); err != nil {
				t.Fatal(err)
			}

			s.watch(c.Dir)
			m := writeDataset(t, c, rows, 64)
			checkPublishedAtomically(t, store, c, m, nil, s.recorded())
			for _, sh := range append(m.Shards, ShardEntry{Path: ManifestName}) {
				got := readObject(t, store, Join(c.Dir, sh.Path))
				if !bytes.Equal(got, want[sh.Path]) {
					t.Errorf("%s: %d bytes on the object store, %d on local disk: they differ", sh.Path, len(got), len(want[sh.Path]))
				}
			}
			checkClean(t, store, c)

			// Reruns into the same folder, with 2 shards instead of 4 (the
			// plain names are free), then 2 again (they are the old
			// manifest's: the run's own names), then 2 again (free again).
			// The old manifest stays until the new one replaces it.
			for _, run := range []struct {
				id     string
				shards int
				alt    bool
			}{{"r2", 2, false}, {"r3", 2, true}, {"r4", 2, false}} {
				prev := m
				c.NumShards, c.RunID = run.shards, run.id
				s.watch(c.Dir)
				m = writeDataset(t, c, rows, 64)
				checkPublishedAtomically(t, store, c, m, prev, s.recorded())
				checkClean(t, store, c)
				if got := strings.Contains(m.Shards[0].Path, run.id); got != run.alt {
					t.Errorf("run %s named its shards %s, %s", run.id, m.Shards[0].Path, m.Shards[1].Path)
				}
			}
		})
	}
}

func readObject(t *testing.T, fs FS, name string) []byte {
	t.Helper()
	r, err := fs.OpenRead(context.Background(), name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func sumOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// checkPublishedAtomically checks the changes a run made to c's folder; prev
// is the manifest committed before the run, or nil.
func checkPublishedAtomically(t *testing.T, store FS, c Commit, m, prev *Manifest, events []storeEvent) {
	t.Helper()
	final := map[string]string{} // shard name → sha256 the manifest lists
	for _, sh := range m.Shards {
		final[Join(c.Dir, sh.Path)] = sh.SHA256
	}
	old := map[string]string{}
	var oldManifest string
	if prev != nil {
		for _, sh := range prev.Shards {
			old[Join(c.Dir, sh.Path)] = sh.SHA256
		}
		oldManifest = events[0].visible[c.ManifestPath()]
	}
	newManifest := sumOf(readObject(t, store, c.ManifestPath()))
	isShardName := func(name string) bool {
		base, ok := strings.CutPrefix(name, c.Dir+"/")
		matched, _ := path.Match(c.Name+"-*-of-*.parquet", base)
		return ok && matched
	}
	if len(events) == 0 {
		t.Fatal("the run changed nothing on the store")
	}
	// The manifest appears (or changes) by a move of a complete hidden
	// object (rename, or copy then remove).
	appeared := -1
	for i, e := range events {
		if e.visible[c.ManifestPath()] == newManifest {
			appeared = i
			break
		}
	}
	if appeared < 0 {
		t.Fatal("the manifest never appeared")
	}
	if e := events[appeared]; e.name != c.ManifestPath() || (e.op != "rename" && e.op != "copy") {
		t.Errorf("the manifest appeared by %s %s; want it moved into place", e.op, e.name)
	}
	writes, lastStaged, firstShard := 0, -1, -1
	for i, e := range events {
		if e.op == "write" && strings.HasSuffix(e.name, ".staged") {
			lastStaged = i
		}
		if firstShard < 0 {
			for name := range final {
				if _, ok := e.visible[name]; ok && old[name] == "" {
					firstShard = i
				}
			}
		}
		if e.op == "open" {
			writes++
			if isShardName(e.name) || e.name == c.ManifestPath() {
				t.Errorf("event %d: %s opened for writing under its final name", i, e.name)
			}
			base, _ := strings.CutPrefix(e.name, c.Dir+"/")
			if !strings.HasPrefix(e.name, c.RunDir()+"/") && !strings.HasPrefix(base, ".") {
				t.Errorf("event %d: %s written outside the run's folder under a name readers see", i, e.name)
			}
		}
		for name, sum := range e.visible {
			if want, listed := final[name]; listed && sum != want && i >= appeared {
				t.Errorf("event %d (%s %s): %s is visible with bytes other than its final ones", i, e.op, path.Base(e.name), path.Base(name))
			}
		}
		if i < appeared && prev != nil {
			// Until the new manifest lands, the old dataset is intact.
			if e.visible[c.ManifestPath()] != oldManifest {
				t.Errorf("event %d (%s %s): the old manifest changed before the new one was complete", i, e.op, e.name)
			}
			for name, sum := range old {
				if e.visible[name] != sum {
					t.Errorf("event %d (%s %s): the old dataset's %s changed before the new manifest", i, e.op, path.Base(e.name), path.Base(name))
				}
			}
		}
	}
	if firstShard <= lastStaged {
		t.Errorf("a shard appeared (change %d) before every shard was staged (change %d)", firstShard, lastStaged)
	}
	// After the manifest: only removals (its hidden source, the old shards,
	// the run's staging), and the manifest stays.
	for i, e := range events[appeared+1:] {
		if e.op != "remove" || final[e.name] != "" || e.name == c.ManifestPath() {
			t.Errorf("event %d (%s %s) after the manifest appeared: only removals of what it does not list may follow", appeared+1+i, e.op, e.name)
		}
		if e.visible[c.ManifestPath()] != newManifest {
			t.Errorf("event %d: the manifest changed or disappeared", appeared+1+i)
		}
	}
	var shards []string
	for name, sum := range events[appeared].visible {
		if final[name] != "" {
			shards = append(shards, path.Base(name))
			if final[name] != sum {
				t.Errorf("when the manifest appeared, %s did not hold its bytes", path.Base(name))
			}
		}
	}
	if len(shards) != len(final) {
		t.Errorf("when the manifest appeared, the folder held shards %v; the manifest lists %d", shards, len(final))
	}
	t.Logf("%d changes: %d objects written, all in the run's folder or hidden; %d shards staged by change %d, published from change %d; manifest at change %d",
		len(events), writes, len(final), lastStaged, firstShard, appeared)
}

// checkClean checks that c's folder holds the manifest, its shards and
// nothing else: no staging objects (object stores have no folders, so
// Verify's listing does not reach them) and no stale shards.
func checkClean(t *testing.T, fs FS, c Commit) {
	t.Helper()
	ctx := context.Background()
	left, err := fs.List(ctx, Join(c.RunDir(), "*/*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("staging objects left behind: %v", left)
	}
	_, problems, err := Verify(ctx, c.Dir, denoiseFormat.Schema())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}
