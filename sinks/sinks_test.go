package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/parquet-go/parquet-go"
)

var denoiseFormat = FormatOf[DenoiseRow]()

func testRows(n int) []DenoiseRow {
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([]DenoiseRow, 0, n)
	for i := 0; i < n; i++ {
		payload := make([]byte, 100+r.IntN(200))
		for j := range payload {
			payload[j] = byte(r.IntN(256))
		}
		rows = append(rows, DenoiseRow{Key: fmt.Sprintf("img/%04d.jpg", i), Variant: int32(i % 2), Split: "train",
			Width: 8, Height: 8, Encoding: "png", Input: payload, Target: payload[:50], Noise: "gaussian", NoiseLevel: float32(i)})
	}
	return rows
}

func dataset(dir string, shards int) Commit {
	return Commit{
		Dataset: Dataset{Name: "denoise", Format: denoiseFormat.Name(), Dir: filepath.Join(dir, "denoise"), RunID: "r1",
			NumShards: shards, RowGroupRows: 16, MaxBufferBytes: 4096},
		Task: "denoise", Seed: 7, ConfigHash: "abc", Config: json.RawMessage(`{"x":1}`),
	}
}

// writeDataset writes rows through Writers, one per bundle of bundleSize rows
// taken in the given order, then merges and commits as Finalize does.
func writeDataset(t *testing.T, c Commit, rows []DenoiseRow, bundleSize int) *Manifest {
	t.Helper()
	ctx := context.Background()
	var temps []TempFile
	for start := 0; start < len(rows); start += bundleSize {
		w, err := NewWriter(ctx, c.Dataset)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows[start:min(start+bundleSize, len(rows))] {
			if err := w.Add(ctx, r.Key, r, len(r.Input)); err != nil {
				t.Fatal(err)
			}
			w.Count("noise/"+r.Noise, 1)
		}
		tf, err := w.Flush(ctx)
		if err != nil {
			t.Fatal(err)
		}
		temps = append(temps, tf...)
	}
	return commit(t, c, temps, int64(len(rows)))
}

func commit(t *testing.T, c Commit, temps []TempFile, inputs int64) *Manifest {
	t.Helper()
	ctx := context.Background()
	staged, err := stage(t, c, temps)
	if err != nil {
		t.Fatal(err)
	}
	path, err := Publish(ctx, c, iterOf(staged), map[string]int64{OutcomeInput: inputs, OutcomeLabeled: inputs})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(ctx, c.Dir)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return m
}

func shardBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

func TestShardsIndependentOfBundling(t *testing.T) {
	rows := testRows(300)
	var ref map[string][]byte
	for i, bundle := range []int{300, 1, 7, 64} {
		dir := t.TempDir()
		c := dataset(dir, 4)
		shuffled := append([]DenoiseRow(nil), rows...)
		rand.New(rand.NewPCG(uint64(i), 9)).Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		m := writeDataset(t, c, shuffled, bundle)
		if m.Rows != 300 || len(m.Shards) != 4 || m.Stats["noise/gaussian"] != 300 {
			t.Fatalf("bundle %d: manifest rows %d shards %d stats %v", bundle, m.Rows, len(m.Shards), m.Stats)
		}
		got := shardBytes(t, c.Dir)
		if _, ok := got[".staging-r1"]; ok {
			t.Errorf("bundle %d: staging folder left behind", bundle)
		}
		if ref == nil {
			ref = got
			continue
		}
		if len(got) != len(ref) {
			t.Fatalf("bundle %d: %d files, want %d", bundle, len(got), len(ref))
		}
		for name, b := range ref {
			if name == ManifestName {
				continue
			}
			if !bytes.Equal(got[name], b) {
				t.Errorf("bundle size %d: %s differs from bundle size 300", bundle, name)
			}
		}
	}
}

func TestShardContents(t *testing.T) {
	dir := t.TempDir()
	c := dataset(dir, 3)
	rows := testRows(100)
	m := writeDataset(t, c, rows, 13)
	var keys []string
	for _, sh := range m.Shards {
		f, err := os.Open(filepath.Join(c.Dir, sh.Path))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := f.Stat()
		if info.Size() != sh.Bytes {
			t.Errorf("%s: %d bytes, manifest says %d", sh.Path, info.Size(), sh.Bytes)
		}
		pf, err := parquet.OpenFile(f, info.Size())
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{"pretext.task": "denoise", "pretext.seed": "7", "pretext.config_hash": "abc", "pretext.schema_version": SchemaVersion} {
			if got, _ := pf.Lookup(k); got != want {
				t.Errorf("%s footer %s = %q, want %q", sh.Path, k, got, want)
			}
		}
		r := parquet.NewGenericReader[DenoiseRow](f)
		buf := make([]DenoiseRow, 1000)
		n, _ := r.Read(buf)
		if int64(n) != sh.Rows {
			t.Errorf("%s: read %d rows, manifest says %d", sh.Path, n, sh.Rows)
		}
		for i := 0; i < n; i++ {
			keys = append(keys, buf[i].Key)
			if i > 0 && !less(buf[i-1], buf[i]) {
				t.Errorf("%s: rows out of order at %d", sh.Path, i)
			}
			if PartitionOf(buf[i].Key, 3) != sh.partition(t) {
				t.Errorf("%s: key %s in the wrong shard", sh.Path, buf[i].Key)
			}
		}
		f.Close()
	}
	sort.Strings(keys)
	if len(keys) != 100 {
		t.Fatalf("read %d rows back, wrote 100", len(keys))
	}
}

