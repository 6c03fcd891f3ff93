package inspect

import (
	"container/heap"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"

	"github.com/pretext-dev/pretext/sinks"
)

// source is the shards of one dataset. Each shard is verified against the
// manifest as it is read, so that it is read (and, when remote, copied)
// once; statistics come from the shards that pass only.
type source struct {
	fs       sinks.FS
	dir      string
	manifest *sinks.Manifest
	want     *parquet.Schema // the task's row type; nil when unknown
	shards   []sinks.ShardEntry
	tempDir  string
	// verified holds the shards verified so far, failed those that did not
	// pass (their problems are in integrity).
	verified, failed map[string]bool
	integrity        []string
	// problems collects shards that passed but could not be read for
	// statistics.
	problems []string
	rows     int64
}

func newSource(fs sinks.FS, dir string, m *sinks.Manifest, want *parquet.Schema, tempDir string) *source {
	src := &source{fs: fs, dir: dir, manifest: m, want: want, tempDir: tempDir, verified: map[string]bool{}, failed: map[string]bool{}}
	for _, sh := range m.Shards {
		if sinks.PlainShardPath(sh.Path) {
			src.shards = append(src.shards, sh)
		}
	}
	return src
}

// verify checks sh and, when it passes, calls each with the open shard.
// A shard is verified once: later calls only read it.
func (src *source) verify(ctx context.Context, sh sinks.ShardEntry, each func(f *os.File, size int64) error) error {
	if src.failed[sh.Path] {
		return nil
	}
	if src.verified[sh.Path] && each == nil {
		return nil
	}
	want := src.want
	if src.verified[sh.Path] {
		want = nil
	}
	bad, err := sinks.VerifyShard(ctx, src.fs, src.dir, sh, src.manifest, want, src.tempDir, each)
	if !src.verified[sh.Path] {
		src.verified[sh.Path] = true
		src.integrity = append(src.integrity, bad...)
		if len(bad) > 0 {
			src.failed[sh.Path] = true
		}
	}
	return err
}

// verifyRest verifies the shards that no scan has read.
func (src *source) verifyRest(ctx context.Context) {
	for _, sh := range src.shards {
		src.verify(ctx, sh, nil)
	}
}

// complete reports whether every shard of m was read for statistics, so
// that counts from the rows can be compared with the manifest's.
func (src *source) complete(m *sinks.Manifest) bool {
	return len(src.problems) == 0 && len(src.failed) == 0 && len(src.shards) == len(m.Shards)
}

// scan streams the rows of every shard of src to fn, batch rows at a time,
// one shard and one row group at a time: memory holds one batch and the
// pages being decoded, never a whole shard. fn may keep nothing of the rows
// it is given (the slices are reused); what it keeps it copies. A shard
// that fails verification is skipped (its problems are in src.integrity);
// one that cannot be read is recorded in src.problems and skipped.
func scan[T any](ctx context.Context, src *source, batch int, fn func(rows []T)) error {
	buf := make([]T, batch)
	want := parquet.SchemaOf(new(T))
	for _, sh := range src.shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := src.verify(ctx, sh, func(f *os.File, size int64) error {
			return scanShard(f, size, want, buf, &src.rows, fn)
		})
		if err != nil {
			src.problems = append(src.problems, fmt.Sprintf("%s: reading rows: %v", sh.Path, err))
		}
	}
	return nil
}

func scanShard[T any](f *os.File, size int64, want *parquet.Schema, buf []T, rows *int64, fn func([]T)) (err error) {
	// A corrupt shard may make a decoder panic; it is one bad shard, not a
	// failed inspection.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while decoding: %v", r)
		}
	}()
	pf, err := parquet.OpenFile(f, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return err
	}
	if pf.Schema().String() != want.String() {
		return fmt.Errorf("schema is not the row type's: statistics skipped")
	}
	for _, rg := range pf.RowGroups() {
		r := parquet.NewGenericRowGroupReader[T](rg)
		for {
			n, rerr := r.Read(buf)
			if n > 0 {
				*rows += int64(n)
				fn(buf[:n])
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				r.Close()
				return rerr
			}
		}
		if err := r.Close(); err != nil {
			return err
		}
	}
	return nil
}

// keyHash orders rows for the contact sheets: the rows with the smallest
// hashes are an unbiased, deterministic sample that does not depend on
// shard order or count.
func keyHash(key string, variant int32) uint64 {
	h := fnv.New64a()
	io.WriteString(h, key)
	h.Write([]byte{0, byte(variant), byte(variant >> 8), byte(variant >> 16), byte(variant >> 24)})
	// FNV's last bytes reach the high bits weakly: without a final mix the
	// smallest hashes, which the sampler keeps, are the variants of the one
	// key whose own hash is smallest, and a contact sheet shows one image.
	// splitmix64's finaliser spreads every input bit over the whole word.
	x := h.Sum64()
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// sampler keeps the n rows with the smallest key hashes seen so far: a
// bounded max-heap, so memory is n rows whatever the dataset's size.
type sampler[T any] struct {
	n     int
	clone func(T) T
	h     sampleHeap[T]
}

type sampled[T any] struct {
	hash uint64
	row  T
}

type sampleHeap[T any] []sampled[T]

func (h sampleHeap[T]) Len() int           { return len(h) }
func (h sampleHeap[T]) Less(i, j int) bool { return h[i].hash > h[j].hash }
func (h sampleHeap[T]) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sampleHeap[T]) Push(x any)        { *h = append(*h, x.(sampled[T])) }
func (h *sampleHeap[T]) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newSampler[T any](n int, clone func(T) T) *sampler[T] {
	return &sampler[T]{n: n, clone: clone}
}

// offer considers a row; it is copied only when kept.
func (s *sampler[T]) offer(hash uint64, row T) {
	if s == nil || s.n <= 0 {
		return
	}
	if len(s.h) < s.n {
		heap.Push(&s.h, sampled[T]{hash, s.clone(row)})
		return
	}
	if hash < s.h[0].hash {
		s.h[0] = sampled[T]{hash, s.clone(row)}
		heap.Fix(&s.h, 0)
	}
}

// rows returns the kept rows, smallest hash first.
func (s *sampler[T]) rows() []T {
	if s == nil {
		return nil
	}
	h := append(sampleHeap[T](nil), s.h...)
	out := make([]T, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		out[i] = heap.Pop(&h).(sampled[T]).row
	}
	return out
}

func cloneBytes(b []byte) []byte { return append([]byte(nil), b...) }
