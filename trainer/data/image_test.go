package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// Decoded images are the source pixels /255, NHWC: exactly for png and raw,
// for jpeg exactly Go's decoding of the stored bytes.
func TestImageDecodeMatchesSource(t *testing.T) {
	const w, h = 12, 9 // not square: catches a transposed layout
	for _, format := range vision.EncodingFormats {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			rows, targets := denoiseRows(t, 6, w, h, format, 0)
			writeDataset(t, dir, "denoise", [][]sinks.DenoiseRow{rows}, nil)
			bs, _ := collect(t, open(t, dir, options(4, 0, 1)), -1)
			if len(bs) != 2 || bs[0].Len() != 4 || bs[1].Len() != 2 {
				t.Fatalf("batches of %d and %d rows", bs[0].Len(), bs[1].Len())
			}
			b := bs[0].(*ImageBatch)
			if b.Task != "denoise" || b.Width != w || b.Height != h || b.InputChannels != 3 || b.Channels != 3 ||
				len(b.Input) != 4*h*w*3 || len(b.Target) != 4*h*w*3 || b.Mask != nil || b.ABBins != nil {
				t.Fatalf("batch shape: %+v", b)
			}
			for i := range 4 {
				want := targets[i]
				if format == "jpeg" {
					want = jpegPixels(t, rows[i].Target)
				}
				var worst float64
				for y := range h {
					for x := range w {
						for c := range 3 {
							got := b.Target[((i*h+y)*w+x)*3+c]
							d := math.Abs(float64(got) - float64(want.Pix[y*want.Stride+4*x+c])/255)
							worst = max(worst, d)
						}
					}
				}
				// image/jpeg's YCbCr→RGB and color.YCbCrToRGB may round one level apart.
				if tol := map[string]float64{"png": 1e-7, "raw": 1e-7, "jpeg": 1.01 / 255}[format]; worst > tol {
					t.Errorf("row %d: target differs from the source by %g", i, worst)
				}
			}
			if bytes.Equal(f32bytes(b.Input), f32bytes(b.Target)) {
				t.Error("input equals target")
			}
		})
	}
}

func jpegPixels(t *testing.T, data []byte) *image.NRGBA {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewNRGBA(img.Bounds())
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			out.Set(x, y, color.NRGBAModel.Convert(img.At(x, y)))
		}
	}
	return out
}

func f32bytes(v []float32) []byte { return []byte(fmt.Sprint(v)) }

// Colorize: the input is L*/100, the ab targets those the pipeline computed.
func TestColorizeBatch(t *testing.T) {
	const w, h = 16, 8
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []sinks.ColorizeRow
	var imgs []*image.NRGBA
	cfg := vision.DefaultColorizeConfig()
	for i := range 3 {
		img := randomImage(rng, w, h)
		imgs = append(imgs, img)
		lab := vision.Colorize(img, cfg)
		rows = append(rows, sinks.ColorizeRow{
			Key: fmt.Sprintf("c%d.png", i), Split: "train", Width: w, Height: h, Encoding: "png",
			Input: encode(t, lab.Input, "png"), Target: encode(t, img, "png"),
			TargetAB: lab.TargetAB, ABBins: lab.ABBins, ABStride: int32(cfg.ABStride),
			ABHeight: int32(lab.ABHeight), ABWidth: int32(lab.ABWidth), SourceIsGray: lab.SourceIsGray,
		})
	}
	dir := t.TempDir()
	writeDataset(t, dir, "colorize", [][]sinks.ColorizeRow{rows}, nil)
	bs, _ := collect(t, open(t, dir, options(3, 0, 1)), -1)
	b := bs[0].(*ImageBatch)
	if b.InputChannels != 1 || b.Channels != 3 || len(b.Input) != 3*w*h || b.ABHeight != h/4 || b.ABWidth != w/4 ||
		len(b.ABBins) != 3*2*4 || len(b.AB) != 2*len(b.ABBins) || len(b.SourceIsGray) != 3 {
		t.Fatalf("batch shape: %d %d %d %d %d %d %d", b.InputChannels, b.Channels, len(b.Input), b.ABHeight, b.ABWidth, len(b.ABBins), len(b.AB))
	}
	for i, r := range rows {
		img := imgs[i]
		for p := 0; p < w*h; p++ {
			L, _, _ := vision.RGBToLab(img.Pix[4*p], img.Pix[4*p+1], img.Pix[4*p+2])
			if d := math.Abs(float64(b.Input[i*w*h+p]) - L/100); d > 0.5/255+1e-6 {
				t.Fatalf("row %d pixel %d: input %g, L*/100 = %g", i, p, b.Input[i*w*h+p], L/100)
			}
		}
		for j, bin := range r.ABBins {
			if b.ABBins[i*8+j] != int32(bin) {
				t.Fatalf("row %d block %d: bin %d, want %d", i, j, b.ABBins[i*8+j], bin)
			}
		}
		for j, v := range r.TargetAB {
			if b.AB[i*16+j] != float32(v)/128 {
				t.Fatalf("row %d: ab %g, want %d/128", i, b.AB[i*16+j], v)
			}
		}
	}
}

// Inpaint: Mask is 1 exactly on the holes.
func TestInpaintMask(t *testing.T) {
	const w, h = 10, 6
	rng := rand.New(rand.NewPCG(3, 4))
	target := randomImage(rng, w, h)
	mask := image.NewGray(image.Rect(0, 0, w, h))
	holes := 0
	for y := 1; y < 4; y++ {
		for x := 2; x < 7; x++ {
			mask.Pix[y*mask.Stride+x] = 255
			holes++
		}
	}
	for _, format := range vision.EncodingFormats {
		dir := t.TempDir()
		rows := []sinks.InpaintRow{{Key: "a", Split: "train", Width: w, Height: h, Encoding: format,
			Input: encode(t, target, format), Target: encode(t, target, format), Mask: encode(t, mask, format), MaskKind: "center"}}
		writeDataset(t, dir, "inpaint", [][]sinks.InpaintRow{rows}, nil)
		bs, _ := collect(t, open(t, dir, options(1, 0, 1)), -1)
		b := bs[0].(*ImageBatch)
		if len(b.Mask) != w*h {
			t.Fatalf("%s: mask of %d values", format, len(b.Mask))
		}
		for p, v := range b.Mask {
			if want := float32(mask.Pix[p] / 255); v != want {
				t.Fatalf("%s: mask pixel %d = %g, want %g", format, p, v, want)
			}
		}
	}
}

// Images of two sizes in one batch, and a corrupt image: errors naming the
// shard and the row's key.
func TestImageRowErrors(t *testing.T) {
	rows, _ := denoiseRows(t, 2, 8, 8, "png", 0)
	other, _ := denoiseRows(t, 1, 8, 6, "png", 2)
	broken, _ := denoiseRows(t, 1, 8, 8, "png", 3)
	broken[0].Target = broken[0].Target[:len(broken[0].Target)/2]
	for name, tc := range map[string]struct {
		rows []sinks.DenoiseRow
		want string
	}{
		"sizes":   {append(rows, other...), "one size"},
		"corrupt": {append(rows, broken...), "target: png"},
	} {
		dir := t.TempDir()
		writeDataset(t, dir, "denoise", [][]sinks.DenoiseRow{tc.rows}, nil)
		_, err := open(t, dir, options(4, 0, 1)).Next()
		if err == nil || !strings.Contains(err.Error(), "denoise-00000-of-00001.parquet, row 2 (key") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
