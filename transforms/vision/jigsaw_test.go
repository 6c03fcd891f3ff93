package vision

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/transforms/seeding"
)

// hamming is the number of places where two permutations differ.
func hamming(a, b []int) int {
	d := 0
	for i := range a {
		if a[i] != b[i] {
			d++
		}
	}
	return d
}

// leastDistance is the least Hamming distance of p to any of set.
func leastDistance(p []int, set [][]int) (least, sum int) {
	least = len(p) + 1
	for _, q := range set {
		d := hamming(p, q)
		least = min(least, d)
		sum += d
	}
	return least, sum
}

// The permutation set: valid and distinct permutations; the same on every
// call (a fresh copy each time); the set of fewer a prefix of the set of
// more; greedy by the least Hamming distance to the permutations before it
// (checked against every candidate for a 2×2 grid, against random
// permutations for 3×3); and, for the default, the committed golden file,
// so that a change of the set, which would change every dataset's classes,
// is seen.
func TestJigsawPermutations(t *testing.T) {
	for _, c := range []struct{ grid, n int }{{2, 24}, {3, 100}, {4, 30}, {5, 12}} {
		set, err := JigsawPermutations(c.grid, c.n)
		if err != nil {
			t.Fatal(err)
		}
		if len(set) != c.n {
			t.Fatalf("grid %d: %d permutations, want %d", c.grid, len(set), c.n)
		}
		seen := map[string]bool{}
		for k, p := range set {
			if len(p) != c.grid*c.grid || !IsPermutation(p) {
				t.Fatalf("grid %d: permutation %d %v is not one of %d cells", c.grid, k, p, c.grid*c.grid)
			}
			if seen[fmt.Sprint(p)] {
				t.Fatalf("grid %d: permutation %d %v repeats", c.grid, k, p)
			}
			seen[fmt.Sprint(p)] = true
		}
		least := c.grid * c.grid
		for k := 1; k < len(set); k++ {
			d, _ := leastDistance(set[k], set[:k])
			least = min(least, d)
		}
		t.Logf("grid %d, %d permutations: least pairwise Hamming distance %d", c.grid, c.n, least)
		again, _ := JigsawPermutations(c.grid, c.n)
		if !slices.EqualFunc(set, again, slices.Equal) {
			t.Errorf("grid %d: two calls differ", c.grid)
		}
		again[0][0] = 99
		if third, _ := JigsawPermutations(c.grid, c.n); third[0][0] == 99 {
			t.Errorf("grid %d: a caller's change reached the next caller", c.grid)
		}
		fewer, _ := JigsawPermutations(c.grid, c.n/2)
		if !slices.EqualFunc(fewer, set[:c.n/2], slices.Equal) {
			t.Errorf("grid %d: the set of %d is not the first %d of the set of %d", c.grid, c.n/2, c.n/2, c.n)
		}
	}

	// Greedy: each permutation is at least as far from those before it as
	// any candidate not yet chosen (ties: by the sum of distances).
	all, _ := JigsawPermutations(2, 24)
	for k := 1; k < len(all); k++ {
		l, s := leastDistance(all[k], all[:k])
		for _, q := range all[k+1:] {
			if lq, sq := leastDistance(q, all[:k]); lq > l || (lq == l && sq > s) {
				t.Errorf("2×2, permutation %d %v (least %d, sum %d): %v is farther (least %d, sum %d)", k, all[k], l, s, q, lq, sq)
			}
		}
	}
	set, _ := JigsawPermutations(3, 100)
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 1; k < len(set); k += 7 {
		l, _ := leastDistance(set[k], set[:k])
		for range 200 {
			q := rng.Perm(9)
			if lq, _ := leastDistance(q, set[:k]); lq > l {
				t.Fatalf("3×3, permutation %d %v (least distance %d): %v is farther (%d)", k, set[k], l, q, lq)
			}
		}
	}
	if min3, _ := leastDistance(set[99], set[:99]); min3 < 6 {
		t.Errorf("3×3, 100 permutations: the last is %d cells from another, want >= 6", min3)
	}

	golden := filepath.Join("testdata", "jigsaw-permutations-3x3-100.json")
	got, _ := json.Marshal(set)
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if strings.TrimSpace(string(want)) != string(got) {
		t.Errorf("the default permutation set is not %s: datasets written before read their classes from their manifest, but the trainer's heads and the inspector's checks change", golden)
	}

	for _, bad := range []struct{ grid, n int }{{1, 2}, {6, 10}, {2, 25}, {3, 0}, {3, 1001}} {
		if _, err := JigsawPermutations(bad.grid, bad.n); err == nil {
			t.Errorf("grid %d, %d permutations: no error", bad.grid, bad.n)
		}
	}
}