func (s ShardEntry) partition(t *testing.T) int {
	var name string
	var k, n int
	if _, err := fmt.Sscanf(s.Path, "denoise-%05d-of-%05d.parquet", &k, &n); err != nil {
		t.Fatalf("shard name %q: %v (%s)", s.Path, err, name)
	}
	return k
}

// A retried or duplicated bundle attempt leaves temporary files whose names
// never reach Finalize: they must not be published and must not survive.
func TestOrphanTempFilesNeverPublished(t *testing.T) {
	dir := t.TempDir()
	c := dataset(dir, 2)
	ctx := context.Background()
	rows := testRows(40)
	// The failed attempt writes its temporary files, then dies before emitting.
	w, _ := NewWriter(ctx, c.Dataset)
	for _, r := range rows {
		r.Noise = "from-failed-attempt"
		w.Add(ctx, r.Key, r, 10)
	}
	orphans, err := w.Flush(ctx)
	if err != nil || len(orphans) == 0 {
		t.Fatalf("failed attempt wrote %d files, err %v", len(orphans), err)
	}
	m := writeDataset(t, c, rows, 40)
	if m.Rows != 40 {
		t.Fatalf("rows %d, want 40", m.Rows)
	}
	for _, o := range orphans {
		if _, err := os.Stat(o.Path); !os.IsNotExist(err) {
			t.Errorf("orphan %s survived the commit", o.Path)
		}
	}
	for _, sh := range m.Shards {
		f, _ := os.Open(filepath.Join(c.Dir, sh.Path))
		r := parquet.NewGenericReader[DenoiseRow](f)
		buf := make([]DenoiseRow, 100)
		n, _ := r.Read(buf)
		for _, row := range buf[:n] {
			if row.Noise == "from-failed-attempt" {
				t.Fatalf("a row of the failed attempt was published")
			}
		}
		f.Close()
	}
}

// A rerun with fewer shards removes the earlier run's extra shards.
func TestRerunRemovesStaleShards(t *testing.T) {
	dir := t.TempDir()
	writeDataset(t, dataset(dir, 5), testRows(50), 50)
	c := dataset(dir, 2)
	c.RunID = "r2"
	writeDataset(t, c, testRows(50), 50)
	got := shardBytes(t, c.Dir)
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{ManifestName, "denoise-00000-of-00002.parquet", "denoise-00001-of-00002.parquet"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("files after rerun: %v, want %v", names, want)
	}
}

func TestCommitRefusesLostInputs(t *testing.T) {
	dir := t.TempDir()
	c := dataset(dir, 1)
	_, err := Publish(context.Background(), c, func(*StagedShard) bool { return false },
		map[string]int64{OutcomeInput: 3, OutcomeLabeled: 1, OutcomeDead("decode", "x"): 1})
	if err == nil {
		t.Fatal("commit accepted 3 inputs with 2 outcomes")
	}
	if _, err := ReadManifest(context.Background(), c.Dir); err == nil {
		t.Fatal("a manifest was written")
	}
}

func TestReadManifestRefusesIncomplete(t *testing.T) {
	_, err := ReadManifest(context.Background(), t.TempDir())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("incomplete")) {
		t.Fatalf("got %v, want an incomplete-dataset error", err)
	}
}

func TestCountsCheck(t *testing.T) {
	c := CountsOf(map[string]int64{OutcomeInput: 5, OutcomeLabeled: 2, OutcomeFiltered("duplicate"): 1, OutcomeDead("decode", "pixel_limit"): 2})
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	if c.Filtered["duplicate"] != 1 || c.Dead["decode/pixel_limit"] != 2 || c.DeadTotal() != 2 {
		t.Fatalf("counts %+v", c)
	}
}

var _ = filesystem.New

