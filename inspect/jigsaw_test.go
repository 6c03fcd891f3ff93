package inspect

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/seeding"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// texture is a size×size image of smooth colour gradients and noise, seeded:
// no two of its tiles alike.
func texture(size int, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 9))
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	a, b := rng.IntN(256), rng.IntN(256)
	for y := range size {
		for x := range size {
			p := img.Pix[img.PixOffset(x, y):]
			p[0] = uint8((a + 5*x + rng.IntN(40)) % 256)
			p[1] = uint8((b + 5*y + rng.IntN(40)) % 256)
			p[2] = uint8((3*x + 2*y + rng.IntN(60)) % 256)
			p[3] = 255
		}
	}
	return img
}

// jigsawRows labels images images variants times each with the jigsaw
// task's registered labeller, as the pipeline does.
func jigsawRows(t *testing.T, cfg vision.JigsawConfig, enc string, images int) []vision.JigsawRow {
	t.Helper()
	task, _ := transforms.Lookup(vision.TaskJigsaw)
	lab := task.Impl.(vision.Labeler)
	var rows []vision.JigsawRow
	for i := range images {
		key := fmt.Sprintf("img%02d.png", i)
		ex := &vision.Example{Key: key, Source: key, Split: "train", Image: texture(48, uint64(i)), Encoding: vision.Encoding{Format: enc, JPEGQuality: 90}}
		for v := range lab.Variants(&cfg) {
			row, _, _, err := lab.Label(ex, &cfg, v, seeding.New(1, vision.TaskJigsaw, key, v))
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, row.(vision.JigsawRow))
		}
	}
	return rows
}

