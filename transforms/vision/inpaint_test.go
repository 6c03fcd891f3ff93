package vision

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/transforms/seeding"
)

func inpaintOnly(kind string) InpaintConfig {
	c := DefaultInpaintConfig()
	c.Kinds = []string{kind}
	return c
}

// checkInpaint checks the invariants of every label: the mask is 0 or 255,
// the input is the image outside holes and Fill inside, Ratio counts holes.
func checkInpaint(t *testing.T, img *InpaintLabel, src []uint8, fill uint8) int {
	t.Helper()
	holes := 0
	for i, m := range img.Mask.Pix {
		p, q := img.Input.Pix[4*i:4*i+4], src[4*i:4*i+4]
		switch m {
		case 0:
			if !bytes.Equal(p, q) {
				t.Fatalf("kept pixel %d changed: %v → %v", i, q, p)
			}
		case 255:
			holes++
			if p[0] != fill || p[1] != fill || p[2] != fill || p[3] != q[3] {
				t.Fatalf("hole %d = %v, want fill %d", i, p, fill)
			}
		default:
			t.Fatalf("mask value %d", m)
		}
	}
	if want := float32(float64(holes) / float64(len(img.Mask.Pix))); img.Ratio != want {
		t.Fatalf("Ratio %g, holes/pixels %g", img.Ratio, want)
	}
	return holes
}

func TestInpaintRatioInRange(t *testing.T) {
	img := gradient(96, 80)
	n := 96 * 80
	for _, kind := range []string{"random_blocks", "irregular"} {
		for _, r := range [][2]float64{{0.1, 0.5}, {0.3, 0.3125}, {0.02, 0.05}, {0.6, 0.9}, {0.95, 1}} {
			cfg := inpaintOnly(kind)
			cfg.MaskRatio = r
			t.Run(fmt.Sprintf("%s/%g-%g", kind, r[0], r[1]), func(t *testing.T) {
				var sum float64
				for v := 0; v < 200; v++ {
					lab := Inpaint(img, cfg, seeding.New(5, "inpaint", kind, v))
					holes := checkInpaint(t, &lab, img.Pix, cfg.Fill)
					ratio := float64(holes) / float64(n)
					if ratio < r[0] || ratio > r[1] {
						t.Fatalf("variant %d: realised ratio %.4f outside [%g, %g]", v, ratio, r[0], r[1])
					}
					sum += ratio
				}
				// Targets are uniform in the range: the mean lands inside its middle half.
				if mean := sum / 200; mean < r[0]+(r[1]-r[0])/4 || mean > r[1]-(r[1]-r[0])/8 {
					t.Errorf("mean realised ratio %.3f", mean)
				}
			})
		}
	}
}

func TestInpaintCenter(t *testing.T) {
	img := gradient(64, 40)
	cfg := inpaintOnly("center")
	lab := Inpaint(img, cfg, seeding.New(1, "inpaint", "c", 0))
	checkInpaint(t, &lab, img.Pix, cfg.Fill)
	if lab.Ratio != 0.25 {
		t.Errorf("ratio %g, want 0.25", lab.Ratio)
	}
	if lab.Mask.GrayAt(16, 10).Y != 255 || lab.Mask.GrayAt(47, 29).Y != 255 || lab.Mask.GrayAt(15, 10).Y != 0 || lab.Mask.GrayAt(48, 30).Y != 0 {
		t.Error("centre block misplaced")
	}
}

func TestInpaintPatchesExact(t *testing.T) {
	for _, tc := range []struct {
		w, h, size int
		ratio      float64
	}{
		{256, 256, 16, 0.75}, {100, 70, 16, 0.75}, {64, 64, 8, 0.5}, {33, 17, 16, 0.75}, {10, 10, 16, 0.75},
	} {
		img := gradient(tc.w, tc.h)
		cfg := inpaintOnly("patches")
		cfg.PatchSize, cfg.PatchRatio = tc.size, tc.ratio
		np := (tc.w / tc.size) * (tc.h / tc.size)
		k := int(math.Round(tc.ratio * float64(np)))
		for v := 0; v < 20; v++ {
			lab := Inpaint(img, cfg, seeding.New(2, "inpaint", "p", v))
			holes := checkInpaint(t, &lab, img.Pix, cfg.Fill)
			if holes != k*tc.size*tc.size {
				t.Fatalf("%dx%d: %d holes, want %d patches of %d²", tc.w, tc.h, holes, k, tc.size)
			}
			// Every patch is all hole or all kept.
			for py := 0; py+tc.size <= tc.h; py += tc.size {
				for px := 0; px+tc.size <= tc.w; px += tc.size {
					first := lab.Mask.GrayAt(px, py).Y
					for y := py; y < py+tc.size; y++ {
						for x := px; x < px+tc.size; x++ {
							if lab.Mask.GrayAt(x, y).Y != first {
								t.Fatalf("patch at (%d,%d) partly masked", px, py)
							}
						}
					}
				}
			}
		}
	}
}

