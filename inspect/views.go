package inspect

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/pretext-dev/pretext/inspect/render"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/vision"
)

func init() { registerTask(vision.TaskViews, views) }

// reproduceRows is the number of rows (those with the smallest key
// hashes) whose views the inspector makes again from their sources.
const reproduceRows = 32

// jpegViewTolerance is the mean absolute difference, of 255, a jpeg view
// may have from its params' view encoded again: the same encoder at the
// same quality gives 0, and a wrong crop, flip or colour gives tens.
const jpegViewTolerance = 1.0

// views measures the views task:
//
//   - the two views of a row differ (a labeller that reuses one view, or
//     one draw, for both fails);
//   - every view's params parse, fit the row (the views are side×side,
//     side the prepared image's shorter side; the crop inside the image;
//     one prepared image for both views) and, where they say a step was
//     taken, were drawn inside the config's ranges: the crop's area
//     fraction and ratio in crop_scale and crop_ratio up to the rounding
//     of its sides to whole pixels, or exactly torchvision's fallback
//     crop; jitter factors in [max(0, 1−v), 1+v] and hue in [−hue, hue];
//     blur σ in blur_sigma; a step of probability 0 never taken, of 1
//     always;
//   - the shares of flipped, jittered, grayed and blurred views against
//     their probabilities (binomial gates over the views, Bound);
//   - each view is its params' view of the prepared image: for up to
//     reproduceRows rows whose source can be read again, the source is
//     prepared with the manifest's image section (vision.Prepare), the
//     views are made with vision.ApplyView, encoded as the row's and
//     compared with the row's: png and raw pixel for pixel, jpeg within
//     jpegViewTolerance. Rows whose source cannot be read or prepared
//     (moved files, frames of videos) are counted as not judged, and a
//     fact says how many were;
//   - the manifest's views/… counts.
//
// The contact sheet shows the two views side by side, each with its
// params in short, and the params in full below it.
func views(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg vision.ViewsConfig) error {
	img := newImageRows()
	var (
		identical, badParams, outside examples
		counts                        = map[string]int64{"views/all": 0, "views/flip": 0, "views/jitter": 0, "views/gray": 0, "views/blur": 0}
		nviews, equalFallback         int64
		scales                        = make([]int64, 10)
		scaleSum                      float64
	)
	clone := func(r vision.ViewsRow) vision.ViewsRow {
		r.ViewA, r.ViewB = cloneBytes(r.ViewA), cloneBytes(r.ViewB)
		return r
	}
	sample := newSampler(in.opts.Sample, clone)
	judge := newSampler(reproduceRows, clone)
	err := scan(ctx, src, imageBatch, func(rows []vision.ViewsRow) {
		for _, r := range rows {
			name := fmt.Sprintf("%s/%d", r.Key, r.Variant)
			// view_a alone goes to the shared image checks: their
			// duplicate rate is over targets, which these rows have not.
			img.add(r.Key, r.Variant, r.Width, r.Height, r.Encoding, r.ViewA)
			if err := checkImage(r.ViewB, r.Encoding, int(r.Width), int(r.Height)); err != nil {
				img.bad.add("%s view_b: %v", name, err)
			}
			sample.offer(keyHash(r.Key, r.Variant), r)
			judge.offer(keyHash(r.Key, r.Variant), r)
			if bytes.Equal(r.ViewA, r.ViewB) {
				identical.add("%s", name)
			}
			var images [2][2]int
			for i, raw := range []string{r.ParamsA, r.ParamsB} {
				col := "params_" + string(rune('a'+i))
				p, err := vision.ParseViewParams(raw)
				if err != nil {
					badParams.add("%s %s: %v", name, col, err)
					continue
				}
				images[i] = p.Image
				if why := viewFits(p, r); why != "" {
					badParams.add("%s %s: %s", name, col, why)
					continue
				}
				nviews++
				counts["views/all"]++
				for _, s := range []struct {
					on   bool
					stat string
				}{{p.Flip, "views/flip"}, {p.Hue != nil, "views/jitter"}, {p.Gray, "views/gray"}, {p.BlurSigma != nil, "views/blur"}} {
					if s.on {
						counts[s.stat]++
					}
				}
				fallback, why := cropDrawn(p, cfg)
				if fallback {
					equalFallback++
				}
				if why == "" {
					why = drawnInRange(p, cfg)
				}
				if why != "" {
					outside.add("%s %s: %s", name, col, why)
				}
				s := float64(p.Crop[2]*p.Crop[3]) / float64(p.Image[0]*p.Image[1])
				scaleSum += s
				scales[decile(float32(s))]++
			}
			if images[0] != images[1] && images[0] != [2]int{} && images[1] != [2]int{} {
				badParams.add("%s: params_a of a %v image, params_b of a %v image", name, images[0], images[1])
			}
		}
	})
	if err != nil {
		return err
	}
	rows := img.rows
	img.report(d, in.opts.Thresholds)

	if varies(cfg) {
		d.gate(zeroGate("the two views differ", identical.n, rows, "view_a and view_b are two independent draws: no pair of identical images", identical.list))
	} else {
		d.fact("identical pairs", "%d of %d rows; not gated: the config draws no continuous parameter, so two views may be the same by design", identical.n, rows)
	}
	d.gate(zeroGate("params fit the row", badParams.n, 2*rows, "params_a and params_b parse, name one prepared image whose shorter side is width = height, and crop inside it", badParams.list))
	d.gate(zeroGate("parameters drawn in range", outside.n, nviews, fmt.Sprintf(
		"crop area fraction in crop_scale [%g, %g] and ratio w/h in crop_ratio [%g, %g] up to ±0.5 px per side (or exactly the fallback crop); "+
			"brightness, contrast, saturation in [max(0, 1−v), 1+v] for v = %g, %g, %g; hue in [−%g, %g]; blur σ in [%g, %g]; all four jitter factors set together; "+
			"a step of probability 0 never taken, of 1 always",
		cfg.CropScale[0], cfg.CropScale[1], cfg.CropRatio[0], cfg.CropRatio[1], cfg.Jitter.Brightness, cfg.Jitter.Contrast, cfg.Jitter.Saturation,
		cfg.Jitter.Hue, cfg.Jitter.Hue, cfg.BlurSigma[0], cfg.BlurSigma[1]), outside.list))

	var parts []string
	for _, s := range []struct {
		what, done, stat, key string
		p                     float64
	}{
		{"flip", "flipped", "views/flip", "flip_prob", cfg.FlipProb}, {"jitter", "jittered", "views/jitter", "jitter_prob", cfg.JitterProb},
		{"gray", "grayed", "views/gray", "gray_prob", cfg.GrayProb}, {"blur", "blurred", "views/blur", "blur_prob", cfg.BlurProb},
	} {
		v := share(counts[s.stat], nviews)
		parts = append(parts, fmt.Sprintf("%s %.3f", s.what, v))
		d.metric(s.what+"_share", v)
		d.gate(shareGate(s.what+" share", counts[s.stat], nviews, s.p, 0, fmt.Sprintf("each view is %s with probability %s", s.done, s.key)))
	}
	d.fact("shares of the views", "%s (over %d views)", strings.Join(parts, ", "), nviews)
	if tol := Bound(0.5, nviews); tol > 0.1 {
		d.fact("share gates", "too few views (%d) to judge the shares closely: a gate at probability 0.5 allows ±%.3f; more rows (variants) narrow it", nviews, tol)
	}
	d.fact("crop area", "mean %.3f of the image; %d crops are the fallback crop (manifest: %d drawn as the fallback)", scaleSum/math.Max(1, float64(nviews)), equalFallback, m.Stats["views/crop_fallback"])
	d.metric("crop_scale_mean", scaleSum/math.Max(1, float64(nviews)))
	d.hist(Histogram{Title: "crop area fraction (views)", Labels: shareLabels, Counts: scales})
	statsGate(d, m, counts, src.complete(m))

	reproduce(ctx, d, m, judge.rows())

	if len(sample.rows()) > 0 {
		d.note("contact sheet: each view is labelled with its crop's area fraction and a letter per step taken (F flip, J jitter, G gray, B blur); the params in full follow the sheet")
	}
	for _, r := range sample.rows() {
		d.SampleKeys = append(d.SampleKeys, r.Key)
		d.sheet = append(d.sheet, render.SheetRow{
			Caption: fmt.Sprintf("%s v%d", r.Key, r.Variant),
			Panels: []render.Panel{
				{Label: "a " + viewLabel(r.ParamsA), Image: picture(r.ViewA, r.Encoding, r.Width, r.Height)},
				{Label: "b " + viewLabel(r.ParamsB), Image: picture(r.ViewB, r.Encoding, r.Width, r.Height)},
			},
		})
		// The sheet's lines are short: the params in full go below it.
		d.fragments = append(d.fragments, render.TokensHTML(fmt.Sprintf("%s v%d · params_a %s · params_b %s", r.Key, r.Variant, r.ParamsA, r.ParamsB), nil))
	}
	return nil
}