func TestVerify(t *testing.T) {
	ctx := context.Background()
	schema := denoiseFormat.Schema()
	fresh := func() Commit {
		c := dataset(t.TempDir(), 3)
		writeDataset(t, c, testRows(60), 60)
		return c
	}
	c := fresh()
	if _, problems, err := Verify(ctx, c.Dir, schema); err != nil || len(problems) != 0 {
		t.Fatalf("good dataset: %v %v", problems, err)
	}
	if _, problems, _ := Verify(ctx, c.Dir, DeadLetterFormat.Schema()); len(problems) == 0 {
		t.Error("a schema mismatch went unnoticed")
	}
	for name, damage := range map[string]func(c Commit){
		"shard removed": func(c Commit) { os.Remove(c.ShardName(1)) },
		"byte flipped": func(c Commit) {
			b, _ := os.ReadFile(c.ShardName(0))
			b[len(b)/2] ^= 0xff
			os.WriteFile(c.ShardName(0), b, 0o644)
		},
		"count changed": func(c Commit) {
			b, _ := os.ReadFile(c.ManifestPath())
			os.WriteFile(c.ManifestPath(), bytes.Replace(b, []byte(`"labeled": 60`), []byte(`"labeled": 59`), 1), 0o644)
		},
		"stray shard": func(c Commit) {
			os.WriteFile(filepath.Join(c.Dir, "denoise-00009-of-00010.parquet"), []byte("x"), 0o644)
		},
		"staging left":  func(c Commit) { os.MkdirAll(filepath.Join(c.Dir, ".staging-x"), 0o755) },
		"manifest gone": func(c Commit) { os.Remove(c.ManifestPath()) },
	} {
		c := fresh()
		damage(c)
		_, problems, err := Verify(ctx, c.Dir, schema)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if len(problems) == 0 {
			t.Errorf("%s: not detected", name)
		}
		t.Logf("%s: %v", name, problems)
	}
}

// Many temporary files per partition are merged in passes with the same result.
func TestManyTempFilesMergeInPasses(t *testing.T) {
	rows := testRows(200)
	one := dataset(t.TempDir(), 2)
	writeDataset(t, one, rows, 200)
	many := dataset(t.TempDir(), 2)
	m := writeDataset(t, many, rows, 1) // 200 bundles: ~100 files per partition, > MaxFanIn
	if m.Rows != 200 {
		t.Fatalf("rows %d", m.Rows)
	}
	for k := 0; k < 2; k++ {
		a, _ := os.ReadFile(one.ShardName(k))
		b, _ := os.ReadFile(many.ShardName(k))
		if !bytes.Equal(a, b) {
			t.Errorf("shard %d differs when merged in passes", k)
		}
	}
	if _, err := os.Stat(many.StagingDir()); !os.IsNotExist(err) {
		t.Error("intermediate files left behind")
	}
}

// FuzzDecodeManifest: a damaged manifest is refused with an error, never a
// panic, and one that decodes re-encodes.
func FuzzDecodeManifest(f *testing.F) {
	m := &Manifest{Task: "denoise", SchemaVersion: SchemaVersion, Seed: 1, Inputs: 3, Labeled: 2, DeadLetters: 1,
		Shards: []ShardEntry{{Path: "denoise-00000-of-00001.parquet", Rows: 2, Bytes: 10, SHA256: "00"}}}
	good, err := m.encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"task": 3}`))
	f.Add([]byte(`{"shards": [null]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			return
		}
		if _, err := m.encode(); err != nil {
			t.Fatalf("decoded but does not encode: %v", err)
		}
	})
}

// A partition with a few files more than the fan-in merges only the files
// it must into one intermediate, so most rows are written once.
func TestMergePassesRewriteFewRows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs, err := NewFS(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	fanIn := fanInOf[DenoiseRow]()
	if fanIn != MediaFanIn || fanInOf[MLMRow]() != MaxFanIn {
		t.Fatalf("fan-in %d for images, %d for text", fanIn, fanInOf[MLMRow]())
	}
	n := fanIn + fanIn/2
	rows := testRows(3 * n)
	var inputs []string
	for i := 0; i < n; i++ {
		p := &partition[DenoiseRow]{rows: []DenoiseRow{rows[i], rows[n+i], rows[2*n+i]}}
		name := filepath.Join(dir, fmt.Sprintf("in-%03d.rows.s2", i))
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.WriteSorted(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		inputs = append(inputs, name)
	}
	var got []string
	total, err := MergeRows(ctx, fs, inputs, func(r DenoiseRow) error { got = append(got, r.Key); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if total != int64(len(rows)) || !sort.StringsAreSorted(got) {
		t.Fatalf("merged %d rows (want %d), sorted %v", total, len(rows), sort.StringsAreSorted(got))
	}
	passes, _ := filepath.Glob(filepath.Join(dir, "*.pass*"))
	if len(passes) != 1 {
		t.Fatalf("intermediate files %v, want one", passes)
	}
	rewritten, err := MergeRows(ctx, fs, passes, func(DenoiseRow) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(3 * (n - fanIn + 1)); rewritten != want {
		t.Errorf("the intermediate holds %d rows, want %d (%d files of 3)", rewritten, want, n-fanIn+1)
	}
}
