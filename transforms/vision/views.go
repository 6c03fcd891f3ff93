package vision

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/disintegration/imaging"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// TaskViews is the name of the contrastive-views task.
const TaskViews = "views"

// The views task (Chen, Kornblith, Norouzi & Hinton, "A Simple Framework
// for Contrastive Learning of Visual Representations", ICML 2020 — SimCLR;
// MoCo and BYOL train on the same pairs): two views of one prepared image,
// each augmented independently by SimCLR's chain — random resized crop,
// horizontal flip, colour jitter, grayscale, Gaussian blur — with SimCLR's
// parameters as the defaults. A row holds one positive pair; the negatives
// of a pair are the other rows of its batch (NT-Xent), so rows carry no
// label. Each view's parameters are stored beside it (params_a,
// params_b), enough to make the view again from the prepared image with
// ApplyView: the inspector does, for a sample of rows.
func init() {
	transforms.Register(transforms.Task{
		Name: TaskViews, Modality: "image",
		Doc:       "two independently augmented views of one image (crop, flip, colour jitter, gray, blur) and their parameters, for contrastive learning (SimCLR, Chen et al. 2020)",
		NewConfig: func() transforms.Config { c := DefaultViewsConfig(); return &c },
		Format:    sinks.FormatOf[ViewsRow](),
		Impl:      viewer{},
		Rates: []sinks.Rate{
			{Name: "flip_share", Num: "views/flip", Den: "views/all"},
			{Name: "jitter_share", Num: "views/jitter", Den: "views/all"},
			{Name: "gray_share", Num: "views/gray", Den: "views/all"},
			{Name: "blur_share", Num: "views/blur", Den: "views/all"},
			{Name: "crop_fallback_share", Num: "views/crop_fallback", Den: "views/all"},
		},
	})
}

// ViewsConfig configures the views task. Every probability is per view:
// the two views of a row draw everything independently.
type ViewsConfig struct {
	// Variants is the number of rows (pairs) per image, each with its own
	// draws. The views of a row are fixed once written: more variants give
	// a trainer more distinct views of each image.
	Variants int `yaml:"variants" json:"variants"`
	// CropScale is the range of the crop's area as a fraction of the
	// prepared image's (torchvision's RandomResizedCrop scale).
	CropScale [2]float64 `yaml:"crop_scale" json:"crop_scale"`
	// CropRatio is the range of the crop's aspect ratio w/h, drawn
	// log-uniformly.
	CropRatio [2]float64 `yaml:"crop_ratio" json:"crop_ratio"`
	// FlipProb is the probability of a horizontal flip.
	FlipProb float64 `yaml:"flip_prob" json:"flip_prob"`
	// JitterProb is the probability of colour jitter (all four of its
	// adjustments together, as SimCLR's RandomApply).
	JitterProb float64 `yaml:"jitter_prob" json:"jitter_prob"`
	// Jitter is the colour jitter's strengths.
	Jitter Jitter `yaml:"jitter" json:"jitter"`
	// GrayProb is the probability of turning the view gray.
	GrayProb float64 `yaml:"gray_prob" json:"gray_prob"`
	// BlurProb is the probability of a Gaussian blur.
	BlurProb float64 `yaml:"blur_prob" json:"blur_prob"`
	// BlurSigma is the range of the blur's σ in pixels of the view,
	// drawn uniformly.
	BlurSigma [2]float64 `yaml:"blur_sigma" json:"blur_sigma"`
}

// Jitter is colour jitter's strengths, as torchvision's ColorJitter takes
// them: brightness, contrast and saturation factors are drawn uniformly in
// [max(0, 1−v), 1+v], the hue shift in [−hue, hue] (of a full turn).
type Jitter struct {
	Brightness float64 `yaml:"brightness" json:"brightness"`
	Contrast   float64 `yaml:"contrast" json:"contrast"`
	Saturation float64 `yaml:"saturation" json:"saturation"`
	Hue        float64 `yaml:"hue" json:"hue"`
}

// DefaultViewsConfig returns SimCLR's augmentation (Chen et al. 2020,
// appendix A; blur with probability 0.5 and σ in [0.1, 2.0] as for
// ImageNet), one pair per image.
func DefaultViewsConfig() ViewsConfig {
	return ViewsConfig{
		Variants:   1,
		CropScale:  [2]float64{0.08, 1},
		CropRatio:  [2]float64{3.0 / 4, 4.0 / 3},
		FlipProb:   0.5,
		JitterProb: 0.8,
		Jitter:     Jitter{Brightness: 0.4, Contrast: 0.4, Saturation: 0.4, Hue: 0.1},
		GrayProb:   0.2,
		BlurProb:   0.5,
		BlurSigma:  [2]float64{0.1, 2.0},
	}
}