// inspectJigsaw commits rows as a jigsaw dataset, with the manifest info
// the pipeline records, and inspects it.
func inspectJigsaw(t *testing.T, cfg vision.JigsawConfig, rows []vision.JigsawRow) *Report {
	t.Helper()
	task, _ := transforms.Lookup(vision.TaskJigsaw)
	dir := t.TempDir()
	commitRows(t, dir, testDataset{Task: vision.TaskJigsaw, Modality: "image", Config: cfg, Info: task.Info(&cfg)}, rows,
		func(w *sinks.Writer, r vision.JigsawRow) {
			w.Count(fmt.Sprintf("permutation/%d", r.PermutationIndex), 1)
		})
	rep, err := Run(context.Background(), Options{Dir: dir, Sample: 4})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// swapTiles returns r with input tiles a and b exchanged and nothing else
// changed: a labeller that shuffles tiles without saying so.
func swapTiles(t *testing.T, r vision.JigsawRow, a, b int) vision.JigsawRow {
	t.Helper()
	g, s := int(r.Grid), int(r.Tile)
	in, err := decodeImage(r.Input, r.Encoding, g*s, g*s)
	if err != nil {
		t.Fatal(err)
	}
	for y := range s {
		ra := in.Pix[in.PixOffset(a%g*s, a/g*s+y):][:4*s]
		rb := in.Pix[in.PixOffset(b%g*s, b/g*s+y):][:4*s]
		for i := range ra {
			ra[i], rb[i] = rb[i], ra[i]
		}
	}
	if r.Input, err = vision.Encode(in, vision.Encoding{Format: r.Encoding, JPEGQuality: 90}); err != nil {
		t.Fatal(err)
	}
	return r
}

func failed(rep *Report, gate string) bool {
	return strings.Contains(strings.Join(rep.Failures, "\n"), "jigsaw: "+gate)
}

// The jigsaw gates pass the labeller's rows (png and jpeg) and fail a
// labeller that swaps two tiles without updating the permutation, one that
// states another permutation than its index names, and a draw that is not
// uniform; with too few rows the uniformity is reported as not judged.
func TestJigsawGates(t *testing.T) {
	cfg := vision.DefaultJigsawConfig()
	cfg.NumPermutations, cfg.Variants = 10, 12
	for _, enc := range []string{"png", "jpeg"} {
		t.Run(enc, func(t *testing.T) {
			rows := jigsawRows(t, cfg, enc, 8) // 96 rows, 9.6 per permutation
			rep := inspectJigsaw(t, cfg, rows)
			if !rep.OK {
				t.Fatalf("the labeller's rows fail: %v", rep.Failures)
			}
			d := rep.Datasets[0]
			if _, ok := d.Metrics["permutation_p"]; !ok {
				t.Errorf("uniformity not judged on %d rows of 10 permutations: %v", len(rows), d.Facts)
			}
			if len(d.sheet) != 4 || len(d.sheet[0].Panels) != 3 {
				t.Errorf("contact sheet: %d rows", len(d.sheet))
			}

			swapped := append([]vision.JigsawRow(nil), rows...)
			for i := range swapped {
				swapped[i] = swapTiles(t, swapped[i], 0, 1+i%8)
			}
			rep = inspectJigsaw(t, cfg, swapped)
			if !failed(rep, "each tile is the crop its permutation names") {
				t.Errorf("swapped tiles: failures %v", rep.Failures)
			}
			if failed(rep, "permutation from the set") || failed(rep, "grid, tile and offsets") {
				t.Errorf("swapped tiles fail other gates: %v", rep.Failures)
			}
		})
	}

	rows := jigsawRows(t, cfg, "png", 8)
	lied := append([]vision.JigsawRow(nil), rows...)
	lied[5].PermutationIndex = (lied[5].PermutationIndex + 1) % 10
	if rep := inspectJigsaw(t, cfg, lied); !failed(rep, "permutation from the set") {
		t.Errorf("a permutation that is not its index's: failures %v", rep.Failures)
	}
	moved := append([]vision.JigsawRow(nil), rows...)
	moved[2].TileOffsets = append([]int32(nil), moved[2].TileOffsets...)
	moved[2].TileOffsets[0] = 48
	if rep := inspectJigsaw(t, cfg, moved); !failed(rep, "grid, tile and offsets") {
		t.Errorf("an offset outside its cell: failures %v", rep.Failures)
	}

	// Biased: only the rows of the first five permutations.
	cfg.Variants = 24
	var biased []vision.JigsawRow
	for _, r := range jigsawRows(t, cfg, "png", 8) {
		if r.PermutationIndex < 5 {
			biased = append(biased, r)
		}
	}
	rep := inspectJigsaw(t, cfg, biased)
	if !failed(rep, "permutation index uniform") || failed(rep, "each tile is the crop") {
		t.Errorf("%d rows of half the permutations: failures %v", len(biased), rep.Failures)
	}

	few := inspectJigsaw(t, cfg, rows[:30])
	if !few.OK {
		t.Fatalf("30 rows: %v", few.Failures)
	}
	judged := ""
	for _, f := range few.Datasets[0].Facts {
		if f.Name == "permutation uniformity" {
			judged = f.Value
		}
	}
	if !strings.HasPrefix(judged, "not judged: 30 rows over 10 permutations") {
		t.Errorf("30 rows of 10 permutations: uniformity %q", judged)
	}
}

// The tile check on lossy tiles: a tile within the tolerance of its crop
// passes even where another crop is closer (a flat region), and one far
// from its crop fails when another crop is closer.
func TestTilesFrom(t *testing.T) {
	target := texture(30, 1)
	// Cells 0 and 1 flat and nearly alike: tiles 0 and 1 cannot be told apart.
	for y := range 10 {
		for x := range 20 {
			p := target.Pix[target.PixOffset(x, y):]
			p[0], p[1], p[2] = 100+uint8(x/10), 100, 100
		}
	}
	perm := []int32{1, 0, 2, 3, 4, 5, 6, 7, 8}
	offsets := make([]int32, 18)
	in := vision.JigsawInput(target, 3, 8, perm, offsets)
	if why := tilesFrom(in, target, 3, 8, perm, offsets, true); why != "" {
		t.Errorf("exact: %s", why)
	}
	near := []int32{0, 1, 2, 3, 4, 5, 6, 7, 8} // the flat tiles swapped
	if why := tilesFrom(in, target, 3, 8, near, offsets, true); why == "" {
		t.Error("exact: flat tiles swapped passed")
	}
	if why := tilesFrom(in, target, 3, 8, near, offsets, false); why != "" {
		t.Errorf("lossy: flat tiles 1 level apart swapped: %s", why)
	}
	far := []int32{1, 0, 2, 3, 4, 5, 7, 6, 8} // textured tiles 6 and 7 swapped
	if why := tilesFrom(in, target, 3, 8, far, offsets, false); !strings.Contains(why, "tile 6 is closer to cell 6's crop") {
		t.Errorf("lossy: textured tiles swapped: %q", why)
	}
}
