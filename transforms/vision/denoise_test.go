package vision

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/transforms/seeding"
)

// only returns the default config restricted to one kind with a fixed range.
func only(kind string, lo, hi float64) DenoiseConfig {
	c := DefaultDenoiseConfig()
	c.Kinds = []string{kind}
	r := [2]float64{lo, hi}
	switch kind {
	case "gaussian":
		c.GaussianSigma = r
	case "salt_pepper":
		c.SaltPepperAmount = r
	case "poisson":
		c.PoissonPeak = r
	case "speckle":
		c.SpeckleSigma = r
	case "masking":
		c.MaskingFraction = r
	}
	return c
}

// diffStats returns the mean and standard deviation of noisy−clean over the
// colour channels, and the fraction of pixels with any channel changed.
func diffStats(clean, noisy []uint8) (mean, std, changed float64) {
	var s, s2 float64
	var n, px, ch int
	for i := 0; i < len(clean); i += 4 {
		diff := false
		for c := i; c < i+3; c++ {
			d := float64(noisy[c]) - float64(clean[c])
			s += d
			s2 += d * d
			n++
			diff = diff || d != 0
		}
		px++
		if diff {
			ch++
		}
	}
	mean = s / float64(n)
	return mean, math.Sqrt(s2/float64(n) - mean*mean), float64(ch) / float64(px)
}

func TestDenoiseLevels(t *testing.T) {
	gray := uniform(256, 256, 128, 128, 128)
	before := append([]uint8(nil), gray.Pix...)
	for _, tc := range []struct {
		kind   string
		lo, hi float64
		check  func(t *testing.T, level, mean, std, changed float64)
	}{
		{"gaussian", 5, 40, func(t *testing.T, level, mean, std, _ float64) {
			if math.Abs(std-level)/level > 0.10 || math.Abs(mean) > 1 {
				t.Errorf("sigma %.2f: diff std %.2f mean %.2f", level, std, mean)
			}
		}},
		{"speckle", 0.05, 0.3, func(t *testing.T, level, _, std, _ float64) {
			if want := 128 * level; math.Abs(std-want)/want > 0.10 {
				t.Errorf("speckle %.3f: diff std %.2f, want %.2f", level, std, want)
			}
		}},
		{"poisson", 20, 200, func(t *testing.T, level, mean, std, _ float64) {
			// Poisson(λ)/peak·255 with λ = 128/255·peak has std 255·sqrt(λ)/peak.
			want := 255 * math.Sqrt(128.0/255*level) / level
			if math.Abs(std-want)/want > 0.10 || math.Abs(mean) > 1 {
				t.Errorf("peak %.1f: diff std %.2f (want %.2f) mean %.2f", level, std, want, mean)
			}
		}},
		{"salt_pepper", 0.01, 0.2, func(t *testing.T, level, mean, _, changed float64) {
			if math.Abs(changed-level) > 0.02 {
				t.Errorf("amount %.3f: changed %.3f", level, changed)
			}
			if math.Abs(mean) > 0.05*127*level+0.5 { // salt and pepper balance
				t.Errorf("amount %.3f: mean diff %.2f", level, mean)
			}
		}},
		{"masking", 0.1, 0.6, func(t *testing.T, level, _, _, changed float64) {
			if math.Abs(changed-level) > 0.02 {
				t.Errorf("fraction %.3f: changed %.3f", level, changed)
			}
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			cfg := only(tc.kind, tc.lo, tc.hi)
			for v := 0; v < 5; v++ {
				lab := Denoise(gray, cfg, seeding.New(7, "denoise", "gray", v))
				if lab.Kind != tc.kind || float64(lab.Level) < tc.lo || float64(lab.Level) > tc.hi {
					t.Fatalf("kind %q level %g", lab.Kind, lab.Level)
				}
				mean, std, changed := diffStats(gray.Pix, lab.Input.Pix)
				tc.check(t, float64(lab.Level), mean, std, changed)
				for i := 3; i < len(lab.Input.Pix); i += 4 {
					if lab.Input.Pix[i] != 255 {
						t.Fatal("alpha changed")
					}
				}
			}
			if !bytes.Equal(gray.Pix, before) {
				t.Fatal("Denoise modified its input")
			}
		})
	}
}

func TestDenoiseMaskingZeroes(t *testing.T) {
	img := photo256(t)
	lab := Denoise(img, only("masking", 0.3, 0.3), seeding.New(1, "denoise", "k", 0))
	for i := 0; i < len(img.Pix); i += 4 {
		p, q := lab.Input.Pix[i:i+3], img.Pix[i:i+3]
		if !bytes.Equal(p, q) && !bytes.Equal(p, []uint8{0, 0, 0}) {
			t.Fatalf("pixel %d = %v, neither %v nor black", i/4, p, q)
		}
	}
}

