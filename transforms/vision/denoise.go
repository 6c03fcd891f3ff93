package vision

import (
	"image"
	"math"
	"math/rand/v2"

	"github.com/pretext-dev/pretext/transforms"
)

// DenoiseKinds are the corruptions the denoising task knows.
var DenoiseKinds = []string{"gaussian", "salt_pepper", "poisson", "speckle", "masking"}

// DenoiseConfig configures the denoising task (Vincent et al. 2008). Each
// row draws one kind uniformly from Kinds, then that kind's level uniformly
// from its [min, max] range.
type DenoiseConfig struct {
	// Variants is the number of rows per image, each with its own draw.
	Variants int `yaml:"variants" json:"variants"`
	// Kinds is a subset of gaussian, salt_pepper, poisson, speckle, masking.
	Kinds []string `yaml:"kinds" json:"kinds"`
	// GaussianSigma is the standard deviation of additive noise, in 0..255
	// units, independent per channel.
	GaussianSigma [2]float64 `yaml:"gaussian_sigma" json:"gaussian_sigma"`
	// SaltPepperAmount is the probability that a pixel is set to black or
	// white (each half of the time), all channels together.
	SaltPepperAmount [2]float64 `yaml:"salt_pepper_amount" json:"salt_pepper_amount"`
	// PoissonPeak is the photon count at full scale: each channel becomes
	// Poisson(v/255·peak)/peak·255, so a lower peak is noisier.
	PoissonPeak [2]float64 `yaml:"poisson_peak" json:"poisson_peak"`
	// SpeckleSigma is the deviation of multiplicative noise: v + v·N(0, s²).
	SpeckleSigma [2]float64 `yaml:"speckle_sigma" json:"speckle_sigma"`
	// MaskingFraction is the probability that a pixel is zeroed, all
	// channels (the masking noise of Vincent et al.).
	MaskingFraction [2]float64 `yaml:"masking_fraction" json:"masking_fraction"`
}

// DefaultDenoiseConfig returns the defaults: one variant, every kind, from
// faint to heavy noise.
func DefaultDenoiseConfig() DenoiseConfig {
	return DenoiseConfig{
		Variants:         1,
		Kinds:            append([]string(nil), DenoiseKinds...),
		GaussianSigma:    [2]float64{5, 50},
		SaltPepperAmount: [2]float64{0.01, 0.1},
		PoissonPeak:      [2]float64{10, 200},
		SpeckleSigma:     [2]float64{0.05, 0.3},
		MaskingFraction:  [2]float64{0.1, 0.5},
	}
}

// Validate reports every bad field, each prefixed with path. Every range is
// checked, including those of kinds not listed.
func (c DenoiseConfig) Validate(path string) error {
	f := transforms.Fields{Path: path}
	f.AtLeast("variants", c.Variants, 1)
	f.Kinds("kinds", c.Kinds, DenoiseKinds)
	f.Span("gaussian_sigma", c.GaussianSigma, 0, 255, false)
	f.Span("salt_pepper_amount", c.SaltPepperAmount, 0, 1, false)
	f.Span("poisson_peak", c.PoissonPeak, 0, 1e6, true)
	f.Span("speckle_sigma", c.SpeckleSigma, 0, 10, false)
	f.Span("masking_fraction", c.MaskingFraction, 0, 1, false)
	return f.Err()
}

// DenoiseLabel is one denoising example; its target is the clean image.
type DenoiseLabel struct {
	// Input is the corrupted image (alpha kept from the source).
	Input *image.NRGBA
	// Kind is the corruption drawn.
	Kind string
	// Level is the drawn sigma, amount, peak or fraction of that kind.
	Level float32
}

