package vision

import (
	"image"
	"math"

	"github.com/pretext-dev/pretext/transforms"
)

// ColorizeConfig configures the colorization task (Zhang et al. 2016).
type ColorizeConfig struct {
	// Variants is the number of rows per image. Colorization is
	// deterministic, so variants beyond the first repeat it.
	Variants int `yaml:"variants" json:"variants"`
	// ABStride is the side of the blocks the ab target is averaged over:
	// Zhang et al. predict ab at a quarter of the resolution, stride 4.
	ABStride int `yaml:"ab_stride" json:"ab_stride"`
	// GrayChroma flags an image as source_is_gray when its mean chroma
	// sqrt(a²+b²) over all pixels is below it. The default 2.0 sits above
	// the chroma noise a gray photo picks up when stored as a colour JPEG
	// (< 1) and far below the mean chroma of colour photos (11 to 47 on the
	// committed fixtures; TestGrayChromaDefault measures both).
	GrayChroma float64 `yaml:"gray_chroma" json:"gray_chroma"`
}

// DefaultColorizeConfig returns the defaults: one variant, stride 4, gray
// below mean chroma 2.
func DefaultColorizeConfig() ColorizeConfig {
	return ColorizeConfig{Variants: 1, ABStride: 4, GrayChroma: 2.0}
}

// Validate reports every bad field, each prefixed with path.
func (c ColorizeConfig) Validate(path string) error {
	f := transforms.Fields{Path: path}
	f.AtLeast("variants", c.Variants, 1)
	f.AtLeast("ab_stride", c.ABStride, 1)
	f.Within("gray_chroma", c.GrayChroma, 0, 200)
	return f.Err()
}

// ColorizeLabel is one colorization example.
type ColorizeLabel struct {
	// Input is CIE L* scaled to 0..255 (round(L·2.55)), the lightness
	// channel Zhang et al. feed their network, at the image's size. With
	// TargetAB it is the whole Lab image.
	Input *image.Gray
	// TargetAB holds ABHeight×ABWidth (a, b) pairs, row-major, interleaved:
	// the mean Lab a and b over each ABStride×ABStride block, rounded half
	// away from zero and clamped to int8.
	TargetAB []int8
	// ABBins holds the index in ABBins of the in-gamut bin nearest to each
	// block's (unrounded) mean ab.
	ABBins []int16
	// ABHeight and ABWidth are H/stride and W/stride, rounded down: a
	// partial block at the right or bottom edge is dropped.
	ABHeight, ABWidth int
	// SourceIsGray says the image had (almost) no colour: its mean chroma
	// over all pixels is below GrayChroma. Its ab target is near zero.
	SourceIsGray bool
}

// Colorize makes the colorization label of img. It is deterministic and
// draws nothing at random.
func Colorize(img *image.NRGBA, cfg ColorizeConfig) ColorizeLabel {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	s := max(cfg.ABStride, 1)
	aw, ah := w/s, h/s
	lab := ColorizeLabel{
		Input:    image.NewGray(image.Rect(0, 0, w, h)),
		TargetAB: make([]int8, 2*aw*ah),
		ABBins:   make([]int16, aw*ah),
		ABHeight: ah, ABWidth: aw,
	}
	// Per block column: the running sums of a and b over the block row.
	sumA := make([]float64, aw)
	sumB := make([]float64, aw)
	var chroma float64
	n := float64(s * s)
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		out := lab.Input.Pix[y*lab.Input.Stride : y*lab.Input.Stride+w]
		inBlockRow := y/s < ah
		for x := 0; x < w; x++ {
			L, a, b := RGBToLab(row[4*x], row[4*x+1], row[4*x+2])
			out[x] = uint8(math.Round(L * 2.55))
			chroma += math.Sqrt(float64(a*a) + float64(b*b))
			if bx := x / s; inBlockRow && bx < aw {
				sumA[bx] += a
				sumB[bx] += b
			}
		}
		if inBlockRow && y%s == s-1 {
			by := y / s
			for bx := 0; bx < aw; bx++ {
				ma, mb := sumA[bx]/n, sumB[bx]/n
				k := by*aw + bx
				lab.TargetAB[2*k] = clampInt8(ma)
				lab.TargetAB[2*k+1] = clampInt8(mb)
				lab.ABBins[k] = NearestABBin(ma, mb)
				sumA[bx], sumB[bx] = 0, 0
			}
		}
	}
	if w*h > 0 {
		lab.SourceIsGray = chroma/float64(w*h) < cfg.GrayChroma
	}
	return lab
}

func clampInt8(v float64) int8 {
	return int8(max(-128, min(127, math.Round(v))))
}
