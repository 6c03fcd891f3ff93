package vision

import (
	"image"
	"math"
	"math/rand/v2"

	"github.com/pretext-dev/pretext/transforms"
)

// InpaintKinds are the hole shapes the inpainting task knows.
var InpaintKinds = []string{"center", "random_blocks", "irregular", "patches"}

// InpaintConfig configures the inpainting task. Each row draws one kind
// uniformly from Kinds.
type InpaintConfig struct {
	// Variants is the number of rows per image, each with its own draw.
	Variants int `yaml:"variants" json:"variants"`
	// Kinds is a subset of:
	//   - center: the central block (Pathak et al. 2016, context encoders);
	//   - random_blocks: axis-aligned rectangles at random places;
	//   - irregular: free-form brush strokes, random walks of thick segments
	//     with round caps (Yu et al. 2019, DeepFill v2; Liu et al. 2018);
	//   - patches: a random subset of a grid of square patches (He et al.
	//     2022, MAE).
	Kinds []string `yaml:"kinds" json:"kinds"`
	// CenterSize is the side of the central hole as a fraction of each side
	// of the image: 0.5 masks a quarter of it, as Pathak et al.
	CenterSize float64 `yaml:"center_size" json:"center_size"`
	// MaskRatio is the [min, max] fraction of pixels random_blocks and
	// irregular mask. A target is drawn uniformly in it, shapes are added
	// until the holes reach it, and shapes are shrunk so they never pass
	// max: the realised ratio always lies in the range (when the range holds
	// at least one whole pixel count).
	MaskRatio [2]float64 `yaml:"mask_ratio" json:"mask_ratio"`
	// PatchSize is the side of the patches, in pixels (MAE: 16).
	PatchSize int `yaml:"patch_size" json:"patch_size"`
	// PatchRatio is the fraction of patches masked: exactly
	// round(PatchRatio·n) of the n patches that lie wholly inside the image
	// (MAE: 0.75). Pixels in partial patches at the right and bottom edges
	// are never masked.
	PatchRatio float64 `yaml:"patch_ratio" json:"patch_ratio"`
	// Fill is the value written into R, G and B of the input's holes. The
	// default 127 is mid-gray, about 0 after the usual [-1, 1] input
	// normalisation, as the mean fill of Pathak et al. and the zero fill of
	// DeepFill; the mask column says where the holes are in any case.
	Fill uint8 `yaml:"fill" json:"fill"`
}

// DefaultInpaintConfig returns the defaults: one variant, every kind, a
// half-side centre block, 10–50 % holes, MAE's 16-pixel patches at 75 %.
func DefaultInpaintConfig() InpaintConfig {
	return InpaintConfig{
		Variants:   1,
		Kinds:      append([]string(nil), InpaintKinds...),
		CenterSize: 0.5,
		MaskRatio:  [2]float64{0.1, 0.5},
		PatchSize:  16,
		PatchRatio: 0.75,
		Fill:       127,
	}
}

// Validate reports every bad field, each prefixed with path.
func (c InpaintConfig) Validate(path string) error {
	f := transforms.Fields{Path: path}
	f.AtLeast("variants", c.Variants, 1)
	f.Kinds("kinds", c.Kinds, InpaintKinds)
	if !(c.CenterSize > 0 && c.CenterSize <= 1) {
		f.Addf("center_size", "must be in (0, 1] (got %g)", c.CenterSize)
	}
	f.Span("mask_ratio", c.MaskRatio, 0, 1, false)
	f.AtLeast("patch_size", c.PatchSize, 1)
	f.Within("patch_ratio", c.PatchRatio, 0, 1)
	return f.Err()
}

// InpaintLabel is one inpainting example; its target is the whole image.
type InpaintLabel struct {
	// Input is the image with Fill in R, G and B of every hole.
	Input *image.NRGBA
	// Mask is 255 where a pixel is a hole, 0 where it is kept.
	Mask *image.Gray
	// Kind is the hole shape drawn.
	Kind string
	// Ratio is the realised fraction of pixels in holes.
	Ratio float32
}

