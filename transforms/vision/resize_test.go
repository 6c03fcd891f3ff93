package vision

import (
	"bytes"
	"image"
	"math/rand/v2"
	"testing"
)

func TestResizeSizes(t *testing.T) {
	for _, tc := range []struct {
		mode         string
		w, h, size   int
		wantW, wantH int
	}{
		{"center_crop", 300, 200, 64, 64, 64},
		{"center_crop", 200, 300, 64, 64, 64},
		{"center_crop", 30, 20, 64, 64, 64}, // upscaled
		{"keep_ratio", 300, 200, 64, 96, 64},
		{"keep_ratio", 200, 300, 64, 64, 96},
		{"keep_ratio", 1000, 10, 5, 500, 5},
		{"border", 300, 200, 64, 64, 64},
		{"border", 200, 300, 64, 64, 64},
		{"border", 64, 64, 64, 64, 64},
		{"no", 300, 200, 64, 300, 200},
	} {
		for _, f := range Filters {
			out := Resize(gradient(tc.w, tc.h), tc.mode, tc.size, f)
			if out.Rect != image.Rect(0, 0, tc.wantW, tc.wantH) {
				t.Errorf("Resize(%dx%d, %s, %d, %s) = %v, want %dx%d", tc.w, tc.h, tc.mode, tc.size, f, out.Rect, tc.wantW, tc.wantH)
			}
		}
	}
}

// resize reads a decoder's YCbCr, Gray or CMYK image through imaging's
// scanner instead of converting it whole first (toNRGBA): the pixels must
// be the same for every chroma subsampling, mode and both of
// imaging.Fill's paths (crop then resize from 100 px up, else resize then
// crop). Random planes, so clamping at 0 and 255 is exercised.
func TestResizeYCbCrIsResizeNRGBA(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
	}
	var imgs []image.Image
	for _, r := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		for _, sz := range [][2]int{{301, 203}, {97, 131}} {
			m := image.NewYCbCr(image.Rect(0, 0, sz[0], sz[1]), r)
			fill(m.Y)
			fill(m.Cb)
			fill(m.Cr)
			imgs = append(imgs, m)
		}
	}
	g := image.NewGray(image.Rect(0, 0, 150, 120))
	fill(g.Pix)
	c := image.NewCMYK(image.Rect(0, 0, 130, 110)) // Adobe CMYK JPEGs decode to this
	fill(c.Pix)
	imgs = append(imgs, g, c)
	for _, m := range imgs {
		for _, mode := range ResizeModes {
			for _, size := range []int{64, 120} {
				got := resize(m, mode, size, "catmullrom")
				want := Resize(toNRGBA(m), mode, size, "catmullrom")
				if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
					t.Errorf("%T %v %v, %s %d: resize of the decoder's image differs from Resize of its NRGBA", m, m.Bounds(), subsampling(m), mode, size)
				}
			}
		}
	}
}

func subsampling(m image.Image) string {
	if y, ok := m.(*image.YCbCr); ok {
		return y.SubsampleRatio.String()
	}
	return "no chroma planes"
}

func TestResizeBorderPadsBlack(t *testing.T) {
	out := Resize(uniform(200, 100, 250, 250, 250), "border", 64, "box")
	// 64×32 content centred vertically: rows 0..15 and 48..63 are black.
	for _, p := range []image.Point{{0, 0}, {63, 15}, {10, 48}, {5, 63}} {
		if c := out.NRGBAAt(p.X, p.Y); c.R != 0 || c.G != 0 || c.B != 0 || c.A != 255 {
			t.Errorf("border pixel %v = %v, want opaque black", p, c)
		}
	}
	for _, p := range []image.Point{{0, 16}, {63, 47}, {32, 32}} {
		if c := out.NRGBAAt(p.X, p.Y); c.R != 250 {
			t.Errorf("content pixel %v = %v", p, c)
		}
	}
}

func TestResizeCenterCropKeepsCentre(t *testing.T) {
	// Left third red, middle green, right third blue: the crop is green.
	img := image.NewNRGBA(image.Rect(0, 0, 300, 100))
	for y := 0; y < 100; y++ {
		for x := 0; x < 300; x++ {
			i := img.PixOffset(x, y)
			img.Pix[i+x/100] = 255
			img.Pix[i+3] = 255
		}
	}
	out := Resize(img, "center_crop", 50, "nearest")
	if c := out.NRGBAAt(25, 25); c.G != 255 || c.R != 0 || c.B != 0 {
		t.Errorf("centre = %v, want green", c)
	}
}

func BenchmarkResize(b *testing.B) {
	img := photo(b, "chelsea.jpg") // 400×266
	b.ReportAllocs()
	for b.Loop() {
		Resize(img, "center_crop", 256, "lanczos")
	}
}