func TestDenoiseDeterministic(t *testing.T) {
	img := photo256(t)
	cfg := DefaultDenoiseConfig()
	kinds := map[string]bool{}
	for v := 0; v < 30; v++ {
		a := Denoise(img, cfg, seeding.New(42, "denoise", "chelsea.jpg", v))
		b := Denoise(img, cfg, seeding.New(42, "denoise", "chelsea.jpg", v))
		if a.Kind != b.Kind || a.Level != b.Level || !bytes.Equal(a.Input.Pix, b.Input.Pix) {
			t.Fatalf("variant %d: two runs differ", v)
		}
		kinds[a.Kind] = true
	}
	if len(kinds) != len(DenoiseKinds) {
		t.Errorf("30 variants drew only %v", kinds)
	}
}

func TestPoissonMoments(t *testing.T) {
	rng := seeding.New(3, "poisson", "", 0)
	for _, lam := range []float64{0.5, 4, 9.9, 10, 37, 150, 2000} {
		p := newPoissonSampler(lam)
		const n = 20000
		var s, s2 float64
		for i := 0; i < n; i++ {
			k := p.draw(rng)
			s += k
			s2 += k * k
		}
		mean := s / n
		v := s2/n - mean*mean
		if math.Abs(mean-lam) > 4*math.Sqrt(lam/n) || math.Abs(v-lam)/lam > 0.06 {
			t.Errorf("λ=%g: mean %.3f variance %.3f", lam, mean, v)
		}
	}
}

func TestDenoiseConfigValidate(t *testing.T) {
	if err := DefaultDenoiseConfig().Validate("tasks.denoise"); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*DenoiseConfig)
		want []string
	}{
		{"unknown kind", func(c *DenoiseConfig) { c.Kinds = []string{"gaussian", "blur"} }, []string{`tasks.denoise.kinds: unknown kind "blur"`}},
		{"duplicate kind", func(c *DenoiseConfig) { c.Kinds = []string{"masking", "masking"} }, []string{`tasks.denoise.kinds: kind "masking" listed twice`}},
		{"no kinds", func(c *DenoiseConfig) { c.Kinds = nil }, []string{"tasks.denoise.kinds: must name at least one"}},
		{"negative sigma", func(c *DenoiseConfig) { c.GaussianSigma = [2]float64{-3, 10} }, []string{"tasks.denoise.gaussian_sigma: min must be >= 0 (got -3)"}},
		{"min > max", func(c *DenoiseConfig) { c.SpeckleSigma = [2]float64{0.5, 0.1} }, []string{"tasks.denoise.speckle_sigma: min must be <= max (got [0.5, 0.1])"}},
		{"fraction > 1", func(c *DenoiseConfig) { c.MaskingFraction = [2]float64{0.1, 1.5} }, []string{"tasks.denoise.masking_fraction: max must be <= 1 (got 1.5)"}},
		{"zero peak", func(c *DenoiseConfig) { c.PoissonPeak = [2]float64{0, 10} }, []string{"tasks.denoise.poisson_peak: min must be > 0 (got 0)"}},
		{"NaN amount", func(c *DenoiseConfig) { c.SaltPepperAmount = [2]float64{math.NaN(), 0.1} }, []string{"tasks.denoise.salt_pepper_amount: min must be >= 0 (got NaN)"}},
		{"all at once", func(c *DenoiseConfig) {
			c.Variants = 0
			c.Kinds = []string{"nope"}
			c.GaussianSigma = [2]float64{-1, 300}
		}, []string{"tasks.denoise.variants: must be >= 1 (got 0)", `unknown kind "nope"`, "gaussian_sigma: min must be >= 0 (got -1)", "gaussian_sigma: max must be <= 255 (got 300)"}},
	} {
		c := DefaultDenoiseConfig()
		tc.edit(&c)
		err := c.Validate("tasks.denoise")
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v does not say %q", tc.name, err, w)
			}
		}
	}
}

func BenchmarkDenoise(b *testing.B) {
	img := photo256(b)
	levels := []float64{25, 0.05, 50, 0.2, 0.3} // in the order of DenoiseKinds
	for i, kind := range DenoiseKinds {
		b.Run(kind, func(b *testing.B) {
			cfg := only(kind, levels[i], levels[i])
			rng := seeding.New(1, "denoise", "bench", 0)
			b.ReportAllocs()
			for b.Loop() {
				Denoise(img, cfg, rng)
			}
		})
	}
}
