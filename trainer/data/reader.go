package data

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// chunkRows is how many rows a reader decodes per call to parquet-go.
const chunkRows = 32

// rowReader reads the rows of one epoch's stream by position, one shard open
// at a time. Reading positions in increasing order reads each shard once,
// front to back; any other position seeks.
type rowReader[T any] struct {
	ctx  context.Context
	d    *dataset
	used []int64 // rows used per shard (Options.Limit)
	plan plan

	cur int // index in plan.order of the open shard, -1 for none
	sf  *shardFile
	gr  *parquet.GenericReader[T]

	pos   int64 // stream position of chunk[ci]
	chunk []T
	ci    int
	cn    int
}

func newRowReader[T any](ctx context.Context, d *dataset, used []int64, p plan) *rowReader[T] {
	return &rowReader[T]{ctx: ctx, d: d, used: used, plan: p, cur: -1, chunk: make([]T, chunkRows)}
}

// read returns the row at stream position pos.
func (r *rowReader[T]) read(pos int64) (T, error) {
	var zero T
	if r.ci == r.cn || pos != r.pos {
		if err := r.load(pos); err != nil {
			return zero, err
		}
	}
	row := r.chunk[r.ci]
	r.chunk[r.ci] = zero
	r.ci++
	r.pos++
	return row, nil
}

// load reads the chunk of rows that starts at pos, opening its shard and
// seeking when pos is not where the reader stands.
func (r *rowReader[T]) load(pos int64) error {
	if pos < 0 || pos >= r.plan.len() {
		return fmt.Errorf("data: row %d of an epoch of %d rows", pos, r.plan.len())
	}
	i, row := r.plan.locate(pos)
	k := r.plan.order[i]
	switch {
	case i != r.cur:
		if err := r.closeShard(); err != nil {
			return err
		}
		if err := r.openShard(i); err != nil {
			return err
		}
		if row > 0 {
			if err := r.seek(row); err != nil {
				return err
			}
		}
	case pos != r.pos:
		if err := r.seek(row); err != nil {
			return err
		}
	}
	m := int(min(int64(len(r.chunk)), r.used[k]-row))
	clear(r.chunk[:m]) // parquet-go may reuse what a row holds; a chunk's rows move to the buffer
	n, err := r.readChunk(r.chunk[:m])
	switch {
	case n == m:
	case err == nil || errors.Is(err, io.EOF):
		return fmt.Errorf("data: shard %s is truncated or corrupt: it ends after %d rows, the manifest says %d", r.sf.name, row+int64(n), r.d.manifest.Shards[k].Rows)
	default:
		return fmt.Errorf("data: shard %s is corrupt: reading row %d: %w", r.sf.name, row+int64(n), err)
	}
	r.pos, r.ci, r.cn = pos, 0, n
	return nil
}

func (r *rowReader[T]) openShard(i int) (err error) {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	k := r.plan.order[i]
	sf, err := r.d.open(r.ctx, r.d.manifest.Shards[k], r.d.verify)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			sf.close()
			err = fmt.Errorf("data: shard %s: its schema is not the %T row type's: %v", sf.name, *new(T), p)
		}
	}()
	// NewGenericReader panics where it cannot convert the file's schema.
	r.gr = parquet.NewGenericReader[T](sf.pf)
	r.sf, r.cur = sf, i
	return nil
}

func (r *rowReader[T]) seek(row int64) error {
	r.ci, r.cn = 0, 0
	if err := r.gr.SeekToRow(row); err != nil {
		return fmt.Errorf("data: shard %s is corrupt: seeking to row %d: %w", r.sf.name, row, err)
	}
	return nil
}

// readChunk reads rows, turning a decoder panic on corrupt pages into an error.
func (r *rowReader[T]) readChunk(rows []T) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, fmt.Errorf("decoder panic: %v", p)
		}
	}()
	return r.gr.Read(rows)
}

func (r *rowReader[T]) closeShard() error {
	if r.sf == nil {
		return nil
	}
	err := r.gr.Close()
	if cerr := r.sf.close(); err == nil {
		err = cerr
	}
	r.sf, r.gr, r.cur = nil, nil, -1
	r.ci, r.cn = 0, 0
	return err
}