// varies reports whether cfg draws a continuous parameter, so that two
// independent views are almost surely different.
func varies(cfg vision.ViewsConfig) bool {
	j := cfg.Jitter
	return cfg.CropScale[0] < cfg.CropScale[1] || cfg.CropRatio[0] < cfg.CropRatio[1] ||
		(cfg.JitterProb > 0 && j.Brightness+j.Contrast+j.Saturation+j.Hue > 0) ||
		(cfg.BlurProb > 0 && cfg.BlurSigma[0] < cfg.BlurSigma[1])
}

// viewFits says why p does not describe a view of r ("" when it does):
// the views are side×side, side the prepared image's shorter side, and
// the crop lies inside the image.
func viewFits(p vision.ViewParams, r vision.ViewsRow) string {
	w, h := p.Image[0], p.Image[1]
	if w < 1 || h < 1 {
		return fmt.Sprintf("image %v", p.Image)
	}
	if side := vision.ViewSide(w, h); int(r.Width) != side || int(r.Height) != side {
		return fmt.Sprintf("views of a %d×%d image are %d×%d, the row's %d×%d", w, h, side, side, r.Width, r.Height)
	}
	x, y, cw, ch := p.Crop[0], p.Crop[1], p.Crop[2], p.Crop[3]
	if x < 0 || y < 0 || cw < 1 || ch < 1 || x+cw > w || y+ch > h {
		return fmt.Sprintf("crop %v outside the %d×%d image", p.Crop, w, h)
	}
	return ""
}

