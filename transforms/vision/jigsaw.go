package vision

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// TaskJigsaw is the name of the jigsaw-puzzle task.
const TaskJigsaw = "jigsaw"

// The jigsaw task (Noroozi & Favaro, "Unsupervised Learning of Visual
// Representations by Solving Jigsaw Puzzles", ECCV 2016): the image is cut
// into a grid×grid grid of cells, a tile is cropped from each cell at a
// random offset inside it (so that the tiles do not abut where the cells
// did, and a network cannot match edges or lines across them), and the
// tiles are laid out, abutting, in the order of one permutation drawn from a
// fixed set chosen by maximal Hamming distance; the network predicts which
// permutation. The set is stored in the manifest's info ("permutations", a
// list of lists), for the inspector and the trainer, whose classes are its
// indices.
//
// The tiles' pixels are stored raw: the paper's per-tile normalisation and
// colour jitter (against low-level and chromatic shortcuts) belong to the
// loader and trainer, which may want them different per epoch. The trainer
// normalises each tile (mean and deviation); it does no colour jitter.
func init() {
	transforms.Register(transforms.Task{
		Name: TaskJigsaw, Modality: "image",
		Doc:       "tiles of a grid×grid cut, cropped at random offsets in their cells, shuffled by one of a fixed set of permutations → its index (Noroozi & Favaro 2016)",
		NewConfig: func() transforms.Config { c := DefaultJigsawConfig(); return &c },
		Format:    sinks.FormatOf[JigsawRow](),
		Impl:      jigsawer{},
		Info:      jigsawInfo,
	})
}

// JigsawConfig configures the jigsaw task.
type JigsawConfig struct {
	// Variants is the number of rows per image, each with its own
	// permutation and tile offsets.
	Variants int `yaml:"variants" json:"variants"`
	// Grid is the number of cells per side: grid² tiles (the paper's 3).
	Grid int `yaml:"grid" json:"grid"`
	// TileJitter is the share of a cell's side a tile leaves out: a tile's
	// side is round(cell·(1 − tile_jitter)), and it is cropped at a random
	// offset inside its cell, so neighbouring tiles are separated by a gap
	// of random width (the paper's 64-pixel tiles in 75-pixel cells are
	// about 0.15).
	TileJitter float64 `yaml:"tile_jitter" json:"tile_jitter"`
	// NumPermutations is the size of the permutation set (the classes).
	NumPermutations int `yaml:"num_permutations" json:"num_permutations"`
}

// DefaultJigsawConfig returns the paper's setting: a 3×3 grid, tiles of
// 85% of their cell's side, 100 permutations, one row per image.
func DefaultJigsawConfig() JigsawConfig {
	return JigsawConfig{Variants: 1, Grid: 3, TileJitter: 0.15, NumPermutations: 100}
}

// maxJigsawGrid and maxJigsawPermutations bound the config: beyond 5×5 a
// tile of a usual image is too small to tell anything, and beyond 1000
// classes the set's greedy search (per worker, at start-up) grows slow.
const (
	maxJigsawGrid         = 5
	maxJigsawPermutations = 1000
)

// Validate implements transforms.Config.
func (c JigsawConfig) Validate(path string) error {
	f := transforms.Fields{Path: path}
	f.AtLeast("variants", c.Variants, 1)
	gridOK := c.Grid >= 2 && c.Grid <= maxJigsawGrid
	if !gridOK {
		f.Addf("grid", "must be in [2, %d] (got %d)", maxJigsawGrid, c.Grid)
	}
	if !(c.TileJitter >= 0 && c.TileJitter < 0.9) {
		f.Addf("tile_jitter", "must be in [0, 0.9) (got %g)", c.TileJitter)
	}
	most := maxJigsawPermutations
	if gridOK {
		most = min(most, permutationsOf(c.Grid*c.Grid))
	}
	if c.NumPermutations < 2 || c.NumPermutations > most {
		f.Addf("num_permutations", "must be in [2, %d] (got %d)", most, c.NumPermutations)
	}
	return f.Err()
}

// permutationsOf is m!, or MaxInt when it is larger than any set we allow.
func permutationsOf(m int) int {
	n := 1
	for i := 2; i <= m; i++ {
		if n > math.MaxInt32/i {
			return math.MaxInt
		}
		n *= i
	}
	return n
}

