package sinks

import (
	"context"
	"fmt"
	"hash/fnv"
	"path"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"
)

// TempFile names one sorted temporary file that a bundle wrote for one
// partition of one dataset. It is the only thing about rows that travels
// through Beam.
type TempFile struct {
	Dataset   string
	Partition int
	Path      string
	Rows      int64
	// Stats are label statistics of the bundle's rows; one file of each bundle
	// carries them (the commit sums them).
	Stats map[string]int64
}

// Dataset describes one output dataset of a run: where it goes and how its
// shards are shaped. It is a plain value so that DoFns can carry it.
type Dataset struct {
	Name          string // task name, or DeadLetters
	Format        string // Format.Name() of its row type
	Dir           string // OUT/<name>
	RunID         string // names the staging folder
	NumShards     int
	RowGroupRows  int64
	RowGroupBytes int64
	// MaxBufferBytes bounds the rows a Writer holds: when a bundle's rows
	// reach it, every partition is written out as a temporary file.
	MaxBufferBytes int
	// CompressionLevel is the shards' zstd level; "" is default.
	CompressionLevel string
}

// CheckNames reports a dataset whose name or run id could make a file
// outside its folder: each names one path element (the dataset folder, the
// staging folder, the shard files), so neither may be empty, "." or "..",
// or hold a slash, a backslash or a NUL.
func (d Dataset) CheckNames() error {
	for _, f := range []struct{ what, v string }{{"dataset name", d.Name}, {"run id", d.RunID}} {
		if f.v == "" || f.v == "." || f.v == ".." || strings.ContainsAny(f.v, "/\\\x00") {
			return fmt.Errorf("sinks: %s %q is not a single path element", f.what, f.v)
		}
	}
	return nil
}

// Root is the run's output folder, OUT: the dataset folder's parent.
func (d Dataset) Root() string { return parentOf(d.Dir) }

// RunDir is the folder of everything one run writes before it commits,
// OUT/.pretext/runs/<run>: outside every dataset folder, so that a dataset
// folder only ever holds a manifest and the shards it names (docs/reliability.md).
func (d Dataset) RunDir() string { return RunDir(d.Root(), d.RunID) }

// StagingDir is where the dataset's temporary files and staged shards live
// until the commit, OUT/.pretext/runs/<run>/<dataset folder>.staging. None of
// its files end in .parquet, so no reader mistakes it for data.
func (d Dataset) StagingDir() string { return Join(d.RunDir(), baseOf(d.Dir)+".staging") }

// NextDir is where a commit on a local filesystem builds the dataset's new
// folder (its shards under their final names and its manifest) before it
// swaps it with OUT/<dataset>.
func (d Dataset) NextDir() string { return Join(d.RunDir(), baseOf(d.Dir)) }

// ShardName is the final name of shard k.
func (d Dataset) ShardName(k int) string {
	return Join(d.Dir, fmt.Sprintf("%s-%05d-of-%05d.parquet", d.Name, k, d.NumShards))
}

// ManifestPath is the dataset's commit point.
func (d Dataset) ManifestPath() string { return Join(d.Dir, ManifestName) }

// parentOf is dir's parent folder, for local paths and URIs alike.
func parentOf(dir string) string {
	dir = strings.TrimRight(dir, "/")
	i := strings.LastIndexByte(dir, '/')
	switch {
	case i < 0:
		return "."
	case i == 0:
		return "/"
	case strings.HasSuffix(dir[:i], ":/"):
		return dir[:i+1] // scheme://bucket: the bucket is the root
	}
	return dir[:i]
}

// baseOf is the last element of dir.
func baseOf(dir string) string { return path.Base(strings.TrimRight(dir, "/")) }

// Join joins a folder and a name with a slash, for local paths and URIs alike.
func Join(dir, name string) string {
	if strings.Contains(dir, "://") {
		return strings.TrimRight(dir, "/") + "/" + name
	}
	return path.Join(dir, name)
}

// PartitionOf is the shard a key belongs to.
func PartitionOf(key string, numShards int) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(numShards))
}

// Writer is the sink's half inside a DoFn: it buffers one bundle's rows of one
// dataset by partition and writes them out as sorted temporary files. Create
// it in StartBundle, Add rows in ProcessElement, Flush in FinishBundle and
// emit the returned TempFiles.
type Writer struct {
	ds     Dataset
	format Format
	fs     FS
	parts  []Partition
	stats  map[string]int64
	done   []TempFile
	bundle string
	seq    int
	held   int
}

