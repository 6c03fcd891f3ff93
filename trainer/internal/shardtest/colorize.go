package shardtest

import (
	"fmt"
	"image"
	"math/rand/v2"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// Colorize writes a colorize dataset in dir like Images: each image is a
// disc of one random colour on a gray ground, labeled by the pipeline's own
// vision.Colorize (L* input, RGB target, block ab and ab bins at abStride).
func Colorize(dir string, shards, rows, size, abStride int, seed uint64) (*sinks.Manifest, error) {
	const task = "colorize"
	cfg := vision.DefaultColorizeConfig()
	cfg.ABStride = abStride
	rng := rand.New(rand.NewPCG(seed, 1))
	return Write(dir, task, seed, nil, shards, rows, func(k, i int) (sinks.ColorizeRow, error) {
		img := colourDisc(rng, size)
		lab := vision.Colorize(img, cfg)
		return sinks.ColorizeRow{
			Key: fmt.Sprintf("img%05d.png", k*rows+i), Source: "shardtest", Split: "train",
			Width: int32(size), Height: int32(size), Encoding: "png",
			Input: encodePNG(lab.Input), Target: encodePNG(img),
			TargetAB: lab.TargetAB, ABBins: lab.ABBins, ABStride: int32(abStride),
			ABHeight: int32(lab.ABHeight), ABWidth: int32(lab.ABWidth), SourceIsGray: lab.SourceIsGray,
		}, nil
	})
}

// colourDisc is a disc of a random saturated colour on mid gray: its
// lightness says where the disc is, not which colour it has.
func colourDisc(rng *rand.Rand, size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	palette := [][3]uint8{{200, 40, 40}, {40, 160, 40}, {40, 60, 200}, {210, 190, 30}}
	c := palette[rng.IntN(len(palette))]
	cx, cy, r := rng.Float64()*float64(size), rng.Float64()*float64(size), 3+rng.Float64()*float64(size)/3
	for y := range size {
		for x := range size {
			dx, dy := float64(x)-cx, float64(y)-cy
			p := img.Pix[y*img.Stride+4*x:]
			if dx*dx+dy*dy < r*r {
				p[0], p[1], p[2] = c[0], c[1], c[2]
			} else {
				p[0], p[1], p[2] = 128, 128, 128
			}
			p[3] = 255
		}
	}
	return img
}