// cropDrawn says whether p's crop is the fallback crop and, when it is
// not, why it cannot have been drawn from cfg's ranges ("" when it can):
// a crop of w×h pixels comes from an area A and ratio r with |w − √(A·r)|
// and |h − √(A/r)| at most 0.5, so (w+½)(h+½) ≥ A ≥ (w−½)(h−½) and
// (w+½)/(h−½) ≥ r ≥ (w−½)/(h+½).
func cropDrawn(p vision.ViewParams, cfg vision.ViewsConfig) (fallback bool, why string) {
	W, H := p.Image[0], p.Image[1]
	if p.Crop == vision.CropFallback(W, H, cfg.CropRatio) {
		return true, ""
	}
	w, h := float64(p.Crop[2]), float64(p.Crop[3])
	area := float64(W * H)
	const eps = 1e-9
	if (w+0.5)*(h+0.5) < cfg.CropScale[0]*area-eps || (w-0.5)*(h-0.5) > cfg.CropScale[1]*area+eps {
		return false, fmt.Sprintf("crop %v of a %d×%d image: area fraction %.4f outside crop_scale [%g, %g]", p.Crop, W, H, w*h/area, cfg.CropScale[0], cfg.CropScale[1])
	}
	if (w+0.5)/(h-0.5) < cfg.CropRatio[0]-eps || (w-0.5)/(h+0.5) > cfg.CropRatio[1]+eps {
		return false, fmt.Sprintf("crop %v: ratio %.4f outside crop_ratio [%g, %g]", p.Crop, w/h, cfg.CropRatio[0], cfg.CropRatio[1])
	}
	return false, ""
}

// drawnInRange says why a view's drawn factors or steps are not what cfg
// can draw ("" when they are).
func drawnInRange(p vision.ViewParams, cfg vision.ViewsConfig) string {
	j := cfg.Jitter
	set := 0
	for _, f := range []struct {
		name string
		v    *float64
		lo   float64
		hi   float64
	}{
		{"brightness", p.Brightness, max(0, 1-j.Brightness), 1 + j.Brightness},
		{"contrast", p.Contrast, max(0, 1-j.Contrast), 1 + j.Contrast},
		{"saturation", p.Saturation, max(0, 1-j.Saturation), 1 + j.Saturation},
		{"hue", p.Hue, -j.Hue, j.Hue},
	} {
		if f.v == nil {
			continue
		}
		set++
		if !within(*f.v, f.lo, f.hi) || math.IsNaN(*f.v) {
			return fmt.Sprintf("%s %g outside [%g, %g]", f.name, *f.v, f.lo, f.hi)
		}
	}
	if set != 0 && set != 4 {
		return fmt.Sprintf("%d of the four jitter factors set", set)
	}
	if p.BlurSigma != nil && (!within(*p.BlurSigma, cfg.BlurSigma[0], cfg.BlurSigma[1]) || math.IsNaN(*p.BlurSigma)) {
		return fmt.Sprintf("blur σ %g outside [%g, %g]", *p.BlurSigma, cfg.BlurSigma[0], cfg.BlurSigma[1])
	}
	for _, s := range []struct {
		name string
		on   bool
		p    float64
	}{{"flip", p.Flip, cfg.FlipProb}, {"jitter", set > 0, cfg.JitterProb}, {"gray", p.Gray, cfg.GrayProb}, {"blur", p.BlurSigma != nil, cfg.BlurProb}} {
		if (s.p == 0 && s.on) || (s.p == 1 && !s.on) {
			return fmt.Sprintf("%s %v with probability %g", s.name, s.on, s.p)
		}
	}
	return ""
}

