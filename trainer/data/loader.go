package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/pretext-dev/pretext/sinks"
)

// Batch is a batch of one task: the type its Rows' Batcher makes. The
// tasks this package ships make *ImageBatch, *TextBatch, *AudioBatch or
// *AVBatch; a task registered elsewhere may make its own type. Every slice
// is flat, row-major, with the shape its field's doc gives; Len is the
// number of rows (the leading dimension).
type Batch interface {
	Len() int
	// RowKeys are the rows' keys, in batch order.
	RowKeys() []string
}

// State is a loader's position: the batches after it are determined by it,
// the dataset and the options. It is small and JSON-serialisable, for a
// training checkpoint.
type State struct {
	// Epoch is the current epoch (0-based).
	Epoch int `json:"epoch"`
	// Draws is the number of rows drawn from the shuffle buffer in this epoch,
	// rows of other splits included. It is the whole position: the shuffle
	// buffer's contents and generator are rebuilt from it.
	Draws int64 `json:"draws"`
	// Shard and Row say where reading stands: the next row read is row Row
	// of the epoch's Shard-th shard (Shard = the number of shards at the
	// end). They follow from Draws, and are checked on resume.
	Shard int   `json:"shard"`
	Row   int64 `json:"row"`
	// Fingerprint identifies the dataset and the options that shape the
	// order (Seed, ShuffleBuffer, Limit, Split).
	Fingerprint string `json:"fingerprint"`
}

// Loader streams batches from a dataset folder. It is not safe for
// concurrent use.
type Loader struct {
	d   *dataset
	src source
}

// source is a loader for one row type.
type source interface {
	next() (Batch, error)
	state() State
	close() error
}

// Open opens the dataset folder dir (one task's folder, with _manifest.json)
// for reading with opts. It fails before any row is read when the options are
// bad, the folder is incomplete, the dataset is of another task than
// opts.Task, or a shard is missing, truncated or of another run. The loader
// keeps ctx for the reads Next makes: every filesystem call takes it, and a
// cancelled ctx stops Next at the next shard.
func Open(ctx context.Context, dir string, opts Options) (*Loader, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("data: bad options:\n%w", err)
	}
	d, err := openDataset(ctx, dir, opts.Task, opts)
	if err != nil {
		return nil, err
	}
	rd := readerOf(d.manifest.Task)
	if opts.Split != "" && !rd.hasSplit {
		d.fs.Close()
		return nil, fmt.Errorf("data: %s: rows of task %s have no split column; Options.Split must be empty (got %q)", dir, d.manifest.Task, opts.Split)
	}
	if opts.Resume != nil && opts.Resume.Fingerprint != d.fingerprint(opts) {
		d.fs.Close()
		return nil, fmt.Errorf("data: %s: Options.Resume is a position in another dataset or order (fingerprint %s, this one is %s): the dataset, Seed, ShuffleBuffer, Limit and Split must be those of the run that saved it",
			dir, opts.Resume.Fingerprint, d.fingerprint(opts))
	}
	src, err := rd.open(ctx, d, opts)
	if err != nil {
		d.fs.Close()
		return nil, err
	}
	return &Loader{d: d, src: src}, nil
}

// Next returns the next batch, or io.EOF after the last epoch.
func (l *Loader) Next() (Batch, error) { return l.src.next() }

// State returns the position after the last batch Next returned.
func (l *Loader) State() State { return l.src.state() }

// Task is the dataset's task.
func (l *Loader) Task() string { return l.d.manifest.Task }

// Manifest is the dataset's manifest.
func (l *Loader) Manifest() *sinks.Manifest { return l.d.manifest }

// Close closes the open shard and deletes its staged copy, if any.
func (l *Loader) Close() error {
	err := l.src.close()
	if cerr := l.d.fs.Close(); err == nil {
		err = cerr
	}
	return err
}

// codec is what a stream needs to know of a row type: a registered Rows
// with its Batcher made for the dataset.
type codec[T any] struct {
	// split returns a row's split; nil when rows have no split column.
	split func(*T) string
	key   func(*T) string
	// build makes the batch of rows, for epoch. An error caused by one row
	// is a *RowError.
	build Batcher[T]
}

// entry is a shuffle-buffer slot: a row, or nothing for a row of another split.
type entry[T any] struct {
	row  T
	keep bool
}

// stream is the loader of row type T: epochs of shuffled rows cut into
// batches.
type stream[T any] struct {
	ctx  context.Context
	d    *dataset
	opts Options
	c    codec[T]
	used []int64 // rows used per shard
	fp   string  // the dataset's fingerprint under opts

	epoch   int
	started bool // the epoch's shuffler exists
	fresh   bool // the epoch started at its first draw
	batches int  // batches given in this epoch
	plan    plan
	sh      *shuffler[entry[T]]
	rd      *rowReader[T]
	err     error
}

func newStream[T any](ctx context.Context, d *dataset, opts Options, c codec[T]) (*stream[T], error) {
	s := &stream[T]{ctx: ctx, d: d, opts: opts, c: c, fp: d.fingerprint(opts)}
	left := opts.Limit
	for _, sh := range d.manifest.Shards {
		n := sh.Rows
		if opts.Limit > 0 {
			n = min(n, left)
			left -= n
		}
		s.used = append(s.used, n)
	}
	if r := opts.Resume; r != nil {
		s.epoch = r.Epoch
		if opts.Epochs > 0 && r.Epoch >= opts.Epochs {
			return s, nil // past the last epoch: Next gives io.EOF
		}
		if err := s.start(r.Draws); err != nil {
			return nil, err
		}
		if got := s.state(); got.Shard != r.Shard || got.Row != r.Row {
			s.close()
			return nil, fmt.Errorf("data: %s: Options.Resume says reading stands at row %d of shard %d, replaying its draws gives row %d of shard %d",
				d.dir, r.Row, r.Shard, got.Row, got.Shard)
		}
	}
	return s, nil
}