// maxBlurSigma bounds blur_sigma: the kernel reaches 3σ each side, so a
// σ of 64 pixels already averages over 385 pixels per pass.
const maxBlurSigma = 64

// Validate reports every bad field, each prefixed with path.
func (c ViewsConfig) Validate(path string) error {
	f := transforms.Fields{Path: path}
	f.AtLeast("variants", c.Variants, 1)
	f.Span("crop_scale", c.CropScale, 0, 1, true)
	f.Span("crop_ratio", c.CropRatio, 0, math.Inf(1), true)
	f.Within("flip_prob", c.FlipProb, 0, 1)
	f.Within("jitter_prob", c.JitterProb, 0, 1)
	for _, s := range []struct {
		name string
		v    float64
	}{{"brightness", c.Jitter.Brightness}, {"contrast", c.Jitter.Contrast}, {"saturation", c.Jitter.Saturation}} {
		if !(s.v >= 0) || math.IsInf(s.v, 1) {
			f.Addf("jitter."+s.name, "must be a finite number >= 0 (got %g)", s.v)
		}
	}
	f.Within("jitter.hue", c.Jitter.Hue, 0, 0.5)
	f.Within("gray_prob", c.GrayProb, 0, 1)
	f.Within("blur_prob", c.BlurProb, 0, 1)
	f.Span("blur_sigma", c.BlurSigma, 0, maxBlurSigma, true)
	return f.Err()
}

// ViewsRow is one example of the views task: two views of one image, both
// side×side where side is the prepared image's shorter side (Width and
// Height are the views'), and the parameters each was made with, as JSON
// (ViewParams).
type ViewsRow struct {
	Key      string `parquet:"key"`
	Source   string `parquet:"source"`
	Variant  int32  `parquet:"variant"`
	Split    string `parquet:"split"`
	Width    int32  `parquet:"width"`
	Height   int32  `parquet:"height"`
	Encoding string `parquet:"encoding"`
	ViewA    []byte `parquet:"view_a"`
	ViewB    []byte `parquet:"view_b"`
	ParamsA  string `parquet:"params_a"`
	ParamsB  string `parquet:"params_b"`
}

func (r ViewsRow) RowKey() string    { return r.Key }
func (r ViewsRow) RowVariant() int32 { return r.Variant }

// ViewParams are the parameters of one view: with the prepared image they
// make the view again (ApplyView). They are stored as JSON in the fields'
// order; a pointer is null when its step was skipped.
type ViewParams struct {
	// Crop is x, y, w, h of the crop in pixels of the prepared image.
	Crop [4]int `json:"crop"`
	// Flip says the crop was flipped horizontally.
	Flip bool `json:"flip"`
	// Brightness, Contrast and Saturation are the drawn factors (1: no
	// change) and Hue the drawn shift in turns; all four are null when
	// colour jitter was skipped. A strength of 0 draws nothing and gives
	// the identity (1, or 0 for hue).
	Brightness *float64 `json:"brightness"`
	Contrast   *float64 `json:"contrast"`
	Saturation *float64 `json:"saturation"`
	Hue        *float64 `json:"hue"`
	// Gray says the view was turned gray.
	Gray bool `json:"gray"`
	// BlurSigma is the blur's σ in pixels of the view, null when not
	// blurred.
	BlurSigma *float64 `json:"blur_sigma"`
	// Image is the prepared image's width and height: a crop's scale is a
	// fraction of its area, so a reader judging crop_scale needs it.
	Image [2]int `json:"image"`
}

// ParseViewParams decodes a params_a or params_b column strictly: an
// unknown key is an error.
func ParseViewParams(s string) (ViewParams, error) {
	var p ViewParams
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return ViewParams{}, fmt.Errorf("vision: view params %q: %w", s, err)
	}
	return p, nil
}

// CropFallback is the crop a random resized crop takes when none of its
// ten attempts fits a w×h image (torchvision's fallback): the central crop
// of the whole width or height with the image's aspect ratio clamped to
// ratio, or the whole image when its ratio is inside; x, y, w, h.
func CropFallback(w, h int, ratio [2]float64) [4]int {
	cw, ch := w, h
	switch in := float64(w) / float64(h); {
	case in < ratio[0]:
		ch = min(h, max(1, int(math.RoundToEven(float64(w)/ratio[0]))))
	case in > ratio[1]:
		cw = min(w, max(1, int(math.RoundToEven(float64(float64(h)*ratio[1])))))
	}
	return [4]int{(w - cw) / 2, (h - ch) / 2, cw, ch}
}

