package inspect

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"slices"
	"strconv"

	"github.com/disintegration/imaging"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/pretext-dev/pretext/inspect/render"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/vision"
)

func init() { registerTask(vision.TaskJigsaw, jigsaw) }

// uniformP is the least p-value of the chi-square test of the permutation
// indices: the normal tail beyond Z standard errors on both sides (6.3·10⁻⁵
// at Z = 4), so that the uniformity gate fails a correct dataset as rarely
// as a share gate does.
var uniformP = math.Erfc(Z / math.Sqrt2)

// minExpected is the least expected count per permutation for the
// chi-square approximation to hold (the textbook 5): with fewer rows the
// uniformity is not judged, and the report says so.
const minExpected = 5

// jpegTileTolerance is the mean absolute difference (of 255) a jpeg tile
// may have from the crop its row names without another crop being asked
// for: jpeg noise at usual qualities stays well under it, and below it a
// nearly flat region (sky) may have another cell's crop closer by chance.
const jpegTileTolerance = 8

// jigsaw measures the jigsaw task: the permutation index uniform over the
// manifest's set (a chi-square test), each row's permutation the set's
// entry at its index, grid, tile and offsets as the config and the target's
// size make them, and every input tile the crop of the target that its
// permutation and offsets name: pixel for pixel for png and raw rows; for
// jpeg rows (the input encoded on its own) within jpegTileTolerance, or
// else no other cell's crop closer. The contact sheet shows the input with
// each tile's source cell written on it, the tiles put back in their cells,
// and the target.
func jigsaw(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg vision.JigsawConfig) error {
	g, cells := cfg.Grid, cfg.Grid*cfg.Grid
	perms, err := vision.JigsawPermutations(cfg.Grid, cfg.NumPermutations)
	if err != nil {
		return fmt.Errorf("inspect: jigsaw config: %w", err)
	}
	var stored [][]int
	switch err := m.InfoValue("permutations", &stored); {
	case err != nil:
		d.Problems = append(d.Problems, fmt.Sprintf("%v: the readers' classes are missing (rows are checked against this binary's set)", err))
	case !slices.EqualFunc(stored, perms, slices.Equal):
		if len(stored) != cfg.NumPermutations || slices.ContainsFunc(stored, func(p []int) bool { return len(p) != cells || !vision.IsPermutation(p) }) {
			d.Problems = append(d.Problems, fmt.Sprintf("manifest: info.permutations is not %d permutations of %d cells", cfg.NumPermutations, cells))
		} else {
			d.note("the manifest's permutation set is not the one this binary makes for grid %d and %d permutations: rows are checked against the manifest's", g, cfg.NumPermutations)
			perms = stored
		}
	}
	img := newImageRows()
	counts := make([]int64, len(perms))
	var wrongPerm, wrongLayout, wrongTile, undecodable examples
	var checked int64
	sample := newSampler(in.opts.Sample, func(r vision.JigsawRow) vision.JigsawRow {
		r.Input, r.Target = cloneBytes(r.Input), cloneBytes(r.Target)
		return r
	})
	err = scan(ctx, src, imageBatch, func(rows []vision.JigsawRow) {
		for _, r := range rows {
			// The input is a grid·tile square: the layout gate checks it.
			img.add(r.Key, r.Variant, r.Width, r.Height, r.Encoding, r.Target, r.Target)
			name := fmt.Sprintf("%s/%d", r.Key, r.Variant)
			k := int(r.PermutationIndex)
			if k < 0 || k >= len(perms) {
				wrongPerm.add("%s: permutation_index %d outside [0, %d)", name, k, len(perms))
				continue
			}
			counts[k]++
			if !slices.Equal(ints(r.Permutation), perms[k]) {
				wrongPerm.add("%s: permutation %v, the set's %d is %v", name, r.Permutation, k, perms[k])
				continue
			}
			if why := jigsawLayout(r, cfg); why != "" {
				wrongLayout.add("%s: %s", name, why)
				continue
			}
			sample.offer(keyHash(r.Key, r.Variant), r)
			side := int(r.Grid * r.Tile)
			target, err1 := decodeImage(r.Target, r.Encoding, int(r.Width), int(r.Height))
			input, err2 := decodeImage(r.Input, r.Encoding, side, side)
			if err1 != nil || err2 != nil {
				undecodable.add("%s", name)
				continue
			}
			checked++
			if why := tilesFrom(input, target, g, int(r.Tile), r.Permutation, r.TileOffsets, r.Encoding != "jpeg"); why != "" {
				wrongTile.add("%s: %s", name, why)
			}
		}
	})
	if err != nil {
		return err
	}
	rows := img.rows
	img.report(d, in.opts.Thresholds)
	least := cells
	for i := range perms {
		for j := range i {
			least = min(least, hammingOf(perms[i], perms[j]))
		}
	}
	d.fact("permutations", "%d of the %d×%d cells, any two differ in at least %d cells", len(perms), g, g, least)
	uniformity(d, counts)
	labels := make([]string, len(perms))
	for k := range labels {
		labels[k] = strconv.Itoa(k)
	}
	d.hist(Histogram{Title: "permutation index (rows)", Labels: labels, Counts: counts})
	d.gate(zeroGate("permutation from the set", wrongPerm.n, rows, "permutation_index in the manifest's info.permutations, permutation = info.permutations[permutation_index]", wrongPerm.list))
	d.gate(zeroGate("grid, tile and offsets", wrongLayout.n, rows,
		fmt.Sprintf("grid %d; tile = round(min(width, height)/%d·(1 − tile_jitter %g)); each cell's offset inside its cell; the input a grid·tile square", g, g, cfg.TileJitter), wrongLayout.list))
	d.gate(zeroGate("input and target decode", undecodable.n, rows, "both decode: the target at width×height, the input at grid·tile a side", undecodable.list))
	d.gate(zeroGate("each tile is the crop its permutation names", wrongTile.n, checked,
		fmt.Sprintf("input tile i = the tile×tile crop of target cell permutation[i] at that cell's offset (png, raw: pixel for pixel; jpeg: mean |Δ| <= %d of 255, or no other cell's crop closer)", jpegTileTolerance), wrongTile.list))
	perIndex := map[string]int64{}
	for k, n := range counts {
		if n > 0 {
			perIndex["permutation/"+strconv.Itoa(k)] = n
		}
	}
	statsGate(d, m, perIndex, src.complete(m), "permutation/")
	for _, r := range sample.rows() {
		d.SampleKeys = append(d.SampleKeys, r.Key)
		d.sheet = append(d.sheet, jigsawSheetRow(r))
	}
	return nil
}