func TestInpaintDeterministic(t *testing.T) {
	img := photo256(t)
	cfg := DefaultInpaintConfig()
	before := append([]uint8(nil), img.Pix...)
	kinds := map[string]bool{}
	for v := 0; v < 24; v++ {
		a := Inpaint(img, cfg, seeding.New(9, "inpaint", "chelsea.jpg", v))
		b := Inpaint(img, cfg, seeding.New(9, "inpaint", "chelsea.jpg", v))
		if a.Kind != b.Kind || a.Ratio != b.Ratio || !bytes.Equal(a.Input.Pix, b.Input.Pix) || !bytes.Equal(a.Mask.Pix, b.Mask.Pix) {
			t.Fatalf("variant %d: two runs differ", v)
		}
		kinds[a.Kind] = true
	}
	if len(kinds) != len(InpaintKinds) {
		t.Errorf("24 variants drew only %v", kinds)
	}
	if !bytes.Equal(img.Pix, before) {
		t.Error("Inpaint modified its input")
	}
}

func TestInpaintTinyImages(t *testing.T) {
	for _, kind := range InpaintKinds {
		for _, wh := range [][2]int{{1, 1}, {1, 7}, {3, 2}} {
			img := gradient(wh[0], wh[1])
			cfg := inpaintOnly(kind)
			lab := Inpaint(img, cfg, seeding.New(1, "inpaint", "tiny", 0))
			checkInpaint(t, &lab, img.Pix, cfg.Fill)
		}
	}
}

func TestInpaintConfigValidate(t *testing.T) {
	if err := DefaultInpaintConfig().Validate("tasks.inpaint"); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*InpaintConfig)
		want string
	}{
		{"mask ratio 1.5", func(c *InpaintConfig) { c.MaskRatio = [2]float64{0.2, 1.5} }, "tasks.inpaint.mask_ratio: max must be <= 1 (got 1.5)"},
		{"mask ratio reversed", func(c *InpaintConfig) { c.MaskRatio = [2]float64{0.6, 0.2} }, "tasks.inpaint.mask_ratio: min must be <= max (got [0.6, 0.2])"},
		{"unknown kind", func(c *InpaintConfig) { c.Kinds = []string{"center", "circles"} }, `tasks.inpaint.kinds: unknown kind "circles"`},
		{"center size 0", func(c *InpaintConfig) { c.CenterSize = 0 }, "tasks.inpaint.center_size: must be in (0, 1] (got 0)"},
		{"patch size 0", func(c *InpaintConfig) { c.PatchSize = 0 }, "tasks.inpaint.patch_size: must be >= 1 (got 0)"},
		{"patch ratio", func(c *InpaintConfig) { c.PatchRatio = 1.2 }, "tasks.inpaint.patch_ratio: must be in [0, 1] (got 1.2)"},
		{"variants", func(c *InpaintConfig) { c.Variants = -1 }, "tasks.inpaint.variants: must be >= 1 (got -1)"},
	} {
		c := DefaultInpaintConfig()
		tc.edit(&c)
		if err := c.Validate("tasks.inpaint"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v does not say %q", tc.name, err, tc.want)
		}
	}
}

func ExampleInpaint() {
	cfg := DefaultInpaintConfig()
	cfg.Kinds = []string{"patches"}
	lab := Inpaint(uniform(64, 48, 10, 20, 30), cfg, seeding.New(1, "inpaint", "example", 0))
	fmt.Println(lab.Kind, lab.Ratio, lab.Input.Pix[:4], lab.Mask.Rect.Dx(), lab.Mask.Rect.Dy())
	// Output: patches 0.75 [127 127 127 255] 64 48
}

func BenchmarkInpaint(b *testing.B) {
	img := photo256(b)
	for _, kind := range InpaintKinds {
		b.Run(kind, func(b *testing.B) {
			cfg := inpaintOnly(kind)
			rng := seeding.New(1, "inpaint", "bench", 0)
			b.ReportAllocs()
			for b.Loop() {
				Inpaint(img, cfg, rng)
			}
		})
	}
}