// cropAttempts is the number of crops a random resized crop draws before
// its fallback, as torchvision's.
const cropAttempts = 10

// drawCrop is torchvision's RandomResizedCrop.get_params on a w×h image:
// up to ten attempts, each an area fraction uniform in cfg.CropScale and
// a ratio log-uniform in cfg.CropRatio, giving w' = round(√(A·r)), h' =
// round(√(A/r)) (Python's round, half to even); the first that fits is
// placed at a uniform y then x. fallback says none fitted.
func drawCrop(w, h int, cfg ViewsConfig, rng *rand.Rand) (crop [4]int, fallback bool) {
	area := float64(w * h)
	lr0, lr1 := math.Log(cfg.CropRatio[0]), math.Log(cfg.CropRatio[1])
	for range cropAttempts {
		target := float64(area * between(rng, cfg.CropScale))
		ratio := math.Exp(between(rng, [2]float64{lr0, lr1}))
		cw := int(math.RoundToEven(math.Sqrt(float64(target * ratio))))
		ch := int(math.RoundToEven(math.Sqrt(target / ratio)))
		if cw > 0 && cw <= w && ch > 0 && ch <= h {
			y := rng.IntN(h - ch + 1)
			x := rng.IntN(w - cw + 1)
			return [4]int{x, y, cw, ch}, false
		}
	}
	return CropFallback(w, h, cfg.CropRatio), true
}

// between draws uniformly in [r0, r1), with the product rounded on its own
// (no FMA).
func between(rng *rand.Rand, r [2]float64) float64 {
	return r[0] + float64(rng.Float64()*(r[1]-r[0]))
}

// viewDraw is one view's parameters and whether its crop is the fallback.
type viewDraw struct {
	params   ViewParams
	fallback bool
}

// drawView draws one view of a w×h image, in a fixed order: the crop, the
// flip, the jitter (then its brightness, contrast, saturation and hue
// factors), the gray, the blur (then its σ). A step of probability 0 or 1
// still takes its draw, so the sequence does not depend on the values.
func drawView(w, h int, cfg ViewsConfig, rng *rand.Rand) viewDraw {
	var d viewDraw
	d.params.Image = [2]int{w, h}
	d.params.Crop, d.fallback = drawCrop(w, h, cfg, rng)
	d.params.Flip = rng.Float64() < cfg.FlipProb
	if rng.Float64() < cfg.JitterProb {
		j := cfg.Jitter
		d.params.Brightness = factor(rng, j.Brightness)
		d.params.Contrast = factor(rng, j.Contrast)
		d.params.Saturation = factor(rng, j.Saturation)
		hue := 0.0
		if j.Hue > 0 {
			hue = between(rng, [2]float64{-j.Hue, j.Hue})
		}
		d.params.Hue = &hue
	}
	d.params.Gray = rng.Float64() < cfg.GrayProb
	if rng.Float64() < cfg.BlurProb {
		s := between(rng, cfg.BlurSigma)
		d.params.BlurSigma = &s
	}
	return d
}

// factor draws a jitter factor of strength v uniformly in [max(0, 1−v),
// 1+v]; strength 0 draws nothing and gives 1.
func factor(rng *rand.Rand, v float64) *float64 {
	f := 1.0
	if v > 0 {
		f = between(rng, [2]float64{max(0, 1-v), 1 + v})
	}
	return &f
}