// uniformity is the chi-square goodness-of-fit test of the permutation
// counts against the uniform draw: a gate at uniformP, or, with fewer than
// minExpected rows per permutation, a fact saying it was not judged.
func uniformity(d *Dataset, counts []int64) {
	var n int64
	for _, c := range counts {
		n += c
	}
	k := len(counts)
	if n < int64(minExpected*k) {
		d.fact("permutation uniformity", "not judged: %d rows over %d permutations; the chi-square test needs at least %d (%d per permutation)", n, k, minExpected*k, minExpected)
		return
	}
	e := float64(n) / float64(k)
	var x2 float64
	for _, c := range counts {
		x2 += (float64(c) - e) * (float64(c) - e) / e
	}
	p := distuv.ChiSquared{K: float64(k - 1)}.Survival(x2)
	d.fact("permutation uniformity", "chi-square %.1f on %d degrees of freedom, p = %.3g (%d rows, %.1f expected per permutation)", x2, k-1, p, n, e)
	d.metric("permutation_chi2", x2)
	d.metric("permutation_p", p)
	d.gate(Gate{Name: "permutation index uniform", OK: p >= uniformP,
		Measured: fmt.Sprintf("chi-square %.1f, %d df, p = %.3g", x2, k-1, p),
		Expected: fmt.Sprintf("p >= %.2g (chi-square goodness of fit to the uniform draw over the %d permutations; the tail of Z=%d)", uniformP, k, Z),
		Value:    ptr(p), Want: ptr(uniformP), N: n})
}

// jigsawLayout says why a row's grid, tile, offsets or input size are not
// what cfg and the target's size make them ("" when they are).
func jigsawLayout(r vision.JigsawRow, cfg vision.JigsawConfig) string {
	g := int(r.Grid)
	if g != cfg.Grid {
		return fmt.Sprintf("grid %d, config %d", g, cfg.Grid)
	}
	cw, ch := int(r.Width)/g, int(r.Height)/g
	t := vision.JigsawTile(cw, ch, cfg.TileJitter)
	if int(r.Tile) != t || t < 1 {
		return fmt.Sprintf("tile %d, cells of %d×%d with tile_jitter %g make %d", r.Tile, cw, ch, cfg.TileJitter, t)
	}
	if len(r.TileOffsets) != 2*g*g {
		return fmt.Sprintf("%d tile offsets for %d cells", len(r.TileOffsets), g*g)
	}
	for c := range g * g {
		x, y := int(r.TileOffsets[2*c]), int(r.TileOffsets[2*c+1])
		if x < 0 || y < 0 || x+t > cw || y+t > ch {
			return fmt.Sprintf("cell %d's tile at (%d, %d) leaves its %d×%d cell", c, x, y, cw, ch)
		}
	}
	if err := checkImage(r.Input, r.Encoding, g*t, g*t); err != nil {
		return fmt.Sprintf("input: %v (want %d×%d, grid·tile)", err, g*t, g*t)
	}
	return ""
}

