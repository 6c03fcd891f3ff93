package data

import (
	"math/rand/v2"
	"sort"

	"github.com/pretext-dev/pretext/transforms/seeding"
)

// seedDomain names the loader's generators in seeding.New, apart from every
// pipeline task's.
const seedDomain = "trainer/data"

// plan is one epoch's stream: the shards in the epoch's order, each
// contributing its first rows[k] rows. Position p of the stream is row
// p-start[i] of shard order[i], where start[i] <= p < start[i+1].
type plan struct {
	order []int   // indices into the dataset's shards
	start []int64 // len(order)+1 stream positions
}

// planEpoch orders the shards that have rows: by a permutation seeded from
// (seed, epoch) when shuffle is set, in manifest order otherwise.
func planEpoch(rows []int64, seed int64, epoch int, shuffle bool) plan {
	var p plan
	for k, n := range rows {
		if n > 0 {
			p.order = append(p.order, k)
		}
	}
	if shuffle {
		rng := seeding.New(seed, seedDomain, "shards", epoch)
		rng.Shuffle(len(p.order), func(i, j int) { p.order[i], p.order[j] = p.order[j], p.order[i] })
	}
	p.start = make([]int64, len(p.order)+1)
	for i, k := range p.order {
		p.start[i+1] = p.start[i] + rows[k]
	}
	return p
}

// len is the number of rows in the epoch.
func (p plan) len() int64 { return p.start[len(p.start)-1] }

// locate returns the index in order of the shard holding position pos, and
// the row in that shard.
func (p plan) locate(pos int64) (int, int64) {
	i := sort.Search(len(p.order), func(i int) bool { return p.start[i+1] > pos })
	return i, pos - p.start[i]
}

// shuffler is a shuffle buffer over stream positions 0..n-1 that carries a
// value of type V per slot (a row, or nothing when only the order matters).
// Its draws depend only on n, the buffer size and the generator, never on
// the values: replaying them with V = struct{} gives the same positions.
type shuffler[V any] struct {
	n, next int64 // stream length; next position to read
	size    int   // buffer capacity (1: no shuffling)
	rng     *rand.Rand
	buf     []int64 // positions in the buffer, by slot
	vals    []V     // their values, by slot
	draws   int64   // draws made
}

func newShuffler[V any](n int64, size int, seed int64, epoch int) *shuffler[V] {
	return &shuffler[V]{
		n: n, size: max(size, 1),
		rng: seeding.New(seed, seedDomain, "rows", epoch),
	}
}

// draw returns the next position of the shuffled stream and its value,
// reading new positions with read (in increasing order, each once) to keep
// the buffer full. ok is false at the end of the stream.
func (s *shuffler[V]) draw(read func(pos int64) (V, error)) (pos int64, v V, ok bool, err error) {
	for len(s.buf) < s.size && s.next < s.n {
		nv, err := read(s.next)
		if err != nil {
			return 0, v, false, err
		}
		s.buf = append(s.buf, s.next)
		s.vals = append(s.vals, nv)
		s.next++
	}
	if len(s.buf) == 0 {
		return 0, v, false, nil
	}
	j := 0
	if s.size > 1 && len(s.buf) > 1 {
		j = s.rng.IntN(len(s.buf))
	}
	pos, v = s.buf[j], s.vals[j]
	if s.next < s.n {
		nv, err := read(s.next)
		if err != nil {
			return 0, v, false, err
		}
		s.buf[j], s.vals[j] = s.next, nv
		s.next++
	} else {
		last := len(s.buf) - 1
		s.buf[j], s.vals[j] = s.buf[last], s.vals[last]
		var zero V
		s.vals[last] = zero
		s.buf, s.vals = s.buf[:last], s.vals[:last]
	}
	s.draws++
	return pos, v, true, nil
}

// replay returns the shuffler of an epoch after draws draws, with zero
// values: the positions in its buffer and the next position to read are
// those of a shuffler that made the draws on real rows.
func replay(n int64, size int, seed int64, epoch int, draws int64) *shuffler[struct{}] {
	s := newShuffler[struct{}](n, size, seed, epoch)
	nothing := func(int64) (struct{}, error) { return struct{}{}, nil }
	for s.draws < draws {
		if _, _, ok, _ := s.draw(nothing); !ok {
			break
		}
	}
	return s
}
