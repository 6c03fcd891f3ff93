package sinks

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
)

// Format is a row type as the sinks handle it, with the type erased so that a
// registry, a DoFn or a plan can hold formats of different row types.
type Format interface {
	// Name identifies the format across processes (the row type's name).
	Name() string
	// Schema is the Parquet schema of the shards.
	Schema() *parquet.Schema
	// NewPartition returns an empty in-memory partition of rows.
	NewPartition() Partition
	// Merge k-way merges sorted temporary files into one Parquet shard written
	// to w, in (key, variant) order. It streams: memory holds one row per input.
	Merge(ctx context.Context, fs FS, inputs []string, w io.Writer, opts ShardOptions) (rows int64, err error)
}

// Sizer is implemented by rows that know their payload size.
type Sizer interface{ RowBytes() int }

// Partition buffers the rows of one partition of one bundle.
type Partition interface {
	// Add appends row, whose payload is about size bytes. It fails if row is
	// not of the partition's type.
	Add(row any, size int) error
	// Len is the number of rows held; Bytes their estimated size.
	Len() int
	Bytes() int
	// WriteSorted sorts the rows by (key, variant), writes them as a temporary
	// file to w and empties the partition.
	WriteSorted(w io.Writer) error
}

// ShardOptions shape a shard's bytes.
type ShardOptions struct {
	RowGroupRows int64 // at most this many rows per row group
	// RowGroupBytes ends a row group once its rows hold this many payload
	// bytes (rows that implement Sizer), so that small rows do not make
	// thousands of row groups, whose metadata a writer keeps until it closes.
	RowGroupBytes int64
	Metadata      map[string]string // footer key/value metadata
	// CompressionLevel is the pages' zstd level (configs.Sink's); "" is
	// default.
	CompressionLevel string
}

var (
	formatsMu sync.Mutex
	formats   = map[string]Format{}
)

// FormatOf returns the format of row type T and registers it so that
// LookupFormat finds it by name in any process running the same binary.
func FormatOf[T Row]() Format {
	f := format[T]{name: typeOf[T]().String()}
	formatsMu.Lock()
	defer formatsMu.Unlock()
	formats[f.name] = f
	return f
}

// LookupFormat returns the format registered under name.
func LookupFormat(name string) (Format, error) {
	formatsMu.Lock()
	defer formatsMu.Unlock()
	f, ok := formats[name]
	if !ok {
		return nil, fmt.Errorf("sinks: no row format %q registered in this binary", name)
	}
	return f, nil
}

func typeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

type format[T Row] struct{ name string }

func (f format[T]) Name() string            { return f.name }
func (f format[T]) Schema() *parquet.Schema { return parquet.SchemaOf(new(T)) }
func (f format[T]) NewPartition() Partition { return &partition[T]{} }

type partition[T Row] struct {
	rows  []T
	bytes int
}

func (p *partition[T]) Add(row any, size int) error {
	r, ok := row.(T)
	if !ok {
		return fmt.Errorf("sinks: row of type %T added to a partition of %s", row, typeOf[T]())
	}
	p.rows = append(p.rows, r)
	p.bytes += size
	return nil
}

func (p *partition[T]) Len() int   { return len(p.rows) }
func (p *partition[T]) Bytes() int { return p.bytes }

func less[T Row](a, b T) bool {
	if ka, kb := a.RowKey(), b.RowKey(); ka != kb {
		return ka < kb
	}
	return a.RowVariant() < b.RowVariant()
}

// Temporary files are s2-compressed streams of rows (tempcodec.go) rather
// than Parquet: Beam's filesystems give no random access, and a stream reads
// back from any store with memory for one row and one block. s2 (Snappy's
// faster relative, klauspost/compress) rather than zstd: the files live
// minutes, and at zstd's fastest level compressing and decompressing them
// took a quarter of a text run's CPU (2.3 of 17.6 CPU-s on the bench corpus).
const tempBlockSize = 64 << 10

func newTempWriter(w io.Writer) *s2.Writer {
	return s2.NewWriter(w, s2.WriterConcurrency(1), s2.WriterBlockSize(tempBlockSize))
}

func newTempStreamReader(r io.Reader) *s2.Reader {
	return s2.NewReader(r, s2.ReaderMaxBlockSize(tempBlockSize))
}