// ApplyView makes the view p describes from the prepared image img, at
// side×side: the crop, resized with one fixed filter (bilinear,
// imaging.Linear, whatever image.filter the preparation used), then the
// flip, the colour jitter, the gray and the blur, each when p has it.
//
// Colour jitter applies brightness, contrast, saturation and hue in this
// fixed order. torchvision's ColorJitter shuffles the order per call; here
// a view must be made again from its stored parameters, and the order is
// not among them, so it is fixed. Each step works on 8-bit values and
// rounds, as an 8-bit image pipeline does:
//
//   - brightness f: v·f;
//   - contrast f: blend with the mean luma of the whole view, m + f·(v − m);
//   - saturation f: blend with the pixel's own luma, l + f·(v − l);
//   - hue h: the pixel's HSV hue turned by h (a full turn is 1), its
//     value and saturation kept; gray pixels have no hue and stay.
//
// Luma is ITU-R BT.601's (299 R + 587 G + 114 B) / 1000, rounded, in
// integers (the formula Pillow documents for convert("L")); the gray view
// is that luma in all three channels. The blur is imaging.Blur: a Gaussian of σ p.BlurSigma reaching
// ⌈3σ⌉ pixels each side, edge pixels repeated.
//
// img is not modified. An error says why p does not fit img (a crop
// outside it, a size that is not p.Image, a factor out of range).
func ApplyView(img *image.NRGBA, p ViewParams, side int) (*image.NRGBA, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if p.Image != [2]int{w, h} {
		return nil, fmt.Errorf("vision: view of a %d×%d image applied to a %d×%d image", p.Image[0], p.Image[1], w, h)
	}
	x, y, cw, ch := p.Crop[0], p.Crop[1], p.Crop[2], p.Crop[3]
	if x < 0 || y < 0 || cw < 1 || ch < 1 || x+cw > w || y+ch > h {
		return nil, fmt.Errorf("vision: crop %v outside the %d×%d image", p.Crop, w, h)
	}
	if side < 1 {
		return nil, fmt.Errorf("vision: view side %d", side)
	}
	for _, f := range []struct {
		name   string
		v      *float64
		lo, hi float64
	}{{"brightness", p.Brightness, 0, math.MaxFloat64}, {"contrast", p.Contrast, 0, math.MaxFloat64}, {"saturation", p.Saturation, 0, math.MaxFloat64},
		{"hue", p.Hue, -0.5, 0.5}, {"blur_sigma", p.BlurSigma, math.SmallestNonzeroFloat64, maxBlurSigma}} {
		if f.v != nil && !(*f.v >= f.lo && *f.v <= f.hi) {
			return nil, fmt.Errorf("vision: %s %g outside [%g, %g]", f.name, *f.v, f.lo, f.hi)
		}
	}
	r := image.Rect(x, y, x+cw, y+ch).Add(b.Min)
	out := imaging.Resize(img.SubImage(r), side, side, imaging.Linear)
	if p.Flip {
		out = imaging.FlipH(out)
	}
	if p.Brightness != nil {
		brightness(out, *p.Brightness)
	}
	if p.Contrast != nil {
		contrast(out, *p.Contrast)
	}
	if p.Saturation != nil {
		saturation(out, *p.Saturation)
	}
	if p.Hue != nil {
		hue(out, *p.Hue)
	}
	if p.Gray {
		gray(out)
	}
	if p.BlurSigma != nil {
		out = imaging.Blur(out, *p.BlurSigma)
	}
	return out, nil
}

// luma is ITU-R BT.601 luma of an 8-bit colour, rounded, in integers.
func luma(r, g, b uint8) int {
	return (299*int(r) + 587*int(g) + 114*int(b) + 500) / 1000
}

// blendRound is round(base + f·(v − base)) clamped to 0…255, each product
// rounded on its own (no FMA).
func blendRound(v, base, f float64) uint8 {
	return clampUint8(base + float64(f*(v-base)))
}

// brightness scales every colour channel of img by f (its own table of
// 256 values), in place.
func brightness(img *image.NRGBA, f float64) {
	if f == 1 {
		return
	}
	var lut [256]uint8
	for v := range lut {
		lut[v] = blendRound(float64(v), 0, f)
	}
	mapChannels(img, &lut)
}

// contrast blends img with its mean luma by f, in place.
func contrast(img *image.NRGBA, f float64) {
	if f == 1 {
		return
	}
	var sum, n int64
	eachPixel(img, func(p []uint8) {
		sum += int64(luma(p[0], p[1], p[2]))
		n++
	})
	if n == 0 {
		return
	}
	mean := float64(sum) / float64(n)
	var lut [256]uint8
	for v := range lut {
		lut[v] = blendRound(float64(v), mean, f)
	}
	mapChannels(img, &lut)
}

// saturation blends each pixel with its own luma by f, in place.
func saturation(img *image.NRGBA, f float64) {
	if f == 1 {
		return
	}
	eachPixel(img, func(p []uint8) {
		l := float64(luma(p[0], p[1], p[2]))
		p[0], p[1], p[2] = blendRound(float64(p[0]), l, f), blendRound(float64(p[1]), l, f), blendRound(float64(p[2]), l, f)
	})
}