// JigsawRow is one example of the jigsaw task. Input is the grid·tile
// square of shuffled tiles: its tile i (row-major) is the crop of cell
// Permutation[i] of the target (row-major cells of width/grid ×
// height/grid pixels, any remainder at the right and bottom unused), taken
// at that cell's offset. Width and Height are the target's.
type JigsawRow struct {
	Key      string `parquet:"key"`
	Source   string `parquet:"source"`
	Variant  int32  `parquet:"variant"`
	Split    string `parquet:"split"`
	Width    int32  `parquet:"width"`
	Height   int32  `parquet:"height"`
	Encoding string `parquet:"encoding"`
	Input    []byte `parquet:"input"`
	Target   []byte `parquet:"target"`
	// PermutationIndex is the permutation's index in the manifest's
	// info.permutations: the class.
	PermutationIndex int32 `parquet:"permutation_index"`
	// Permutation is info.permutations[PermutationIndex].
	Permutation []int32 `parquet:"permutation,list"`
	Grid        int32   `parquet:"grid"`
	// Tile is the tiles' side in pixels.
	Tile int32 `parquet:"tile"`
	// TileOffsets are x, y of each tile's crop inside its cell, in cell
	// order: [x0, y0, x1, y1, …].
	TileOffsets []int32 `parquet:"tile_offsets,list"`
}

func (r JigsawRow) RowKey() string    { return r.Key }
func (r JigsawRow) RowVariant() int32 { return r.Variant }

// JigsawTile is the side of the tiles cut from cells of cw×ch pixels with
// tile_jitter jitter: round(min(cw, ch)·(1 − jitter)). Below 1 the image is
// too small for its grid.
func JigsawTile(cw, ch int, jitter float64) int {
	return int(math.Round(float64(min(cw, ch)) * (1 - jitter)))
}

// JigsawInput lays out the tiles of img: tile i of the grid·tile square
// (row-major) is the tile×tile crop of cell perm[i] of img at that cell's
// offset (offsets[2c], offsets[2c+1]) in it, cells being width/grid ×
// height/grid. The caller checks that every crop lies inside its cell.
// With the identity permutation it gives every cell's crop in place: what
// the inspector compares a row's tiles with.
func JigsawInput(img *image.NRGBA, grid, tile int, perm, offsets []int32) *image.NRGBA {
	b := img.Bounds()
	cw, ch := b.Dx()/grid, b.Dy()/grid
	out := image.NewNRGBA(image.Rect(0, 0, grid*tile, grid*tile))
	for i, c := range perm {
		sx := b.Min.X + int(c)%grid*cw + int(offsets[2*c])
		sy := b.Min.Y + int(c)/grid*ch + int(offsets[2*c+1])
		dx, dy := i%grid*tile, i/grid*tile
		for y := range tile {
			src := img.Pix[img.PixOffset(sx, sy+y):]
			copy(out.Pix[out.PixOffset(dx, dy+y):out.PixOffset(dx+tile, dy+y)], src[:4*tile])
		}
	}
	return out
}

// JigsawPermutations returns the jigsaw task's permutation set for a
// grid×grid grid: n permutations of the grid² cells, chosen greedily by
// Hamming distance, a function of grid and n alone (not of the run's
// seed), so that every run, the inspector and the trainer agree on it; the
// manifest also stores it. Each call returns a fresh copy.
//
// The candidates are every permutation of the cells, in lexicographic
// order, for a grid of up to 3 (9! = 362,880), and otherwise a pool of
// jigsawPool permutations drawn by a generator of constant seed. The first
// permutation is a candidate drawn by that generator; each next one is the
// candidate whose least Hamming distance to those already chosen is
// largest, ties going to the larger sum of distances, then to the lower
// candidate index. The paper's algorithm maximises the mean distance
// alone; maximising the least distance first keeps the two closest classes
// apart (100 permutations of 3×3 differ pairwise in at least 6 cells,
// 1000 in at least 5). Since the choice never depends on n, the set of n
// permutations begins with the set of fewer.
func JigsawPermutations(grid, n int) ([][]int, error) {
	set, err := jigsawSet(grid, n)
	if err != nil {
		return nil, err
	}
	m := grid * grid
	out := make([][]int, n)
	for k := range out {
		out[k] = make([]int, m)
		for j := range m {
			out[k][j] = int(set[k*m+j])
		}
	}
	return out, nil
}