// NewWriter opens a writer for one bundle.
func NewWriter(ctx context.Context, ds Dataset) (*Writer, error) {
	if err := ds.CheckNames(); err != nil {
		return nil, err
	}
	f, err := LookupFormat(ds.Format)
	if err != nil {
		return nil, err
	}
	fs, err := NewFS(ctx, ds.Dir)
	if err != nil {
		return nil, fmt.Errorf("sinks: %s: %w", ds.Dir, err)
	}
	w := &Writer{ds: ds, format: f, fs: fs, parts: make([]Partition, ds.NumShards), stats: map[string]int64{}, bundle: uuid.NewString()}
	for i := range w.parts {
		w.parts[i] = f.NewPartition()
	}
	return w, nil
}

// Add buffers row, whose payload is about size bytes, in its key's partition.
func (w *Writer) Add(ctx context.Context, key string, row any, size int) error {
	k := PartitionOf(key, w.ds.NumShards)
	p := w.parts[k]
	if err := p.Add(row, size); err != nil {
		return err
	}
	w.held += size
	total := buffered.Add(int64(size))
	budget := int64(w.ds.MaxBufferBytes)
	if budget <= 0 || (w.held < w.ds.MaxBufferBytes && total < budget) {
		return nil
	}
	// Over the budget — this writer's, or the process's, which all writers
	// of all bundles running here share — write out this writer's largest
	// partitions until half of what it holds is free: few, large temporary
	// files keep the merge's fan-in low.
	for target := w.held / 2; w.held > target; {
		big := 0
		for i, p := range w.parts {
			if p.Bytes() > w.parts[big].Bytes() {
				big = i
			}
		}
		if err := w.spill(ctx, big); err != nil {
			return err
		}
	}
	return nil
}

// AcquireWork waits for one of this process's work slots, GOMAXPROCS of
// them (at least 2), and returns the function that releases it. Stages whose
// memory grows with the data they stream — a shard merge (up to MaxFanIn open
// temporary files and a row group), a bucket of documents or videos (two
// groups and the bucket's files) — take a slot for their whole element: a
// runner may run every such element of a worker at once (prism does), and
// without the slots a worker's memory would grow with the number of shards
// and buckets. The work is CPU-bound, so more at once would not be faster.
// Nothing holding a slot waits for another element.
func AcquireWork(ctx context.Context) (release func(), err error) {
	select {
	case workSlots <- struct{}{}:
		return func() { <-workSlots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var workSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// buffered is the payload held by every Writer of this process: concurrent
// bundles share one memory budget, so memory does not grow with the number
// of bundles a runner runs at once.
var buffered atomic.Int64

// Count adds n to the label statistic name.
func (w *Writer) Count(name string, n int64) { w.stats[name] += n }

func (w *Writer) spill(ctx context.Context, k int) error {
	p := w.parts[k]
	if p.Len() == 0 {
		return nil
	}
	// The bundle id keeps attempts of the same bundle (retries, speculative
	// duplicates) from writing over each other's files.
	name := Join(w.ds.StagingDir(), fmt.Sprintf("tmp-%05d-%s-%d.rows.s2", k, w.bundle, w.seq))
	w.seq++
	rows := int64(p.Len())
	w.held -= p.Bytes()
	buffered.Add(-int64(p.Bytes()))
	out, err := w.fs.OpenWrite(ctx, name)
	if err != nil {
		return fmt.Errorf("sinks: creating %s: %w", name, err)
	}
	if err := p.WriteSorted(out); err != nil {
		out.Close()
		return fmt.Errorf("sinks: writing %s: %w", name, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("sinks: closing %s: %w", name, err)
	}
	w.done = append(w.done, TempFile{Dataset: w.ds.Name, Partition: k, Path: name, Rows: rows})
	return nil
}

// Flush writes every non-empty partition and returns the temporary files
// written since the last Flush.
func (w *Writer) Flush(ctx context.Context) ([]TempFile, error) {
	if err := w.spillAll(ctx); err != nil {
		return nil, err
	}
	if len(w.stats) > 0 {
		// Statistics ride on one file of the bundle: they reach the commit
		// exactly when the bundle's rows do.
		if len(w.done) == 0 {
			return nil, fmt.Errorf("sinks: %s: label statistics without rows", w.ds.Name)
		}
		w.done[0].Stats = w.stats
		w.stats = map[string]int64{}
	}
	done := w.done
	w.done = nil
	return done, nil
}

func (w *Writer) spillAll(ctx context.Context) error {
	for k := range w.parts {
		if err := w.spill(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// Finish flushes the writer, emits its temporary files and closes it: the
// end of a bundle.
func (w *Writer) Finish(ctx context.Context, emit func(TempFile)) error {
	temps, err := w.Flush(ctx)
	if err != nil {
		return err
	}
	for _, t := range temps {
		emit(t)
	}
	return w.Close()
}

// Close releases the filesystem.
func (w *Writer) Close() error { return w.fs.Close() }
