package vision

import (
	"image"
	"os"
	"path/filepath"
	"testing"
)

// gradient is a synthetic w×h image whose every pixel differs from its
// neighbours, so moves, flips and crops show.
func gradient(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(x*255/max(w-1, 1)), uint8(y*255/max(h-1, 1)), uint8((x*7+y*13)%256), 255
		}
	}
	return img
}

// uniform is a w×h image of one colour.
func uniform(w, h int, r, g, b uint8) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = r, g, b, 255
	}
	return img
}

// photo decodes a committed fixture under the module's testdata/images.
func photo(tb testing.TB, name string) *image.NRGBA {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "images", name))
	if err != nil {
		tb.Fatal(err)
	}
	img, _, err := Decode(data, DecodeLimits{})
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// photo256 is chelsea centre-cropped to 256×256: the benchmarks' image.
func photo256(tb testing.TB) *image.NRGBA {
	return Resize(photo(tb, "chelsea.jpg"), "center_crop", 256, "lanczos")
}