// start begins epoch s.epoch after draws draws.
func (s *stream[T]) start(draws int64) error {
	if err := s.closeReader(); err != nil {
		return err
	}
	size := s.opts.ShuffleBuffer
	s.plan = planEpoch(s.used, s.opts.Seed, s.epoch, size > 0)
	s.rd = newRowReader[T](s.ctx, s.d, s.used, s.plan)
	s.sh = newShuffler[entry[T]](s.plan.len(), size, s.opts.Seed, s.epoch)
	s.started, s.fresh, s.batches = true, draws == 0, 0
	if draws == 0 {
		return nil
	}
	// Replay the draws on positions, then read the rows the buffer holds, in
	// stream order so that each shard is read at most once.
	sim := replay(s.plan.len(), size, s.opts.Seed, s.epoch, draws)
	if sim.draws != draws {
		return fmt.Errorf("data: %s: Options.Resume is at draw %d of epoch %d, which has %d rows", s.d.dir, draws, s.epoch, s.plan.len())
	}
	slots := make([]int, len(sim.buf))
	for j := range slots {
		slots[j] = j
	}
	sort.Slice(slots, func(a, b int) bool { return sim.buf[slots[a]] < sim.buf[slots[b]] })
	vals := make([]entry[T], len(sim.buf))
	for _, j := range slots {
		e, err := s.read(sim.buf[j])
		if err != nil {
			return err
		}
		vals[j] = e
	}
	s.sh.buf, s.sh.vals, s.sh.next, s.sh.rng, s.sh.draws = sim.buf, vals, sim.next, sim.rng, sim.draws
	return nil
}

// read reads the entry at stream position pos: the row when it is of the
// split asked for.
func (s *stream[T]) read(pos int64) (entry[T], error) {
	row, err := s.rd.read(pos)
	if err != nil {
		return entry[T]{}, err
	}
	if s.opts.Split != "" && s.c.split(&row) != s.opts.Split {
		return entry[T]{}, nil
	}
	return entry[T]{row: row, keep: true}, nil
}

func (s *stream[T]) next() (Batch, error) {
	if s.err != nil {
		return nil, s.err
	}
	b, err := s.nextBatch()
	if err != nil {
		if err != io.EOF {
			s.closeReader()
		}
		s.err = err
	}
	return b, err
}

func (s *stream[T]) nextBatch() (Batch, error) {
	for {
		if !s.started {
			if s.opts.Epochs > 0 && s.epoch >= s.opts.Epochs {
				return nil, io.EOF
			}
			if err := s.start(0); err != nil {
				return nil, err
			}
		}
		rows := make([]T, 0, s.opts.BatchSize)
		var pos []int64
		for len(rows) < s.opts.BatchSize {
			p, e, ok, err := s.sh.draw(s.read)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			if e.keep {
				rows = append(rows, e.row)
				pos = append(pos, p)
			}
		}
		if len(rows) == s.opts.BatchSize || (len(rows) > 0 && !s.opts.DropRemainder) {
			b, err := s.c.build(rows, s.epoch)
			if err != nil {
				return nil, s.rowErr(err, rows, pos)
			}
			s.batches++
			return b, nil
		}
		// The epoch is over.
		if s.fresh && s.batches == 0 {
			return nil, fmt.Errorf("data: %s: an epoch gives no batch (split %q, limit %d, batch size %d, drop remainder %v): the split has no rows, or fewer than a batch",
				s.d.dir, s.opts.Split, s.opts.Limit, s.opts.BatchSize, s.opts.DropRemainder)
		}
		if err := s.closeReader(); err != nil {
			return nil, err
		}
		s.epoch++
		s.started = false
	}
}

// rowErr names the shard and key of the row that failed.
func (s *stream[T]) rowErr(err error, rows []T, pos []int64) error {
	var re *RowError
	if !errors.As(err, &re) || re.Row < 0 || re.Row >= len(rows) {
		return fmt.Errorf("data: %s: %w", s.d.dir, err)
	}
	i, row := s.plan.locate(pos[re.Row])
	name := s.d.path(s.d.manifest.Shards[s.plan.order[i]])
	return fmt.Errorf("data: shard %s, row %d (key %q): %w", name, row, s.c.key(&rows[re.Row]), re.Err)
}

func (s *stream[T]) state() State {
	st := State{Epoch: s.epoch, Fingerprint: s.fp}
	switch {
	case s.started:
		st.Draws = s.sh.draws
		if s.sh.next < s.plan.len() {
			st.Shard, st.Row = s.plan.locate(s.sh.next)
		} else {
			st.Shard = len(s.plan.order)
		}
	case s.opts.Resume != nil && s.epoch == s.opts.Resume.Epoch:
		st = *s.opts.Resume
	}
	return st
}

func (s *stream[T]) closeReader() error {
	if s.rd == nil {
		return nil
	}
	err := s.rd.closeShard()
	s.rd = nil
	return err
}

func (s *stream[T]) close() error { return s.closeReader() }