func (p *partition[T]) WriteSorted(w io.Writer) error {
	sort.Slice(p.rows, func(i, j int) bool { return less(p.rows[i], p.rows[j]) })
	zw := newTempWriter(w)
	encode := newTempEncoder[T](zw)
	for i := range p.rows {
		if err := encode(&p.rows[i]); err != nil {
			zw.Close()
			return fmt.Errorf("sinks: encoding temporary row: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	clear(p.rows)
	p.rows = p.rows[:0]
	p.bytes = 0
	return nil
}

// tempReader streams the rows of one temporary file.
type tempReader[T Row] struct {
	name string
	rc   io.ReadCloser
	dec  func(*T) error
	head T
}

func openTemp[T Row](ctx context.Context, fs FS, name string) (*tempReader[T], error) {
	rc, err := fs.OpenRead(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("sinks: opening temporary file %s: %w", name, err)
	}
	return &tempReader[T]{name: name, rc: rc, dec: newTempDecoder[T](newTempStreamReader(rc))}, nil
}

// next reads the following row into head; it returns io.EOF at the end.
func (t *tempReader[T]) next() error {
	var row T
	if err := t.dec(&row); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("sinks: reading temporary file %s: %w", t.name, err)
	}
	t.head = row
	return nil
}

func (t *tempReader[T]) close() error {
	return t.rc.Close()
}

type mergeHeap[T Row] []*tempReader[T]

func (h mergeHeap[T]) Len() int           { return len(h) }
func (h mergeHeap[T]) Less(i, j int) bool { return less(h[i].head, h[j].head) }
func (h mergeHeap[T]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap[T]) Push(x any)        { *h = append(*h, x.(*tempReader[T])) }
func (h *mergeHeap[T]) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// NewShardWriter returns a Parquet writer with the options every pretext shard
// is written with, so that the same rows always give the same bytes. extra
// options come last (tests use them to compare writer set-ups).
func NewShardWriter[T any](w io.Writer, opts ShardOptions, extra ...parquet.WriterOption) *parquet.GenericWriter[T] {
	rowGroup := opts.RowGroupRows
	if rowGroup <= 0 {
		rowGroup = 256
	}
	wopts := []parquet.WriterOption{
		parquet.Compression(shardCodec{Level: opts.CompressionLevel}),
		parquet.MaxRowsPerRowGroup(rowGroup),
		parquet.CreatedBy("pretext", Version, ""),
	}
	blobs := blobColumns(parquet.SchemaOf(new(T)))
	for _, path := range blobs {
		wopts = append(wopts, parquet.SkipPageStatistics(path...), parquet.SkipPageBounds(path...))
	}
	if len(blobs) > 0 {
		// A row group's pages wait in these buffers until it is complete:
		// for media rows that is row_group_mb per merge running, so they
		// wait on local disk rather than on the heap. The bytes written are
		// the same.
		wopts = append(wopts, parquet.ColumnPageBuffers(pageBuffers))
	}
	keys := make([]string, 0, len(opts.Metadata))
	for k := range opts.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		wopts = append(wopts, parquet.KeyValueMetadata(k, opts.Metadata[k]))
	}
	return parquet.NewGenericWriter[T](w, append(wopts, extra...)...)
}

// pageBuffers keeps the pages of media shards' row groups in temporary
// files (removed as each column chunk is written out).
var pageBuffers = parquet.NewFileBufferPool(os.TempDir(), "pretext-pages-*")

// blobColumns are the binary columns that are not text: encoded images,
// masks, raw pixels. Their min/max statistics would copy whole values into
// every page header and the footer (parquet-go writes page statistics by
// default), tripling a shard of images, and no query filters on pixels.
// Text columns (key, source, split...) keep their statistics.
func blobColumns(schema *parquet.Schema) [][]string {
	var blobs [][]string
	for _, path := range schema.Columns() {
		leaf, ok := schema.Lookup(path...)
		if !ok {
			continue
		}
		t := leaf.Node.Type()
		if t.Kind() != parquet.ByteArray {
			continue
		}
		if lt := t.LogicalType(); lt != nil && lt.Value != nil {
			continue // STRING, ENUM, JSON...: text
		}
		blobs = append(blobs, path)
	}
	return blobs
}

func (f format[T]) Merge(ctx context.Context, fs FS, inputs []string, w io.Writer, opts ShardOptions) (int64, error) {
	pw := NewShardWriter[T](w, opts)
	// Rows reach the writer in batches of 64 or of batchBytes of payload,
	// whichever comes first: the writer cuts pages between writes, so a
	// batch of 64 images would be one page of 64 images, held (and
	// compressed) whole.
	const batchSize, batchBytes = 64, 1 << 20
	batch := make([]T, 0, batchSize)
	var held int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := pw.Write(batch); err != nil {
			return err
		}
		clear(batch)
		batch = batch[:0]
		held = 0
		return nil
	}
	var groupBytes int64
	rows, err := MergeRows(ctx, fs, inputs, func(row T) error {
		batch = append(batch, row)
		if sz, ok := any(row).(Sizer); ok {
			n := int64(sz.RowBytes())
			held += n
			if opts.RowGroupBytes > 0 {
				if groupBytes += n; groupBytes >= opts.RowGroupBytes {
					groupBytes = 0
					if err := flush(); err != nil {
						return err
					}
					return pw.Flush()
				}
			}
		}
		if len(batch) == batchSize || held >= batchBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if err := pw.Close(); err != nil {
		return 0, fmt.Errorf("sinks: closing shard: %w", err)
	}
	return rows, nil
}

// MergeRows streams the rows of sorted temporary files to fn in (key,
// variant) order, holding one row per file in memory. A (key, variant) that
// appears twice is an error: it would mean an input was processed twice.
func MergeRows[T Row](ctx context.Context, fs FS, inputs []string, fn func(T) error) (int64, error) {
	// Memory grows with the number of files merged at once, so many files
	// are merged in passes of at most fanInOf[T] (MaxFanIn, or MediaFanIn
	// for media rows), through intermediate files beside the inputs (in the
	// staging folder the commit removes). Each pass merges only as many
	// files as it must for the rest to fit the final merge: at a fan-in of
	// 32, 48 files make one intermediate of 17, not two of 32 and 16 (which
	// would write every row twice). Intermediates join the back
	// of the queue, so a row is rewritten once per level, not once per pass.
	fanIn := fanInOf[T]()
	for pass := 0; len(inputs) > fanIn; pass++ {
		k := min(fanIn, len(inputs)-fanIn+1)
		name := fmt.Sprintf("%s.pass%d.rows.s2", inputs[0], pass)
		if err := mergeToTemp[T](ctx, fs, inputs[:k], name); err != nil {
			return 0, err
		}
		inputs = append(inputs[k:len(inputs):len(inputs)], name)
	}
	return mergeRows(ctx, fs, inputs, fn)
}

// MaxFanIn is the most temporary files merged at once.
const MaxFanIn = 32

// MediaFanIn is the most temporary files of media rows (images, frames,
// audio: the gob-encoded row types, hundreds of KB each) merged at once. A
// reader holds its head row and the encoded next one, so 32 of them held
// about 16 MB per merge, and a worker runs GOMAXPROCS merges.
const MediaFanIn = 16

func fanInOf[T Row]() int {
	if _, ok := any(new(T)).(tempCodec); ok {
		return MaxFanIn
	}
	return MediaFanIn
}

// mergeToTemp merges sorted temporary files into one.
func mergeToTemp[T Row](ctx context.Context, fs FS, inputs []string, name string) error {
	out, err := fs.OpenWrite(ctx, name)
	if err != nil {
		return fmt.Errorf("sinks: creating %s: %w", name, err)
	}
	zw := newTempWriter(out)
	encode := newTempEncoder[T](zw)
	_, err = mergeRows(ctx, fs, inputs, func(row T) error { return encode(&row) })
	if err == nil {
		err = zw.Close()
	} else {
		zw.Close()
	}
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sinks: closing %s: %w", name, cerr)
	}
	return err
}

func mergeRows[T Row](ctx context.Context, fs FS, inputs []string, fn func(T) error) (int64, error) {
	h := make(mergeHeap[T], 0, len(inputs))
	defer func() {
		for _, t := range h {
			t.close()
		}
	}()
	for _, name := range inputs {
		t, err := openTemp[T](ctx, fs, name)
		if err != nil {
			return 0, err
		}
		switch err := t.next(); {
		case err == io.EOF:
			t.close()
			continue
		case err != nil:
			t.close()
			return 0, err
		}
		h = append(h, t)
	}
	heap.Init(&h)
	var rows int64
	var last T
	for h.Len() > 0 {
		t := h[0]
		row := t.head
		if rows > 0 && !less(last, row) {
			return 0, fmt.Errorf("sinks: row (%q, %d) appears twice or out of order in %s", row.RowKey(), row.RowVariant(), t.name)
		}
		last = row
		rows++
		if err := fn(row); err != nil {
			return 0, err
		}
		switch err := t.next(); {
		case err == io.EOF:
			heap.Pop(&h)
			if err := t.close(); err != nil {
				return 0, err
			}
		case err != nil:
			return 0, err
		default:
			heap.Fix(&h, 0)
		}
	}
	return rows, nil
}