// reproduce makes the views of the sampled rows again from their
// sources and gates them against the rows' (see views).
func reproduce(ctx context.Context, d *Dataset, m *sinks.Manifest, rows []vision.ViewsRow) {
	lc := stored(m)
	im := vision.DefaultOptions()
	notJudged := map[string]int64{}
	var wrong examples
	var judged int64
	switch err := sinks.Section(lc.Image, &im); {
	case lc.Modality != "image":
		notJudged[fmt.Sprintf("a %q dataset: its images are not files the inspector prepares again (video frames)", lc.Modality)] += int64(len(rows))
		rows = nil
	case err != nil:
		notJudged["the manifest's image section does not decode: "+err.Error()] += int64(len(rows))
		rows = nil
	}
	for _, r := range rows {
		if err := ctx.Err(); err != nil {
			notJudged["inspection cancelled"]++
			continue
		}
		data, reason, _, err := transforms.ReadInput(ctx, r.Source, -1, im.MaxBytes)
		if err != nil || reason != "" {
			notJudged["source unreadable"]++
			continue
		}
		ex, stage, reason, _ := vision.Prepare(r.Key, r.Source, data, im, transforms.Split{Train: 1})
		if stage != "" {
			notJudged[fmt.Sprintf("source does not prepare (%s %s)", stage, reason)]++
			continue
		}
		judged++
		enc := vision.Encoding{Format: r.Encoding, PNGLevel: im.PNGLevel, JPEGQuality: im.JPEGQuality}
		for i, v := range []struct {
			params string
			view   []byte
		}{{r.ParamsA, r.ViewA}, {r.ParamsB, r.ViewB}} {
			name := fmt.Sprintf("%s/%d view_%c", r.Key, r.Variant, 'a'+i)
			if why := viewMatches(ex, v.params, v.view, enc, int(r.Width), int(r.Height)); why != "" {
				wrong.add("%s: %s", name, why)
			}
		}
	}
	var why []string
	for _, k := range sortedKeys(notJudged) {
		why = append(why, fmt.Sprintf("%d %s", notJudged[k], k))
	}
	d.metric("reproduced_rows_judged", float64(judged))
	switch {
	case judged == 0:
		d.fact("reproducibility", "no row could be judged (%s): no view was made again from its params", orNone(why))
	default:
		d.fact("reproducibility", "%d of %d sampled rows judged from their sources; not judged: %s", judged, judged+sumCounts(notJudged), orNone(why))
		d.gate(zeroGate("views reproduce from their params", wrong.n, 2*judged, fmt.Sprintf(
			"each view = vision.ApplyView(the source prepared again, its params), encoded as the row's: png and raw pixel for pixel, jpeg within mean |Δ| %g (up to %d rows sampled by key hash)",
			jpegViewTolerance, reproduceRows), wrong.list))
	}
}

// viewMatches says why view is not the view params make of ex ("" when it
// is).
func viewMatches(ex *vision.Example, params string, view []byte, enc vision.Encoding, w, h int) string {
	p, err := vision.ParseViewParams(params)
	if err != nil {
		return err.Error()
	}
	want, err := vision.ApplyView(ex.Image, p, w)
	if err != nil {
		return err.Error()
	}
	b, err := vision.Encode(want, enc)
	if err != nil {
		return err.Error()
	}
	again, err1 := decodeImage(b, enc.Format, w, h)
	got, err2 := decodeImage(view, enc.Format, w, h)
	switch {
	case err1 != nil || err2 != nil:
		return fmt.Sprintf("does not decode: %v %v", err1, err2)
	case got.Bounds().Size() != again.Bounds().Size():
		return fmt.Sprintf("is %v, its params make %v", got.Bounds().Size(), again.Bounds().Size())
	}
	tol := 0.0
	if enc.Format == "jpeg" {
		tol = jpegViewTolerance
	}
	if dv := meanAbsDiff(got, again); dv > tol {
		return fmt.Sprintf("differs from its params' view (mean |Δ| %.2f)", dv)
	}
	return ""
}

// viewLabel is a view's params in short, for a contact sheet's panel:
// the crop's area fraction and a letter per step taken (F flip, J jitter,
// G gray, B blur).
func viewLabel(raw string) string {
	p, err := vision.ParseViewParams(raw)
	if err != nil || p.Image[0]*p.Image[1] == 0 {
		return "(params do not parse)"
	}
	s := fmt.Sprintf("%.2f ", float64(p.Crop[2]*p.Crop[3])/float64(p.Image[0]*p.Image[1]))
	for _, f := range []struct {
		on     bool
		letter string
	}{{p.Flip, "F"}, {p.Hue != nil, "J"}, {p.Gray, "G"}, {p.BlurSigma != nil, "B"}} {
		if f.on {
			s += f.letter
		}
	}
	return s
}

func sumCounts(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, "; ")
}
