package vision

import (
	"encoding/json"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/transforms/seeding"
)

func TestViewsValidate(t *testing.T) {
	if err := DefaultViewsConfig().Validate("tasks.views"); err != nil {
		t.Errorf("defaults: %v", err)
	}
	c := ViewsConfig{
		Variants: 0, CropScale: [2]float64{0, 1.5}, CropRatio: [2]float64{2, 1},
		FlipProb: -0.1, JitterProb: 1.1, Jitter: Jitter{Brightness: -1, Contrast: math.NaN(), Saturation: math.Inf(1), Hue: 0.6},
		GrayProb: 2, BlurProb: -1, BlurSigma: [2]float64{0, 100},
	}
	err := c.Validate("tasks.views")
	for _, want := range []string{
		"tasks.views.variants: must be >= 1", "tasks.views.crop_scale: min must be > 0", "tasks.views.crop_scale: max must be <= 1",
		"tasks.views.crop_ratio: min must be <= max", "tasks.views.flip_prob", "tasks.views.jitter_prob",
		"tasks.views.jitter.brightness", "tasks.views.jitter.contrast", "tasks.views.jitter.saturation", "tasks.views.jitter.hue",
		"tasks.views.gray_prob", "tasks.views.blur_prob", "tasks.views.blur_sigma: min must be > 0", "tasks.views.blur_sigma: max must be <= 64",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// TestDrawCrop: every crop lies in the image with its area fraction and
// ratio inside the config's ranges up to the rounding of its sides to
// whole pixels; a range no crop can meet takes torchvision's fallback.
func TestDrawCrop(t *testing.T) {
	cfg := DefaultViewsConfig()
	for _, wh := range [][2]int{{96, 96}, {160, 96}, {40, 120}} {
		w, h := wh[0], wh[1]
		rng := seeding.New(1, TaskViews, "crop", w)
		var fallbacks int
		for range 2000 {
			c, fb := drawCrop(w, h, cfg, rng)
			x, y, cw, ch := c[0], c[1], c[2], c[3]
			if x < 0 || y < 0 || cw < 1 || ch < 1 || x+cw > w || y+ch > h {
				t.Fatalf("%d×%d: crop %v outside", w, h, c)
			}
			if fb {
				fallbacks++
				if c != CropFallback(w, h, cfg.CropRatio) {
					t.Errorf("%d×%d: fallback %v is not CropFallback", w, h, c)
				}
				continue
			}
			area := float64(w * h)
			if lo, hi := float64((cw-1)*(ch-1))/area, float64((cw+1)*(ch+1))/area; hi < cfg.CropScale[0] || lo > cfg.CropScale[1] {
				t.Errorf("%d×%d: crop %v has area fraction %.3f", w, h, c, float64(cw*ch)/area)
			}
			if r0, r1 := (float64(cw)-0.5)/(float64(ch)+0.5), (float64(cw)+0.5)/(float64(ch)-0.5); r1 < cfg.CropRatio[0] || r0 > cfg.CropRatio[1] {
				t.Errorf("%d×%d: crop %v has ratio %.3f", w, h, c, float64(cw)/float64(ch))
			}
		}
		if fallbacks > 200 { // a 1:3 image has no room for the larger crops: 73 of 2000 here
			t.Errorf("%d×%d: %d fallbacks of 2000", w, h, fallbacks)
		}
	}
	// No crop of ratio 4…5 and at least 90% of a square fits it.
	wide := cfg
	wide.CropScale, wide.CropRatio = [2]float64{0.9, 1}, [2]float64{4, 5}
	c, fb := drawCrop(32, 32, wide, seeding.New(1, TaskViews, "wide", 0))
	if !fb || c != [4]int{0, 12, 32, 8} {
		t.Errorf("impossible range: crop %v fallback %v, want [0 12 32 8] (ratio clamped to 4)", c, fb)
	}
	for _, tc := range []struct {
		w, h  int
		ratio [2]float64
		want  [4]int
	}{
		{100, 80, [2]float64{0.75, 4.0 / 3}, [4]int{0, 0, 100, 80}}, // inside: the whole image
		{200, 50, [2]float64{0.75, 4.0 / 3}, [4]int{66, 0, 67, 50}}, // too wide: h·4/3 = 66.67 → 67
		{50, 200, [2]float64{0.75, 4.0 / 3}, [4]int{0, 66, 50, 67}}, // too tall: w/0.75 = 66.67 → 67
		{30, 10, [2]float64{1, 2.5}, [4]int{2, 0, 25, 10}},          // round half to even: 25
		{30, 10, [2]float64{1, 2.55}, [4]int{2, 0, 26, 10}},
	} {
		if got := CropFallback(tc.w, tc.h, tc.ratio); got != tc.want {
			t.Errorf("CropFallback(%d, %d, %v) = %v, want %v", tc.w, tc.h, tc.ratio, got, tc.want)
		}
	}
}

func f64(v float64) *float64 { return &v }

// TestApplyView checks each step on images whose answer is known.
func TestApplyView(t *testing.T) {
	img := gradient(12, 8)
	whole := ViewParams{Crop: [4]int{2, 0, 8, 8}, Image: [2]int{12, 8}}
	base, err := ApplyView(img, whole, 8)
	if err != nil {
		t.Fatal(err)
	}
	for y := range 8 {
		for x := range 8 {
			if base.NRGBAAt(x, y) != img.NRGBAAt(x+2, y) {
				t.Fatalf("an 8×8 crop at 8×8 is not the image's pixels at (%d,%d)", x, y)
			}
		}
	}
	flip := whole
	flip.Flip = true
	got, _ := ApplyView(img, flip, 8)
	if got.NRGBAAt(0, 3) != base.NRGBAAt(7, 3) || got.NRGBAAt(7, 5) != base.NRGBAAt(0, 5) {
		t.Error("flip is not a horizontal mirror")
	}
	small := whole
	small.Crop = [4]int{0, 0, 4, 4}
	got, _ = ApplyView(img, small, 8)
	if got.Bounds().Size() != image.Pt(8, 8) {
		t.Errorf("a 4×4 crop made a %v view, want 8×8", got.Bounds().Size())
	}

	gray := whole
	gray.Gray = true
	got, _ = ApplyView(img, gray, 8)
	for y := range 8 {
		for x := range 8 {
			c, o := got.NRGBAAt(x, y), base.NRGBAAt(x, y)
			if l := uint8(luma(o.R, o.G, o.B)); c.R != l || c.G != l || c.B != l {
				t.Fatalf("gray (%d,%d) = %v, want the BT.601 luma %d of %v", x, y, c, l, o)
			}
		}
	}
	if l := luma(255, 0, 0); l != 76 {
		t.Errorf("luma of red %d, want 76 (0.299·255)", l)
	}

	// Brightness 0 is black; contrast 0 is the mean luma everywhere;
	// saturation 0 is each pixel's luma; factor 1 changes nothing.
	for _, tc := range []struct {
		name string
		set  func(p *ViewParams)
		want func(o color.NRGBA) color.NRGBA
	}{
		{"brightness 0", func(p *ViewParams) { p.Brightness = f64(0) }, func(color.NRGBA) color.NRGBA { return color.NRGBA{0, 0, 0, 255} }},
		{"saturation 0", func(p *ViewParams) { p.Saturation = f64(0) }, func(o color.NRGBA) color.NRGBA {
			l := uint8(luma(o.R, o.G, o.B))
			return color.NRGBA{l, l, l, 255}
		}},
		{"factors 1, hue 0", func(p *ViewParams) { p.Brightness, p.Contrast, p.Saturation, p.Hue = f64(1), f64(1), f64(1), f64(0) }, func(o color.NRGBA) color.NRGBA { return o }},
	} {
		p := whole
		tc.set(&p)
		got, err := ApplyView(img, p, 8)
		if err != nil {
			t.Fatal(err)
		}
		for y := range 8 {
			for x := range 8 {
				if c, want := got.NRGBAAt(x, y), tc.want(base.NRGBAAt(x, y)); c != want {
					t.Fatalf("%s: (%d,%d) = %v, want %v", tc.name, x, y, c, want)
				}
			}
		}
	}
	p := whole
	p.Contrast = f64(0)
	got, _ = ApplyView(img, p, 8)
	first := got.NRGBAAt(0, 0)
	if first.R != first.G || first.G != first.B {
		t.Errorf("contrast 0: %v is not gray", first)
	}
	for i := 0; i < len(got.Pix); i += 4 {
		if got.Pix[i] != first.R {
			t.Fatal("contrast 0: not one value everywhere")
		}
	}

	// Hue turns red a third of a turn to green, half a turn to cyan;
	// gray has no hue.
	red := uniform(4, 4, 255, 0, 0)
	for _, tc := range []struct {
		shift float64
		want  color.NRGBA
	}{{1.0 / 3, color.NRGBA{0, 255, 0, 255}}, {0.5, color.NRGBA{0, 255, 255, 255}}, {-1.0 / 3, color.NRGBA{0, 0, 255, 255}}, {1.0 / 12, color.NRGBA{255, 128, 0, 255}}} {
		got, err := ApplyView(red, ViewParams{Crop: [4]int{0, 0, 4, 4}, Image: [2]int{4, 4}, Hue: f64(tc.shift)}, 4)
		if err != nil {
			t.Fatal(err)
		}
		if c := got.NRGBAAt(1, 1); c != tc.want {
			t.Errorf("red turned %.3f: %v, want %v", tc.shift, c, tc.want)
		}
	}
	mid := uniform(4, 4, 90, 90, 90)
	got, _ = ApplyView(mid, ViewParams{Crop: [4]int{0, 0, 4, 4}, Image: [2]int{4, 4}, Hue: f64(0.3)}, 4)
	if c := got.NRGBAAt(0, 0); c != (color.NRGBA{90, 90, 90, 255}) {
		t.Errorf("gray turned: %v", c)
	}

	// Blur leaves a flat image flat and smooths an edge.
	got, _ = ApplyView(mid, ViewParams{Crop: [4]int{0, 0, 4, 4}, Image: [2]int{4, 4}, BlurSigma: f64(1.5)}, 4)
	if c := got.NRGBAAt(2, 2); c != (color.NRGBA{90, 90, 90, 255}) {
		t.Errorf("blurred flat image: %v", c)
	}
	edge := uniform(8, 8, 0, 0, 0)
	for y := range 8 {
		for x := 4; x < 8; x++ {
			edge.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
		}
	}
	got, _ = ApplyView(edge, ViewParams{Crop: [4]int{0, 0, 8, 8}, Image: [2]int{8, 8}, BlurSigma: f64(1)}, 8)
	if c := got.NRGBAAt(3, 4).R; c == 0 || c == 255 {
		t.Errorf("blurred edge: %d beside it", c)
	}

	for name, p := range map[string]ViewParams{
		"crop outside": {Crop: [4]int{8, 0, 8, 8}, Image: [2]int{12, 8}},
		"empty crop":   {Crop: [4]int{0, 0, 0, 8}, Image: [2]int{12, 8}},
		"other image":  {Crop: [4]int{0, 0, 8, 8}, Image: [2]int{16, 8}},
		"hue":          {Crop: [4]int{0, 0, 8, 8}, Image: [2]int{12, 8}, Hue: f64(0.7)},
		"negative":     {Crop: [4]int{0, 0, 8, 8}, Image: [2]int{12, 8}, Contrast: f64(-1)},
		"huge blur":    {Crop: [4]int{0, 0, 8, 8}, Image: [2]int{12, 8}, BlurSigma: f64(1e9)},
	} {
		if _, err := ApplyView(img, p, 8); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestViewsLabel: a row's views are made from the prepared image by their
// stored parameters; the same rng makes the same row; the shares of each
// step over many rows are their probabilities.
func TestViewsLabel(t *testing.T) {
	ex := &Example{Key: "k", Source: "s", Split: "train", Image: gradient(40, 30), Encoding: Encoding{Format: "png"}}
	cfg := DefaultViewsConfig()
	counts := map[string]int{}
	const n = 600
	for i := range n {
		key := "img" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		row, size, stats, err := viewer{}.Label(ex, &cfg, 0, seeding.New(3, TaskViews, key, 0))
		if err != nil {
			t.Fatal(err)
		}
		r := row.(ViewsRow)
		if r.Width != 30 || r.Height != 30 || size <= len(r.ViewA) {
			t.Fatalf("row %dx%d, size %d", r.Width, r.Height, size)
		}
		for _, st := range stats {
			counts[st]++
		}
		if i < 20 {
			again, _, _, _ := viewer{}.Label(ex, &cfg, 0, seeding.New(3, TaskViews, key, 0))
			if a := again.(ViewsRow); string(a.ViewA) != string(r.ViewA) || a.ParamsB != r.ParamsB {
				t.Fatalf("%s: two labels with one seed differ", key)
			}
			if r.ParamsA == r.ParamsB || string(r.ViewA) == string(r.ViewB) {
				t.Errorf("%s: the two views are the same: %s", key, r.ParamsA)
			}
			for _, v := range []struct {
				params string
				view   []byte
			}{{r.ParamsA, r.ViewA}, {r.ParamsB, r.ViewB}} {
				p, err := ParseViewParams(v.params)
				if err != nil {
					t.Fatal(err)
				}
				img, err := ApplyView(ex.Image, p, 30)
				if err != nil {
					t.Fatal(err)
				}
				if want, _ := Encode(img, ex.Encoding); string(want) != string(v.view) {
					t.Errorf("%s: the view is not ApplyView of its params %s", key, v.params)
				}
			}
		}
	}
	views := counts["views/all"]
	if views != 2*n {
		t.Fatalf("views/all %d, want %d", views, 2*n)
	}
	for _, s := range []struct {
		stat string
		p    float64
	}{{"views/flip", cfg.FlipProb}, {"views/jitter", cfg.JitterProb}, {"views/gray", cfg.GrayProb}, {"views/blur", cfg.BlurProb}} {
		got := float64(counts[s.stat]) / float64(views)
		if tol := 4 * math.Sqrt(s.p*(1-s.p)/float64(views)); math.Abs(got-s.p) > tol {
			t.Errorf("%s: share %.3f, want %.2f ± %.3f", s.stat, got, s.p, tol)
		}
	}
}

// TestViewParamsJSON pins the params' layout: keys in a fixed order, null
// for a skipped step; and the strict parser refuses unknown keys.
func TestViewParamsJSON(t *testing.T) {
	p := ViewParams{Crop: [4]int{1, 2, 30, 40}, Flip: true, Gray: true, BlurSigma: f64(0.5), Image: [2]int{64, 48}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"crop":[1,2,30,40],"flip":true,"brightness":null,"contrast":null,"saturation":null,"hue":null,"gray":true,"blur_sigma":0.5,"image":[64,48]}`
	if string(b) != want {
		t.Errorf("params %s, want %s", b, want)
	}
	back, err := ParseViewParams(string(b))
	if err != nil || back.Crop != p.Crop || back.Brightness != nil || *back.BlurSigma != 0.5 {
		t.Errorf("round trip: %+v %v", back, err)
	}
	if _, err := ParseViewParams(`{"crop":[0,0,1,1],"rotate":1}`); err == nil {
		t.Error("an unknown key was accepted")
	}
}
