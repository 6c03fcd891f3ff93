package inspect

import (
	"context"
	"fmt"
	"image"
	"strconv"

	"github.com/pretext-dev/pretext/inspect/render"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/vision"
)

func init() { registerTask(vision.TaskRotation, rotation) }

// rotations are the rotation column's values, as kind names.
var rotations = []string{"0", "1", "2", "3"}

// rotation measures the rotation task: the share of each k (uniform: drawn
// uniformly, or exactly a quarter each with all_rotations), the manifest's
// rotation/k counts, and that every input is its target turned k quarter
// turns counter-clockwise. For png and raw rows the input must equal
// vision.Rotate(target, k) pixel for pixel; a jpeg input is encoded on its
// own, so there k must be the rotation of the target closest to the input
// (the smallest mean absolute difference over the candidates of the input's
// shape).
func rotation(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg vision.RotationConfig) error {
	img := newImageRows()
	counts := map[string]int64{}
	var wrong, undecodable examples
	sample := newSampler(in.opts.Sample, func(r vision.RotationRow) vision.RotationRow {
		r.Input, r.Target = cloneBytes(r.Input), cloneBytes(r.Target)
		return r
	})
	err := scan(ctx, src, imageBatch, func(rows []vision.RotationRow) {
		for _, r := range rows {
			// An odd k swaps the input's sides: the target is checked at
			// the stated size, the input by the rotation gate below.
			first := r.Input
			if r.Rotation%2 != 0 {
				first = r.Target
			}
			img.add(r.Key, r.Variant, r.Width, r.Height, r.Encoding, first, r.Target)
			sample.offer(keyHash(r.Key, r.Variant), r)
			counts[strconv.Itoa(int(r.Rotation))]++
			if r.Rotation < 0 || r.Rotation > 3 {
				wrong.add("%s/%d: rotation %d is not 0…3", r.Key, r.Variant, r.Rotation)
				continue
			}
			w, h := int(r.Width), int(r.Height)
			iw, ih := w, h
			if r.Rotation%2 != 0 {
				iw, ih = h, w
			}
			target, err1 := decodeImage(r.Target, r.Encoding, w, h)
			input, err2 := decodeImage(r.Input, r.Encoding, iw, ih)
			if err1 != nil || err2 != nil {
				undecodable.add("%s/%d", r.Key, r.Variant)
				continue
			}
			if why := rotatedBy(input, target, int(r.Rotation), r.Encoding != "jpeg"); why != "" {
				wrong.add("%s/%d: %s", r.Key, r.Variant, why)
			}
		}
	})
	if err != nil {
		return err
	}
	rows := img.rows
	img.report(d, in.opts.Thresholds)
	kindShares(d, "rotation k", rotations, counts, rows)
	hist := Histogram{Title: "rotation k (quarter turns counter-clockwise)", Labels: rotations}
	for _, k := range rotations {
		hist.Counts = append(hist.Counts, counts[k])
	}
	d.hist(hist)
	if cfg.AllRotations {
		d.fact("all_rotations", "every image gives four rows, k = variant")
	}
	d.gate(zeroGate("input is the target turned k quarter turns", wrong.n, rows,
		"input = target rotated k×90° counter-clockwise (png, raw: pixel for pixel; jpeg: k is the closest rotation)", wrong.list))
	d.gate(zeroGate("input and target decode", undecodable.n, rows, "both decode, the input at the target's size turned k times", undecodable.list))
	statsGate(d, m, counted(counts, "rotation/"), src.complete(m), "rotation/")
	for _, r := range sample.rows() {
		iw, ih := r.Width, r.Height
		if r.Rotation%2 != 0 {
			iw, ih = ih, iw
		}
		d.SampleKeys = append(d.SampleKeys, r.Key)
		d.sheet = append(d.sheet, render.SheetRow{
			Caption: fmt.Sprintf("%s v%d | k=%d (%d° ccw)", r.Key, r.Variant, r.Rotation, 90*r.Rotation),
			Panels: []render.Panel{
				{Label: "input (rotated)", Image: picture(r.Input, r.Encoding, iw, ih)},
				{Label: "target (upright)", Image: picture(r.Target, r.Encoding, r.Width, r.Height)},
			},
		})
	}
	return nil
}

// rotatedBy says why input is not target turned k quarter turns ("" when it
// is): exact demands equal pixels; otherwise k must be the rotation of the
// target nearest to input among those of input's shape.
func rotatedBy(input, target *image.NRGBA, k int, exact bool) string {
	want := vision.Rotate(target, k)
	if want.Bounds().Size() != input.Bounds().Size() {
		return fmt.Sprintf("input is %v, the target turned %d times is %v", input.Bounds().Size(), k, want.Bounds().Size())
	}
	dk := meanAbsDiff(input, want)
	if exact {
		if dk != 0 {
			return fmt.Sprintf("input differs from the target turned %d times (mean |Δ| %.2f)", k, dk)
		}
		return ""
	}
	for j := range 4 {
		if j == k {
			continue
		}
		other := vision.Rotate(target, j)
		if other.Bounds().Size() == input.Bounds().Size() && meanAbsDiff(input, other) < dk {
			return fmt.Sprintf("input is closer to the target turned %d times than %d (mean |Δ| %.2f)", j, k, dk)
		}
	}
	return ""
}

// meanAbsDiff is the mean absolute difference of the colour channels of two
// images of one size.
func meanAbsDiff(a, b *image.NRGBA) float64 {
	var sum, n int64
	for i := 0; i+3 < len(a.Pix) && i+3 < len(b.Pix); i += 4 {
		for c := range 3 {
			d := int64(a.Pix[i+c]) - int64(b.Pix[i+c])
			if d < 0 {
				d = -d
			}
			sum += d
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(sum) / float64(n)
}