// Denoise corrupts a copy of img with a kind and level drawn from rng. img
// is not modified. cfg is expected to be valid.
func Denoise(img *image.NRGBA, cfg DenoiseConfig, rng *rand.Rand) DenoiseLabel {
	kind := cfg.Kinds[rng.IntN(len(cfg.Kinds))]
	var r [2]float64
	switch kind {
	case "gaussian":
		r = cfg.GaussianSigma
	case "salt_pepper":
		r = cfg.SaltPepperAmount
	case "poisson":
		r = cfg.PoissonPeak
	case "speckle":
		r = cfg.SpeckleSigma
	case "masking":
		r = cfg.MaskingFraction
	}
	level := r[0] + float64(rng.Float64()*(r[1]-r[0]))
	out := clone(img)
	w, h := out.Rect.Dx(), out.Rect.Dy()
	var ps *[256]poissonSampler // one per 8-bit value, built on first use
	for y := 0; y < h; y++ {
		row := out.Pix[y*out.Stride : y*out.Stride+4*w]
		switch kind {
		case "gaussian":
			for i := 0; i < len(row); i += 4 {
				for c := i; c < i+3; c++ {
					row[c] = clampUint8(float64(row[c]) + float64(level*rng.NormFloat64()))
				}
			}
		case "speckle":
			for i := 0; i < len(row); i += 4 {
				for c := i; c < i+3; c++ {
					v := float64(row[c])
					row[c] = clampUint8(v + float64(v*float64(level*rng.NormFloat64())))
				}
			}
		case "poisson":
			if ps == nil {
				ps = new([256]poissonSampler)
				for v := range ps {
					ps[v] = newPoissonSampler(float64(v) * level / 255)
				}
			}
			for i := 0; i < len(row); i += 4 {
				for c := i; c < i+3; c++ {
					row[c] = clampUint8(ps[row[c]].draw(rng) / level * 255)
				}
			}
		case "salt_pepper":
			for i := 0; i < len(row); i += 4 {
				if u := rng.Float64(); u < level {
					v := uint8(255)
					if u < level/2 {
						v = 0
					}
					row[i], row[i+1], row[i+2] = v, v, v
				}
			}
		case "masking":
			for i := 0; i < len(row); i += 4 {
				if rng.Float64() < level {
					row[i], row[i+1], row[i+2] = 0, 0, 0
				}
			}
		}
	}
	return DenoiseLabel{Input: out, Kind: kind, Level: float32(level)}
}

// clone copies img into a fresh *image.NRGBA at the origin.
func clone(img *image.NRGBA) *image.NRGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	if img.Stride == 4*w {
		copy(out.Pix, img.Pix[:4*w*h])
		return out
	}
	for y := 0; y < h; y++ {
		copy(out.Pix[y*out.Stride:], img.Pix[y*img.Stride:y*img.Stride+4*w])
	}
	return out
}

func clampUint8(v float64) uint8 {
	return uint8(max(0, min(255, math.Round(v))))
}

// poissonSampler draws from a Poisson distribution of mean lam: by
// multiplying uniforms (Knuth) below 10, by Hörmann's transformed rejection
// (PTRS, as numpy does) above. Its constants depend on lam only, so Denoise
// builds one per 8-bit value.
type poissonSampler struct {
	lam, expNeg                   float64 // Knuth
	loglam, a, b, invAlpha, vr, k float64 // PTRS; k = log(invAlpha)
}

func newPoissonSampler(lam float64) poissonSampler {
	p := poissonSampler{lam: lam, expNeg: math.Exp(-lam)}
	if lam >= 10 {
		p.loglam = math.Log(lam)
		p.b = 0.931 + float64(2.53*math.Sqrt(lam))
		p.a = -0.059 + float64(0.02483*p.b)
		p.invAlpha = 1.1239 + 1.1328/(p.b-3.4)
		p.vr = 0.9277 - 3.6224/(p.b-2)
		p.k = math.Log(p.invAlpha)
	}
	return p
}

func (p *poissonSampler) draw(rng *rand.Rand) float64 {
	if p.lam <= 0 {
		return 0
	}
	if p.lam < 10 {
		prod, k := 1.0, 0.0
		for {
			prod *= rng.Float64()
			if prod <= p.expNeg {
				return k
			}
			k++
		}
	}
	for {
		u := rng.Float64() - 0.5
		v := rng.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor(float64(float64(2*p.a/us+p.b)*u) + p.lam + 0.43)
		if us >= 0.07 && v <= p.vr {
			return k
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+p.k-math.Log(p.a/float64(us*us)+p.b) <= -p.lam+float64(k*p.loglam)-lg {
			return k
		}
	}
}
