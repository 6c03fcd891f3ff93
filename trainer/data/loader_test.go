package data

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	_ "github.com/pretext-dev/pretext/transforms/audio"
	_ "github.com/pretext-dev/pretext/transforms/av"
	_ "github.com/pretext-dev/pretext/transforms/text"
	_ "github.com/pretext-dev/pretext/transforms/vision"
)

func open(t testing.TB, dir string, opts Options) *Loader {
	t.Helper()
	l, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// collect returns up to max batches (all when max < 0) and the state after
// them.
func collect(t testing.TB, l *Loader, max int) ([]Batch, State) {
	t.Helper()
	var out []Batch
	for max < 0 || len(out) < max {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out, l.State()
}

func keysOf(bs []Batch) []string {
	var keys []string
	for _, b := range bs {
		keys = append(keys, b.RowKeys()...)
	}
	return keys
}

func options(batch, buffer, epochs int) Options {
	o := DefaultOptions()
	o.BatchSize, o.ShuffleBuffer, o.Epochs = batch, buffer, epochs
	o.Workers = 2
	return o
}

// The loader's task names are the tasks the pipelines register, with the row
// types they write.
func TestTasksAreRegistered(t *testing.T) {
	formats := map[string]sinks.Format{
		"colorize": sinks.FormatOf[sinks.ColorizeRow](), "denoise": sinks.FormatOf[sinks.DenoiseRow](),
		"inpaint": sinks.FormatOf[sinks.InpaintRow](), "mlm_nsp": sinks.FormatOf[sinks.MLMRow](),
		"audio_mask": sinks.FormatOf[sinks.AudioMaskRow](), "av_correspond": sinks.FormatOf[sinks.AVRow](),
	}
	if got := Tasks(); len(got) != len(formats) {
		t.Fatalf("loader reads %v", got)
	}
	for _, name := range Tasks() {
		task, ok := transforms.Lookup(name)
		if !ok {
			t.Errorf("task %s is not registered by any pipeline", name)
			continue
		}
		if task.Format.Name() != formats[name].Name() {
			t.Errorf("task %s writes %s, the loader reads %s", name, task.Format.Name(), formats[name].Name())
		}
	}
}

// A second or incomplete registration is a programming error: Register
// panics.
func TestRegisterRefuses(t *testing.T) {
	ok := Rows[sinks.DenoiseRow]{
		Key: func(r *sinks.DenoiseRow) string { return r.Key },
		Batcher: func(Info, Options) (Batcher[sinks.DenoiseRow], error) {
			return func([]sinks.DenoiseRow, int) (Batch, error) { return nil, nil }, nil
		},
	}
	for name, reg := range map[string]func(){
		"twice":      func() { Register("denoise", ok) },
		"no key":     func() { Register("test_nokey", Rows[sinks.DenoiseRow]{Batcher: ok.Batcher}) },
		"no batcher": func() { Register("test_nobatcher", Rows[sinks.DenoiseRow]{Key: ok.Key}) },
		"no name":    func() { Register("", ok) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			reg()
		}()
	}
	if slices.ContainsFunc(Tasks(), func(n string) bool { return strings.HasPrefix(n, "test_") }) {
		t.Errorf("a refused registration is listed: %v", Tasks())
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{Task: "segment", Split: "holdout", BatchSize: 0, ShuffleBuffer: -1, Epochs: -1, Limit: -2,
		Workers: -1, MaxSeqLen: -1, MaxPredictions: -1, Masking: "sometimes", MaskedLMProb: 2, AudioFrames: -1,
		Resume: &State{Epoch: -1}}
	err := o.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, field := range []string{"Task", "Split", "BatchSize", "ShuffleBuffer", "Epochs", "Limit", "Workers",
		"MaxSeqLen", "MaxPredictions", "Masking", "MaskedLMProb", "AudioFrames", "Resume"} {
		if !strings.Contains(err.Error(), field+":") {
			t.Errorf("error does not name %s:\n%v", field, err)
		}
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// Every epoch gives every row once; the order is a function of the seed and
// the epoch; ShuffleBuffer 0 gives the manifest's order.
func TestOrder(t *testing.T) {
	dir := t.TempDir()
	shards := textDataset(t, dir, "static", 40, 23, 17, 30, 1)
	var want []string
	for _, rows := range shards {
		for _, r := range rows {
			want = append(want, r.Key)
		}
	}

	inOrder, _ := collect(t, open(t, dir, options(8, 0, 1)), -1)
	if got := keysOf(inOrder); !slices.Equal(got, want) {
		t.Fatalf("ShuffleBuffer 0: rows out of manifest order")
	}
	if n := inOrder[len(inOrder)-1].Len(); n != 71%8 {
		t.Errorf("last batch has %d rows, want %d", n, 71%8)
	}

	a, _ := collect(t, open(t, dir, options(8, 16, 3)), -1)
	b, _ := collect(t, open(t, dir, options(8, 16, 3)), -1)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different batches")
	}
	o := options(8, 16, 3)
	o.Seed++
	c, _ := collect(t, open(t, dir, o), -1)
	if slices.Equal(keysOf(a), keysOf(c)) {
		t.Error("another seed gives the same order")
	}
	keys := keysOf(a)
	n := len(want)
	for e := 0; e < 3; e++ {
		epoch := slices.Clone(keys[e*n : (e+1)*n])
		if e > 0 && slices.Equal(epoch, keys[:n]) {
			t.Errorf("epoch %d has epoch 0's order", e)
		}
		slices.Sort(epoch)
		if !slices.Equal(epoch, want) {
			t.Fatalf("epoch %d is not a permutation of the rows", e)
		}
	}
	if len(a) != 3*9 {
		t.Errorf("%d batches for 3 epochs of 71 rows in 8s, want 27 (batches do not span epochs)", len(a))
	}

	o = options(8, 16, 1)
	o.DropRemainder = true
	d, _ := collect(t, open(t, dir, o), -1)
	if len(d) != 8 || d[7].Len() != 8 {
		t.Errorf("DropRemainder: %d batches", len(d))
	}
}

// The shuffle buffer mixes rows across shards, and its draws replayed on
// positions only give the same buffer.
func TestShufflerReplay(t *testing.T) {
	const n, size = 1000, 64
	live := newShuffler[int64](n, size, 3, 1)
	var order []int64
	for i := 0; ; i++ {
		if i == 500 {
			sim := replay(n, size, 3, 1, 500)
			if !slices.Equal(sim.buf, live.buf) || sim.next != live.next || sim.draws != live.draws {
				t.Fatal("replay differs from the live buffer")
			}
			for j, pos := range live.buf {
				if live.vals[j] != pos {
					t.Fatal("a slot's value is not its position's")
				}
			}
		}
		pos, v, ok, err := live.draw(func(p int64) (int64, error) { return p, nil })
		if err != nil || !ok {
			break
		}
		if v != pos {
			t.Fatal("value does not follow its position")
		}
		order = append(order, pos)
	}
	if len(order) != n {
		t.Fatalf("%d draws of %d", len(order), n)
	}
	var far int
	for i, p := range order {
		if d := int(p) - i; d > size || d < -size {
			far++
		}
	}
	if far == 0 {
		t.Error("no row moved further than the buffer's size")
	}
	slices.Sort(order)
	for i, p := range order {
		if p != int64(i) {
			t.Fatal("draws are not a permutation")
		}
	}
}

// A loader resumed from State gives the batches the uninterrupted one gives.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	denoiseDataset(t, dir, 8, 8, "png", 13, 20, 7, 11)
	for _, tc := range []struct {
		name string
		opts func(*Options)
	}{
		{"plain", func(*Options) {}},
		{"split", func(o *Options) { o.Split = "val" }},
		{"limit", func(o *Options) { o.Limit = 29 }},
		{"no shuffle", func(o *Options) { o.ShuffleBuffer = 0 }},
		{"buffer larger than the data", func(o *Options) { o.ShuffleBuffer = 1000 }},
		{"drop remainder", func(o *Options) { o.DropRemainder = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options(5, 9, 3)
			tc.opts(&o)
			all, end := collect(t, open(t, dir, o), -1)
			if len(all) < 4 {
				t.Fatalf("only %d batches", len(all))
			}
			if end.Epoch != 3 || end.Draws != 0 {
				t.Errorf("state at the end: %+v", end)
			}
			r := o
			r.Resume = &end
			if rest, _ := collect(t, open(t, dir, r), -1); len(rest) != 0 {
				t.Errorf("resumed at the end: %d batches", len(rest))
			}
			for _, k := range []int{0, 1, 2, len(all) / 3, len(all)/3 + 1, len(all) / 2, len(all) - 1, len(all)} {
				first, st := collect(t, open(t, dir, o), k)
				raw, err := json.Marshal(st)
				if err != nil {
					t.Fatal(err)
				}
				var back State
				if err := json.Unmarshal(raw, &back); err != nil {
					t.Fatal(err)
				}
				r := o
				r.Resume = &back
				l := open(t, dir, r)
				if got := l.State(); got != back {
					t.Errorf("after %d batches: resumed loader's state %+v, want %+v", k, got, back)
				}
				rest, _ := collect(t, l, -1)
				if !reflect.DeepEqual(append(first, rest...), all) {
					t.Fatalf("resumed after %d batches (state %s): batches differ from an uninterrupted run", k, raw)
				}
			}
		})
	}
}

func TestResumeRefusesAnotherOrder(t *testing.T) {
	dir := t.TempDir()
	denoiseDataset(t, dir, 8, 8, "raw", 10, 10)
	o := options(4, 8, 2)
	_, st := collect(t, open(t, dir, o), 3)
	o.Seed++
	o.Resume = &st
	if _, err := Open(context.Background(), dir, o); err == nil || !strings.Contains(err.Error(), "Options.Resume") {
		t.Errorf("resuming with another seed: %v", err)
	}
	o.Seed--
	bad := st
	bad.Draws = 1000
	o.Resume = &bad
	if _, err := Open(context.Background(), dir, o); err == nil || !strings.Contains(err.Error(), "draw 1000") {
		t.Errorf("resuming past the epoch's end: %v", err)
	}
}

func TestSplitAndLimit(t *testing.T) {
	dir := t.TempDir()
	shards := denoiseDataset(t, dir, 8, 8, "raw", 12, 9, 14)
	var all []sinks.DenoiseRow
	for _, s := range shards {
		all = append(all, s...)
	}
	for _, split := range []string{"train", "val", "test"} {
		o := options(4, 6, 1)
		o.Split = split
		got := keysOf(first(collect(t, open(t, dir, o), -1)))
		var want []string
		for _, r := range all {
			if r.Split == split {
				want = append(want, r.Key)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("split %s: got %v, want %v", split, got, want)
		}
	}
	o := options(4, 6, 2)
	o.Limit = 15 // all of shard 0, 3 rows of shard 1
	got := keysOf(first(collect(t, open(t, dir, o), -1)))
	if len(got) != 30 {
		t.Fatalf("Limit 15, 2 epochs: %d rows", len(got))
	}
	for _, k := range got {
		if i := slices.IndexFunc(all, func(r sinks.DenoiseRow) bool { return r.Key == k }); i >= 15 {
			t.Errorf("row %s is not among the first 15", k)
		}
	}

	// A split without rows is an error, not an endless loop.
	o = options(4, 6, 0)
	o.Limit, o.Split = 1, "val"
	if _, err := open(t, dir, o).Next(); err == nil || !strings.Contains(err.Error(), "no batch") {
		t.Errorf("split without rows: %v", err)
	}
	// Text rows have no split column.
	tdir := t.TempDir()
	textDataset(t, tdir, "static", 30, 5)
	o = options(4, 6, 1)
	o.Split = "train"
	if _, err := Open(context.Background(), tdir, o); err == nil || !strings.Contains(err.Error(), "no split column") {
		t.Errorf("split of text rows: %v", err)
	}
}

func first[A, B any](a A, _ B) A { return a }

func TestWrongTask(t *testing.T) {
	dir := t.TempDir()
	denoiseDataset(t, dir, 8, 8, "raw", 4)
	o := options(2, 0, 1)
	o.Task = "mlm_nsp"
	_, err := Open(context.Background(), dir, o)
	if err == nil || !strings.HasSuffix(err.Error(), "shards of task denoise, the trainer expects mlm_nsp") {
		t.Errorf("got %v", err)
	}

	// A shard of another task inside a dataset: named, with its task.
	mixed := t.TempDir()
	m := writeDataset(t, mixed, "denoise", [][]sinks.DenoiseRow{first(denoiseRows(t, 3, 8, 8, "raw", 0))}, nil)
	name := filepath.Join(mixed, m.Shards[0].Path)
	fake := *m
	fake.Task = "mlm_nsp"
	writeShard(t, name, "mlm_nsp", &fake, mlmRows(3, 30, 0), 16)
	m.Shards[0].Bytes, m.Shards[0].SHA256 = fileSum(t, name)
	writeManifest(t, mixed, m)
	_, err = Open(context.Background(), mixed, options(2, 0, 1))
	if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), `task "mlm_nsp"`) {
		t.Errorf("shard of another task: %v", err)
	}
}

func TestIncompleteOrEmpty(t *testing.T) {
	empty := t.TempDir()
	_, err := Open(context.Background(), empty, options(2, 0, 1))
	if !errors.Is(err, sinks.ErrIncomplete) {
		t.Errorf("empty folder: %v", err)
	}
	_, err = Open(context.Background(), filepath.Join(empty, "missing"), options(2, 0, 1))
	if !errors.Is(err, sinks.ErrIncomplete) {
		t.Errorf("missing folder: %v", err)
	}

	// Shards without a manifest: a run that did not finish.
	out := t.TempDir()
	dir := filepath.Join(out, "denoise")
	denoiseDataset(t, dir, 8, 8, "raw", 4)
	if err := os.Remove(filepath.Join(dir, sinks.ManifestName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dir, options(2, 0, 1)); !errors.Is(err, sinks.ErrIncomplete) {
		t.Errorf("no manifest: %v", err)
	}

	// A pipeline's output folder rather than a dataset: the error names the datasets.
	textDataset(t, filepath.Join(out, "mlm_nsp"), "static", 30, 3)
	if _, err := Open(context.Background(), out, options(2, 0, 1)); !errors.Is(err, sinks.ErrIncomplete) || !strings.Contains(err.Error(), "mlm_nsp: pass one") {
		t.Errorf("output folder: %v", err)
	}

	// A committed dataset without rows.
	none := t.TempDir()
	writeDataset[sinks.DenoiseRow](t, none, "denoise", nil, nil)
	if _, err := Open(context.Background(), none, options(2, 0, 1)); err == nil || !strings.Contains(err.Error(), "no rows") {
		t.Errorf("no rows: %v", err)
	}
}

func TestTruncatedOrCorruptShard(t *testing.T) {
	setup := func(t *testing.T) (string, string, *sinks.Manifest) {
		dir := t.TempDir()
		denoiseDataset(t, dir, 16, 16, "png", 40, 40)
		m, err := sinks.ReadManifest(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		return dir, filepath.Join(dir, m.Shards[1].Path), m
	}
	cut := func(t *testing.T, name string, keep float64) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, data[:int(float64(len(data))*keep)], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantErr := func(t *testing.T, err error, name string, words ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error does not say %q: %v", w, err)
			}
		}
	}

	t.Run("shorter than the manifest says", func(t *testing.T) {
		dir, name, _ := setup(t)
		cut(t, name, 0.6)
		_, err := Open(context.Background(), dir, options(4, 8, 1))
		wantErr(t, err, name, "truncated", "bytes, the manifest says")
	})
	t.Run("truncated and the manifest rewritten", func(t *testing.T) {
		dir, name, m := setup(t)
		cut(t, name, 0.6)
		m.Shards[1].Bytes, m.Shards[1].SHA256 = fileSum(t, name)
		writeManifest(t, dir, m)
		_, err := Open(context.Background(), dir, options(4, 8, 1))
		wantErr(t, err, name, "truncated or corrupt", "not a readable Parquet file")
	})
	t.Run("bytes flipped inside", func(t *testing.T) {
		dir, name, _ := setup(t)
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(data) / 4; i < len(data)/2; i += 97 {
			data[i] ^= 0x5a
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		o := options(4, 8, 1)
		o.VerifyChecksums = true
		_, err = Open(context.Background(), dir, o)
		wantErr(t, err, name, "corrupt", "SHA-256")

		// Without the checksum, reading finds it.
		l := open(t, dir, options(4, 0, 1))
		for err = nil; err == nil; {
			_, err = l.Next()
		}
		wantErr(t, err, name, "corrupt")
		if _, again := l.Next(); again != err {
			t.Errorf("after an error Next returns %v, want the error again", again)
		}
	})
}

// A dataset on memfs:// (as on gs:// or s3://) gives the batches of the same
// dataset on local disk, staging one shard at a time and deleting it.
func TestRemoteDataset(t *testing.T) {
	dir := t.TempDir()
	textDataset(t, dir, "static", 60, 15, 12, 9)
	uri := toMemfs(t, dir, "remote-text/mlm_nsp")
	o := options(4, 10, 2)
	want, _ := collect(t, open(t, dir, o), -1)

	staging := t.TempDir()
	o.TempDir = staging
	l := open(t, uri, o)
	var got []Batch
	for {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if files, _ := os.ReadDir(staging); len(files) > 1 {
			t.Fatalf("%d shards staged at once", len(files))
		}
		got = append(got, b)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("memfs batches differ from local ones")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(staging); len(files) != 0 {
		t.Errorf("%d staged copies left after Close", len(files))
	}

	// A remote shard whose bytes changed is caught when it is staged.
	corrupt := toMemfs(t, dir, "remote-corrupt/mlm_nsp")
	m, _ := sinks.ReadManifest(context.Background(), dir)
	name := corrupt + "/" + m.Shards[0].Path
	data, _ := os.ReadFile(filepath.Join(dir, m.Shards[0].Path))
	data[len(data)/2] ^= 1
	memfs.Write(name, data)
	l = open(t, corrupt, options(4, 0, 1))
	if _, err := l.Next(); err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("corrupt remote shard: %v", err)
	}
}