// The labeller's rows: the input's tile i is the crop of cell
// permutation[i] at that cell's offset (checked pixel by pixel here, not
// with JigsawInput), offsets inside the cells, tile = round(cell·0.85) of
// the smaller cell side with the remainder of a non-square image unused,
// the permutation the set's, and the same row for the same rng.
func TestJigsawLabel(t *testing.T) {
	img := gradient(31, 34) // cells 10×11, tile round(8.5) = 9
	ex := &Example{Key: "k", Source: "s", Split: "train", Image: img, Encoding: Encoding{Format: "raw"}}
	cfg := DefaultJigsawConfig()
	cfg.NumPermutations = 8
	set, _ := JigsawPermutations(3, 8)
	counts := make([]int, 8)
	var xs, ys [3]bool // offset 0, middle, and the largest seen
	for v := range 400 {
		key := fmt.Sprintf("img%03d", v)
		row, size, stats, err := jigsawer{}.Label(ex, &cfg, v, seeding.New(7, TaskJigsaw, key, v))
		if err != nil {
			t.Fatal(err)
		}
		r := row.(JigsawRow)
		again, _, _, _ := jigsawer{}.Label(ex, &cfg, v, seeding.New(7, TaskJigsaw, key, v))
		if a := again.(JigsawRow); string(a.Input) != string(r.Input) || a.PermutationIndex != r.PermutationIndex {
			t.Fatalf("%s: two labels of one rng differ", key)
		}
		if r.Grid != 3 || r.Tile != 9 || r.Width != 31 || r.Height != 34 || size != len(r.Input)+len(r.Target) {
			t.Fatalf("%s: grid %d tile %d %d×%d size %d", key, r.Grid, r.Tile, r.Width, r.Height, size)
		}
		k := int(r.PermutationIndex)
		counts[k]++
		if stats[0] != fmt.Sprintf("permutation/%d", k) {
			t.Errorf("%s: stats %v", key, stats)
		}
		for i, p := range set[k] {
			if int(r.Permutation[i]) != p {
				t.Fatalf("%s: permutation %v, set[%d] is %v", key, r.Permutation, k, set[k])
			}
		}
		if len(r.Input) != 27*27*3 || len(r.TileOffsets) != 18 {
			t.Fatalf("%s: %d input bytes, %d offsets", key, len(r.Input), len(r.TileOffsets))
		}
		for c := range 9 {
			x, y := r.TileOffsets[2*c], r.TileOffsets[2*c+1]
			if x < 0 || x > 10-9 || y < 0 || y > 11-9 {
				t.Fatalf("%s: cell %d offset (%d, %d) outside its 10×11 cell", key, c, x, y)
			}
			xs[x], ys[y] = true, true
		}
		for i := range 9 {
			c := int(r.Permutation[i])
			ox, oy := c%3*10+int(r.TileOffsets[2*c]), c/3*11+int(r.TileOffsets[2*c+1])
			for y := range 9 {
				for x := range 9 {
					in := r.Input[3*((i/3*9+y)*27+i%3*9+x):]
					p := img.NRGBAAt(ox+x, oy+y)
					if in[0] != p.R || in[1] != p.G || in[2] != p.B {
						t.Fatalf("%s: input tile %d pixel (%d,%d) is not cell %d's at (%d,%d)", key, i, x, y, c, ox+x, oy+y)
					}
				}
			}
		}
	}
	for k, n := range counts {
		if n < 25 || n > 75 {
			t.Errorf("permutation %d drawn %d times of 400, want about 50", k, n)
		}
	}
	if !xs[0] || !xs[1] || !ys[0] || !ys[2] {
		t.Errorf("offsets seen x %v y %v: want every position of the cell", xs, ys)
	}
}

// An image too small for its grid is an error that says so, not a panic.
func TestJigsawTooSmall(t *testing.T) {
	cfg := DefaultJigsawConfig()
	cfg.TileJitter = 0.8
	for _, side := range []int{2, 4, 5} { // cells 0, 1 (tile 0) and 1
		ex := &Example{Key: "k", Image: gradient(side, side), Encoding: Encoding{Format: "png"}}
		_, _, _, err := jigsawer{}.Label(ex, &cfg, 0, seeding.New(1, TaskJigsaw, "k", 0))
		if err == nil || !strings.Contains(err.Error(), "too small") || !strings.Contains(err.Error(), "image of at least 9×9") {
			t.Errorf("%d×%d: err = %v", side, side, err)
		}
	}
	ex := &Example{Key: "k", Image: gradient(9, 9), Encoding: Encoding{Format: "png"}}
	if _, _, _, err := (jigsawer{}).Label(ex, &cfg, 0, seeding.New(1, TaskJigsaw, "k", 0)); err != nil {
		t.Errorf("9×9 (cells of 3, tiles of 1): %v", err)
	}
}

func TestJigsawValidate(t *testing.T) {
	if err := DefaultJigsawConfig().Validate("tasks.jigsaw"); err != nil {
		t.Errorf("defaults: %v", err)
	}
	err := JigsawConfig{Variants: 0, Grid: 6, TileJitter: 0.9, NumPermutations: 1}.Validate("tasks.jigsaw")
	for _, f := range []string{"variants", "grid", "tile_jitter", "num_permutations"} {
		if err == nil || !strings.Contains(err.Error(), "tasks.jigsaw."+f+":") {
			t.Errorf("want tasks.jigsaw.%s named: %v", f, err)
		}
	}
	err = JigsawConfig{Variants: 1, Grid: 2, TileJitter: 0, NumPermutations: 25}.Validate("tasks.jigsaw")
	if err == nil || !strings.Contains(err.Error(), "num_permutations: must be in [2, 24]") {
		t.Errorf("25 permutations of a 2×2 grid: %v", err)
	}
	if err := (JigsawConfig{Variants: 1, Grid: 3, TileJitter: -0.1, NumPermutations: 1000}).Validate("j"); err == nil || strings.Contains(err.Error(), "num_permutations") {
		t.Errorf("negative jitter, 1000 permutations: %v", err)
	}
}