// Inpaint cuts holes of a kind drawn from rng into a copy of img. img is not
// modified. cfg is expected to be valid.
func Inpaint(img *image.NRGBA, cfg InpaintConfig, rng *rand.Rand) InpaintLabel {
	kind := cfg.Kinds[rng.IntN(len(cfg.Kinds))]
	w, h := img.Rect.Dx(), img.Rect.Dy()
	mask := image.NewGray(image.Rect(0, 0, w, h))
	m := mask.Pix // stride w
	var holes int
	switch kind {
	case "center":
		holes = centerHoles(m, w, h, cfg.CenterSize)
	case "random_blocks":
		need, most := holeBudget(w*h, cfg.MaskRatio, rng)
		holes = blockHoles(m, w, h, need, most, rng)
	case "irregular":
		need, most := holeBudget(w*h, cfg.MaskRatio, rng)
		holes = strokeHoles(m, w, h, need, most, rng)
	case "patches":
		holes = patchHoles(m, w, h, cfg.PatchSize, cfg.PatchRatio, rng)
	}
	in := clone(img)
	for i, v := range m {
		if v != 0 {
			in.Pix[4*i], in.Pix[4*i+1], in.Pix[4*i+2] = cfg.Fill, cfg.Fill, cfg.Fill
		}
	}
	var ratio float32
	if w*h > 0 {
		ratio = float32(float64(holes) / float64(w*h))
	}
	return InpaintLabel{Input: in, Mask: mask, Kind: kind, Ratio: ratio}
}

func centerHoles(m []uint8, w, h int, size float64) int {
	cw := max(1, int(math.Round(size*float64(w))))
	ch := max(1, int(math.Round(size*float64(h))))
	cw, ch = min(cw, w), min(ch, h)
	x0, y0 := (w-cw)/2, (h-ch)/2
	for y := y0; y < y0+ch; y++ {
		row := m[y*w+x0 : y*w+x0+cw]
		for x := range row {
			row[x] = 255
		}
	}
	return cw * ch
}

// holeBudget draws a target in r and returns the number of holes to reach
// (need) and the most allowed, both whole pixel counts whose ratio to n
// lies in r. When r holds no whole count, both are the count nearest to it.
func holeBudget(n int, r [2]float64, rng *rand.Rand) (need, most int) {
	lo, hi := int(math.Ceil(r[0]*float64(n))), int(math.Floor(r[1]*float64(n)))
	for lo > 0 && float64(lo-1)/float64(n) >= r[0] {
		lo--
	}
	for float64(lo)/float64(n) < r[0] {
		lo++
	}
	for hi > 0 && float64(hi)/float64(n) > r[1] {
		hi--
	}
	for hi < n && float64(hi+1)/float64(n) <= r[1] {
		hi++
	}
	if hi < lo {
		c := min(n, int(math.Round((r[0]+r[1])/2*float64(n))))
		return c, c
	}
	target := r[0] + float64(rng.Float64()*(r[1]-r[0]))
	need = max(lo, min(hi, int(math.Ceil(target*float64(n)))))
	return need, hi
}

// maxShapes bounds the shapes drawn for one mask; were it ever reached (a
// mask of nearly every pixel), topUp completes the mask pixel by pixel.
const maxShapes = 4000

// blockHoles adds rectangles until need pixels are holes. Each rectangle's
// area is capped by what is left to reach need (at least 16) and by what is
// left before most, so the count never passes most.
func blockHoles(m []uint8, w, h, need, most int, rng *rand.Rand) int {
	holes := 0
	loW, hiW := max(1, w/16), max(1, w/3)
	loH, hiH := max(1, h/16), max(1, h/3)
	for tries := 0; holes < need && tries < maxShapes; tries++ {
		bw, bh := loW+rng.IntN(hiW-loW+1), loH+rng.IntN(hiH-loH+1)
		limit := min(most-holes, max(need-holes, 16))
		if bw*bh > limit {
			s := math.Sqrt(float64(limit) / float64(bw*bh))
			bw, bh = max(1, int(float64(bw)*s)), max(1, int(float64(bh)*s))
			for bw*bh > limit {
				if bw >= bh {
					bw--
				} else {
					bh--
				}
			}
		}
		x0, y0 := rng.IntN(w-bw+1), rng.IntN(h-bh+1)
		for y := y0; y < y0+bh; y++ {
			row := m[y*w+x0 : y*w+x0+bw]
			for x, v := range row {
				if v == 0 {
					row[x] = 255
					holes++
				}
			}
		}
	}
	return topUp(m, holes, need, rng)
}