// jigsawPool is the number of candidate permutations for a grid of 4 or 5.
const jigsawPool = 20000

// jigsawSeed1 and jigsawSeed2 seed the generator of the first permutation
// and of the pool.
const jigsawSeed1, jigsawSeed2 = 0x6a6967736177, 2016

var jigsawSets = struct {
	sync.Mutex
	m map[[2]int]*jigsawEntry
}{m: map[[2]int]*jigsawEntry{}}

type jigsawEntry struct {
	once sync.Once
	set  []uint8
	err  error
}

// jigsawSet is JigsawPermutations' set, n rows of grid² cells, computed once
// per (grid, n) per process: the labeler asks for it per image. The slice
// is shared: callers must not modify it.
func jigsawSet(grid, n int) ([]uint8, error) {
	jigsawSets.Lock()
	e := jigsawSets.m[[2]int{grid, n}]
	if e == nil {
		e = &jigsawEntry{}
		jigsawSets.m[[2]int{grid, n}] = e
	}
	jigsawSets.Unlock()
	e.once.Do(func() { e.set, e.err = greedyPermutations(grid, n) })
	return e.set, e.err
}

func greedyPermutations(grid, n int) ([]uint8, error) {
	if grid < 2 || grid > maxJigsawGrid {
		return nil, fmt.Errorf("vision: jigsaw grid %d is not in [2, %d]", grid, maxJigsawGrid)
	}
	m := grid * grid
	if n < 1 || n > maxJigsawPermutations || n > permutationsOf(m) {
		return nil, fmt.Errorf("vision: %d jigsaw permutations of %d cells: must be in [1, %d]", n, m, min(maxJigsawPermutations, permutationsOf(m)))
	}
	rng := rand.New(rand.NewPCG(jigsawSeed1, jigsawSeed2))
	var cands []uint8
	if grid <= 3 {
		cands = allPermutations(m)
	} else {
		cands = make([]uint8, 0, jigsawPool*m)
		for range jigsawPool {
			for _, v := range rng.Perm(m) {
				cands = append(cands, uint8(v))
			}
		}
	}
	count := len(cands) / m
	// Each candidate packed a cell a byte into words words, so that a
	// distance is a few word operations: the search over 9! candidates is
	// the start-up cost of every worker.
	words := (m + 7) / 8
	packed := make([]uint64, count*words)
	for j := range count {
		for i, v := range cands[j*m : (j+1)*m] {
			packed[j*words+i/8] |= uint64(v) << (8 * (i % 8))
		}
	}
	// Per candidate, the least and the sum of its distances to the chosen.
	least := make([]uint8, count)
	sum := make([]int32, count)
	for j := range least {
		least[j] = math.MaxUint8
	}
	set := make([]uint8, 0, n*m)
	pick := rng.IntN(count)
	for {
		set = append(set, cands[pick*m:(pick+1)*m]...)
		if len(set) == n*m {
			return set, nil
		}
		p := packed[pick*words : (pick+1)*words]
		best, bestLeast, bestSum := -1, uint8(0), int32(-1)
		for j := range count {
			d := uint8(differentBytes(packed[j*words:(j+1)*words], p))
			least[j] = min(least[j], d)
			sum[j] += int32(d)
			if least[j] > bestLeast || (least[j] == bestLeast && least[j] > 0 && sum[j] > bestSum) {
				best, bestLeast, bestSum = j, least[j], sum[j]
			}
		}
		if best < 0 {
			return nil, errors.New("vision: jigsaw: fewer distinct candidate permutations than asked for")
		}
		pick = best
	}
}

// differentBytes counts the bytes in which a and b differ: the Hamming
// distance of two packed permutations. Each byte of a^b is folded onto its
// lowest bit (the shifts carry other bytes' bits only into the bits the
// mask drops).
func differentBytes(a, b []uint64) int {
	d := 0
	for w := range a {
		x := a[w] ^ b[w]
		x |= x >> 4
		x |= x >> 2
		x |= x >> 1
		d += bits.OnesCount64(x & 0x0101010101010101)
	}
	return d
}