// tilesFrom says why input's tiles are not the crops of target that perm
// and offsets name ("" when they are). exact demands equal pixels;
// otherwise a tile further than jpegTileTolerance from its crop fails when
// another cell's crop is closer. The layout is checked (jigsawLayout).
func tilesFrom(input, target *image.NRGBA, grid, tile int, perm, offsets []int32, exact bool) string {
	identity := make([]int32, grid*grid)
	for c := range identity {
		identity[c] = int32(c)
	}
	crops := vision.JigsawInput(target, grid, tile, identity, offsets) // cell c's crop in place c
	at := func(i int) image.Point { return image.Pt(i%grid*tile, i/grid*tile) }
	for i, c := range perm {
		d := tileDiff(input, crops, at(i), at(int(c)), tile)
		switch {
		case exact && d != 0:
			return fmt.Sprintf("tile %d differs from cell %d's crop (mean |Δ| %.2f)", i, c, d)
		case exact || d <= jpegTileTolerance:
			continue
		}
		nearest, dn := int(c), d
		for j := range identity {
			if dj := tileDiff(input, crops, at(i), at(j), tile); dj < dn {
				nearest, dn = j, dj
			}
		}
		if nearest != int(c) {
			return fmt.Sprintf("tile %d is closer to cell %d's crop (mean |Δ| %.2f) than to cell %d's (%.2f)", i, nearest, dn, c, d)
		}
	}
	return ""
}

// tileDiff is the mean absolute difference of the colour channels of the
// tile×tile squares of a at pa and b at pb.
func tileDiff(a, b *image.NRGBA, pa, pb image.Point, tile int) float64 {
	var sum int64
	for y := range tile {
		ra := a.Pix[a.PixOffset(pa.X, pa.Y+y):][:4*tile]
		rb := b.Pix[b.PixOffset(pb.X, pb.Y+y):][:4*tile]
		for x := 0; x < len(ra); x += 4 {
			for c := x; c < x+3; c++ {
				d := int64(ra[c]) - int64(rb[c])
				if d < 0 {
					d = -d
				}
				sum += d
			}
		}
	}
	return float64(sum) / float64(3*tile*tile)
}

// jigsawSheetRow shows a row: the input with each tile's source cell
// written in its corner (the caption lists them: the permutation), the tiles put back at their offsets in their cells
// (the target with gaps, when the labels are right), and the target.
func jigsawSheetRow(r vision.JigsawRow) render.SheetRow {
	g, t := int(r.Grid), int(r.Tile)
	input, err1 := decodeImage(r.Input, r.Encoding, g*t, g*t)
	target, err2 := decodeImage(r.Target, r.Encoding, int(r.Width), int(r.Height))
	row := render.SheetRow{Caption: fmt.Sprintf("%s v%d | permutation %d: %v", r.Key, r.Variant, r.PermutationIndex, r.Permutation)}
	if err1 != nil || err2 != nil {
		row.Panels = []render.Panel{{Label: "input"}, {Label: "target"}}
		return row
	}
	// Tiles put back: each at its offset in the cell it came from.
	back := image.NewNRGBA(target.Rect)
	draw.Draw(back, back.Rect, image.NewUniform(color.NRGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	cw, ch := target.Rect.Dx()/g, target.Rect.Dy()/g
	for i, c := range r.Permutation {
		at := image.Pt(int(c)%g*cw+int(r.TileOffsets[2*c]), int(c)/g*ch+int(r.TileOffsets[2*c+1]))
		draw.Draw(back, image.Rectangle{at, at.Add(image.Pt(t, t))}, input, image.Pt(i%g*t, i/g*t), draw.Src)
	}
	// The cell numbers are written after scaling to the panel, so that
	// they stay legible whatever the tiles' size.
	shown := imaging.Resize(input, PanelSize, PanelSize, imaging.Box)
	if g*t < PanelSize {
		shown = imaging.Resize(input, PanelSize, PanelSize, imaging.NearestNeighbor)
	}
	for i, c := range r.Permutation {
		x, y := i%g*PanelSize/g, i/g*PanelSize/g
		label := strconv.Itoa(int(c))
		draw.Draw(shown, image.Rect(x, y, x+7*len(label)+3, y+14), image.NewUniform(color.NRGBA{0, 0, 0, 200}), image.Point{}, draw.Over)
		(&font.Drawer{Dst: shown, Src: image.White, Face: basicfont.Face7x13, Dot: fixed.P(x+2, y+11)}).DrawString(label)
	}
	row.Panels = []render.Panel{
		{Label: "input (tile's cell)", Image: shown},
		{Label: "tiles put back", Image: back},
		{Label: "target", Image: target},
	}
	return row
}

func hammingOf(a, b []int) int {
	d := 0
	for i := range a {
		if a[i] != b[i] {
			d++
		}
	}
	return d
}

func ints(p []int32) []int {
	out := make([]int, len(p))
	for i, v := range p {
		out[i] = int(v)
	}
	return out
}