// strokeHoles draws free-form brush strokes until need pixels are holes.
// Each stroke is a random walk of 4–12 segments of one brush width; a
// segment that would pass most is halved (width and length) until it fits.
func strokeHoles(m []uint8, w, h, need, most int, rng *rand.Rand) int {
	side := float64(min(w, h))
	minR, maxR := max(1, side/64), max(1.5, side/20)
	maxLen := max(2, side/5)
	holes := 0
	var buf []int32
	for strokes := 0; holes < need && strokes < maxShapes; strokes++ {
		x, y := rng.Float64()*float64(w), rng.Float64()*float64(h)
		angle := rng.Float64() * 2 * math.Pi
		r := minR + float64(rng.Float64()*(maxR-minR))
		for v, n := 0, 4+rng.IntN(9); v < n && holes < need; v++ {
			angle += (rng.Float64() - 0.5) * math.Pi // turn by up to ±90°
			l := 1 + float64(rng.Float64()*(maxLen-1))
			nx := max(0, min(float64(w), x+float64(l*math.Cos(angle))))
			ny := max(0, min(float64(h), y+float64(l*math.Sin(angle))))
			holes += capsule(m, w, h, x, y, nx, ny, r, most-holes, &buf)
			x, y = nx, ny
		}
	}
	return topUp(m, holes, need, rng)
}

// capsule masks the pixels whose centres lie within r of the segment
// (x0,y0)–(x1,y1) and returns how many were new. When more than budget
// would be new it halves r and the segment and tries again; below r = 0.5
// it masks just the pixel under (x0,y0), so a budget >= 1 always fits.
func capsule(m []uint8, w, h int, x0, y0, x1, y1, r float64, budget int, buf *[]int32) int {
	for r >= 0.5 {
		*buf = (*buf)[:0]
		dx, dy := x1-x0, y1-y0
		ll := float64(dx*dx) + float64(dy*dy)
		xa, xb := max(0, int(math.Floor(min(x0, x1)-r))), min(w-1, int(math.Ceil(max(x0, x1)+r)))
		ya, yb := max(0, int(math.Floor(min(y0, y1)-r))), min(h-1, int(math.Ceil(max(y0, y1)+r)))
		r2 := r * r
		for py := ya; py <= yb; py++ {
			cy := float64(py) + 0.5
			for px := xa; px <= xb; px++ {
				if m[py*w+px] != 0 {
					continue
				}
				cx := float64(px) + 0.5
				t := 0.0
				if ll > 0 {
					t = max(0, min(1, (float64((cx-x0)*dx)+float64((cy-y0)*dy))/ll))
				}
				ex, ey := cx-(x0+float64(t*dx)), cy-(y0+float64(t*dy))
				if float64(ex*ex)+float64(ey*ey) <= r2 {
					*buf = append(*buf, int32(py*w+px))
				}
			}
		}
		if len(*buf) <= budget {
			for _, i := range *buf {
				m[i] = 255
			}
			return len(*buf)
		}
		r /= 2
		x1, y1 = (x0+x1)/2, (y0+y1)/2
	}
	px, py := min(w-1, int(x0)), min(h-1, int(y0))
	if budget < 1 || m[py*w+px] != 0 {
		return 0
	}
	m[py*w+px] = 255
	return 1
}

// topUp masks randomly chosen kept pixels until need are holes. Shapes
// reach need on their own in practice; this bounds the work when they
// cannot (a range near 1, or a tiny image).
func topUp(m []uint8, holes, need int, rng *rand.Rand) int {
	if holes >= need {
		return holes
	}
	var kept []int32
	for i, v := range m {
		if v == 0 {
			kept = append(kept, int32(i))
		}
	}
	for i := 0; holes < need && i < len(kept); i++ {
		j := i + rng.IntN(len(kept)-i)
		kept[i], kept[j] = kept[j], kept[i]
		m[kept[i]] = 255
		holes++
	}
	return holes
}

// patchHoles masks exactly round(ratio·n) of the n size×size patches that
// lie wholly inside the image, chosen uniformly without replacement.
func patchHoles(m []uint8, w, h, size int, ratio float64, rng *rand.Rand) int {
	size = max(size, 1)
	nx, ny := w/size, h/size
	n := nx * ny
	k := int(math.Round(ratio * float64(n)))
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	for i := 0; i < k; i++ {
		j := i + rng.IntN(n-i)
		idx[i], idx[j] = idx[j], idx[i]
		x0, y0 := int(idx[i])%nx*size, int(idx[i])/nx*size
		for y := y0; y < y0+size; y++ {
			row := m[y*w+x0 : y*w+x0+size]
			for x := range row {
				row[x] = 255
			}
		}
	}
	return k * size * size
}