// allPermutations lists every permutation of 0…m−1 in lexicographic order,
// m bytes each.
func allPermutations(m int) []uint8 {
	p := make([]uint8, m)
	for i := range p {
		p[i] = uint8(i)
	}
	out := make([]uint8, 0, permutationsOf(m)*m)
	for {
		out = append(out, p...)
		// The next permutation: the last ascent i, swapped with the last
		// element above p[i], then the tail reversed.
		i := m - 2
		for i >= 0 && p[i] >= p[i+1] {
			i--
		}
		if i < 0 {
			return out
		}
		j := m - 1
		for p[j] <= p[i] {
			j--
		}
		p[i], p[j] = p[j], p[i]
		for a, b := i+1, m-1; a < b; a, b = a+1, b-1 {
			p[a], p[b] = p[b], p[a]
		}
	}
}

// jigsawInfo is the manifest's info: the permutation set, for readers. A
// config that Validate passed always has one.
func jigsawInfo(c transforms.Config) map[string]any {
	cfg := c.(*JigsawConfig)
	perms, err := JigsawPermutations(cfg.Grid, cfg.NumPermutations)
	if err != nil {
		return nil
	}
	return map[string]any{"permutations": perms}
}

type jigsawer struct{}

func (jigsawer) Variants(c transforms.Config) int { return c.(*JigsawConfig).Variants }

// Label draws, from rng and in this order, the permutation's index
// (uniform over the set) and each cell's tile offset (x then y, uniform
// over the positions inside the cell, cells in row-major order). An image
// too small for its grid (a cell or a tile under one pixel) is an error:
// a dead letter that says so.
func (jigsawer) Label(ex *Example, c transforms.Config, v int, rng *rand.Rand) (any, int, []string, error) {
	cfg := c.(*JigsawConfig)
	set, err := jigsawSet(cfg.Grid, cfg.NumPermutations)
	if err != nil {
		return nil, 0, nil, err
	}
	g, m := cfg.Grid, cfg.Grid*cfg.Grid
	b := ex.Image.Bounds()
	cw, ch := b.Dx()/g, b.Dy()/g
	t := JigsawTile(cw, ch, cfg.TileJitter)
	if cw < 1 || ch < 1 || t < 1 {
		least := max(1, int(math.Ceil(0.5/(1-cfg.TileJitter))))
		return nil, 0, nil, fmt.Errorf("a %d×%d image is too small for a %d×%d jigsaw: cells of %d×%d pixels give tiles of %d pixels (tile_jitter %g); it needs cells of at least %d pixels, an image of at least %d×%d",
			b.Dx(), b.Dy(), g, g, cw, ch, t, cfg.TileJitter, least, g*least, g*least)
	}
	k := rng.IntN(cfg.NumPermutations)
	perm := make([]int32, m)
	for i, p := range set[k*m : (k+1)*m] {
		perm[i] = int32(p)
	}
	offsets := make([]int32, 2*m)
	for i := 0; i < m; i++ {
		offsets[2*i] = int32(rng.IntN(cw - t + 1))
		offsets[2*i+1] = int32(rng.IntN(ch - t + 1))
	}
	input, target, err := ex.encode(JigsawInput(ex.Image, g, t, perm, offsets))
	if err != nil {
		return nil, 0, nil, err
	}
	row := JigsawRow{
		Key: ex.Key, Source: ex.Source, Variant: int32(v), Split: ex.Split,
		Width: int32(b.Dx()), Height: int32(b.Dy()), Encoding: ex.Encoding.Format,
		Input: input, Target: target, PermutationIndex: int32(k), Permutation: perm,
		Grid: int32(g), Tile: int32(t), TileOffsets: offsets,
	}
	return row, len(input) + len(target), []string{fmt.Sprintf("permutation/%d", k)}, nil
}

// IsPermutation reports whether p holds each of 0…len(p)−1 once: what every
// entry of a permutation set and every row's permutation must be.
func IsPermutation(p []int) bool {
	seen := make([]bool, len(p))
	for _, v := range p {
		if v < 0 || v >= len(p) || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}