// hue turns the HSV hue of every pixel by shift turns, keeping its value
// (the largest channel) and saturation (the spread of the channels), in
// place.
func hue(img *image.NRGBA, shift float64) {
	if shift == 0 {
		return
	}
	turn := float64(6 * shift) // in sextants, as HSV's hue
	eachPixel(img, func(p []uint8) {
		r, g, b := int(p[0]), int(p[1]), int(p[2])
		hi, lo := max(r, g, b), min(r, g, b)
		if hi == lo {
			return
		}
		d := float64(hi - lo)
		var hh float64
		switch hi {
		case r:
			hh = float64(g-b) / d
		case g:
			hh = 2 + float64(b-r)/d
		default:
			hh = 4 + float64(r-g)/d
		}
		hh += turn
		hh -= float64(6 * math.Floor(hh/6))
		if hh >= 6 || hh < 0 {
			hh = 0
		}
		i := int(hh)
		rise := float64(float64(hh-float64(i)) * d)
		top, bottom := float64(hi), float64(lo)
		up, down := bottom+rise, top-rise
		var c [3]float64
		switch i {
		case 0:
			c = [3]float64{top, up, bottom}
		case 1:
			c = [3]float64{down, top, bottom}
		case 2:
			c = [3]float64{bottom, top, up}
		case 3:
			c = [3]float64{bottom, down, top}
		case 4:
			c = [3]float64{up, bottom, top}
		default:
			c = [3]float64{top, bottom, down}
		}
		p[0], p[1], p[2] = clampUint8(c[0]), clampUint8(c[1]), clampUint8(c[2])
	})
}

// gray sets every pixel's three channels to its luma, in place.
func gray(img *image.NRGBA) {
	eachPixel(img, func(p []uint8) {
		l := uint8(luma(p[0], p[1], p[2]))
		p[0], p[1], p[2] = l, l, l
	})
}

// eachPixel calls fn with the 4 bytes of every pixel of img, row by row.
func eachPixel(img *image.NRGBA, fn func(p []uint8)) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for i := 0; i < len(row); i += 4 {
			fn(row[i : i+4 : i+4])
		}
	}
}

// mapChannels maps the R, G and B of every pixel of img through lut.
func mapChannels(img *image.NRGBA, lut *[256]uint8) {
	eachPixel(img, func(p []uint8) {
		p[0], p[1], p[2] = lut[p[0]], lut[p[1]], lut[p[2]]
	})
}

// ViewSide is the side of the views of a w×h prepared image: its shorter
// side (image.size for center_crop, keep_ratio and border).
func ViewSide(w, h int) int { return min(w, h) }

type viewer struct{}

func (viewer) Variants(c transforms.Config) int { return c.(*ViewsConfig).Variants }

// Label draws view a's parameters, then view b's, from rng, makes both
// views and encodes them. Its stats count, over the two views, the views
// made (views/all) and those flipped, jittered, grayed, blurred and whose
// crop is the fallback, so that the manifest's rates are their shares.
func (viewer) Label(ex *Example, c transforms.Config, v int, rng *rand.Rand) (any, int, []string, error) {
	cfg := *c.(*ViewsConfig)
	b := ex.Image.Bounds()
	side := ViewSide(b.Dx(), b.Dy())
	draws := [2]viewDraw{drawView(b.Dx(), b.Dy(), cfg, rng), drawView(b.Dx(), b.Dy(), cfg, rng)}
	var enc [2][]byte
	var params [2]string
	var stats []string
	for i, d := range draws {
		view, err := ApplyView(ex.Image, d.params, side)
		if err != nil {
			return nil, 0, nil, err
		}
		if enc[i], err = Encode(view, ex.Encoding); err != nil {
			return nil, 0, nil, err
		}
		js, err := json.Marshal(d.params)
		if err != nil {
			return nil, 0, nil, err
		}
		params[i] = string(js)
		stats = append(stats, "views/all")
		p := d.params
		for _, s := range []struct {
			on   bool
			name string
		}{{p.Flip, "views/flip"}, {p.Hue != nil, "views/jitter"}, {p.Gray, "views/gray"}, {p.BlurSigma != nil, "views/blur"}, {d.fallback, "views/crop_fallback"}} {
			if s.on {
				stats = append(stats, s.name)
			}
		}
	}
	row := ViewsRow{
		Key: ex.Key, Source: ex.Source, Variant: int32(v), Split: ex.Split,
		Width: int32(side), Height: int32(side), Encoding: ex.Encoding.Format,
		ViewA: enc[0], ViewB: enc[1], ParamsA: params[0], ParamsB: params[1],
	}
	return row, len(enc[0]) + len(enc[1]) + len(params[0]) + len(params[1]), stats, nil
}
