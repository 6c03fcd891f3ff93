package vision

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"testing"
)

func TestEncodeRoundTrip(t *testing.T) {
	img := gradient(20, 10)
	g := image.NewGray(image.Rect(0, 0, 20, 10))
	for i := range g.Pix {
		g.Pix[i] = uint8(i)
	}
	for _, tc := range []struct {
		name    string
		img     image.Image
		enc     Encoding
		channel int // channels of the decoded image: 1 gray, 3 colour
	}{
		{"png rgb", img, Encoding{Format: "png"}, 3},
		{"png rgb best_speed", img, Encoding{Format: "png", PNGLevel: "best_speed"}, 3},
		{"png rgb none", img, Encoding{Format: "png", PNGLevel: "none"}, 3},
		{"png gray", g, Encoding{Format: "png", PNGLevel: "best_compression"}, 1},
		{"jpeg rgb", img, Encoding{Format: "jpeg", JPEGQuality: 90}, 3},
		{"jpeg gray", g, Encoding{Format: "jpeg", JPEGQuality: 90}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.img, tc.enc)
			if err != nil {
				t.Fatal(err)
			}
			var m image.Image
			if tc.enc.Format == "png" {
				m, err = png.Decode(bytes.NewReader(b))
			} else {
				m, err = jpeg.Decode(bytes.NewReader(b))
			}
			if err != nil {
				t.Fatal(err)
			}
			_, isGray := m.(*image.Gray)
			if isGray != (tc.channel == 1) {
				t.Errorf("decoded %T, want %d channel(s)", m, tc.channel)
			}
			if m.Bounds() != tc.img.Bounds() {
				t.Errorf("bounds %v", m.Bounds())
			}
			if tc.enc.Format == "png" && tc.channel == 3 {
				if got := toNRGBA(m); !bytes.Equal(got.Pix, img.Pix) {
					t.Error("PNG round trip changed pixels")
				}
			}
			again, _ := Encode(tc.img, tc.enc)
			if !bytes.Equal(b, again) {
				t.Error("two encodings differ")
			}
		})
	}
}

func TestEncodeRaw(t *testing.T) {
	img := gradient(5, 3)
	img.Pix[3] = 7 // translucent: alpha is dropped, colour kept
	b, err := Encode(img, Encoding{Format: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 5*3*3 {
		t.Fatalf("len = %d, want %d", len(b), 45)
	}
	for i := 0; i < 15; i++ {
		if !bytes.Equal(b[3*i:3*i+3], img.Pix[4*i:4*i+3]) {
			t.Fatalf("pixel %d = %v, want %v", i, b[3*i:3*i+3], img.Pix[4*i:4*i+3])
		}
	}
	if img.Pix[3] != 7 {
		t.Error("Encode modified its input")
	}
	// A sub-image: rows follow its stride.
	sub := img.SubImage(image.Rect(1, 1, 3, 3)).(*image.NRGBA)
	b, _ = Encode(sub, Encoding{Format: "raw"})
	if len(b) != 12 || !bytes.Equal(b[:3], img.Pix[img.PixOffset(1, 1):img.PixOffset(1, 1)+3]) {
		t.Errorf("sub-image raw = %v", b)
	}
	g := image.NewGray(image.Rect(0, 0, 4, 2))
	copy(g.Pix, []uint8{1, 2, 3, 4, 5, 6, 7, 8})
	b, _ = Encode(g, Encoding{Format: "raw"})
	if !bytes.Equal(b, g.Pix) {
		t.Errorf("gray raw = %v", b)
	}
}

func TestEncodeTranslucentPNGIsRGB(t *testing.T) {
	img := gradient(4, 4)
	img.Pix[3] = 0
	b, err := Encode(img, Encoding{Format: "png"})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := png.Decode(bytes.NewReader(b))
	if _, _, _, a := m.At(0, 0).RGBA(); a != 0xFFFF {
		t.Errorf("alpha kept: %v", m.At(0, 0))
	}
}

func TestEncodeErrors(t *testing.T) {
	for _, enc := range []Encoding{{Format: "webp"}, {Format: "png", PNGLevel: "max"}, {Format: "jpeg", JPEGQuality: 101}} {
		if _, err := Encode(gradient(2, 2), enc); err == nil {
			t.Errorf("Encode with %+v: no error", enc)
		}
	}
}

// pretext's PNG encoder makes image/png's filtered rows (same filter per
// row) and a stream image/png decodes to the same pixels, at every level,
// for RGB and gray, photos and odd sizes.
func TestPNGIsImagePNGsFilters(t *testing.T) {
	photo := photo256(t)
	gray := image.NewGray(image.Rect(0, 0, 256, 256))
	for i := range gray.Pix {
		gray.Pix[i] = photo.Pix[4*i+1]
	}
	odd := gradient(7, 5)
	for i := range odd.Pix {
		if i%4 != 3 {
			odd.Pix[i] ^= uint8(i * 37)
		}
	}
	for _, img := range []image.Image{photo, gray, odd, gradient(1, 1)} {
		for _, level := range PNGLevels {
			got, err := Encode(img, Encoding{Format: "png", PNGLevel: level})
			if err != nil {
				t.Fatal(err)
			}
			m, err := png.Decode(bytes.NewReader(got))
			if err != nil {
				t.Fatalf("%v %s: image/png cannot read it: %v", img.Bounds(), level, err)
			}
			if !samePixels(m, img) {
				t.Errorf("%v %s: pixels differ", img.Bounds(), level)
			}
			var want bytes.Buffer
			lv := map[string]png.CompressionLevel{"default": png.DefaultCompression, "best_speed": png.BestSpeed, "best_compression": png.BestCompression, "none": png.NoCompression}[level]
			if err := (&png.Encoder{CompressionLevel: lv}).Encode(&want, img); err != nil {
				t.Fatal(err)
			}
			if g, w := idat(t, got), idat(t, want.Bytes()); !bytes.Equal(g, w) {
				t.Errorf("%v %s: filtered rows differ from image/png's", img.Bounds(), level)
			}
		}
	}
}

// idat is the inflated image data of a PNG: its filtered rows.
func idat(t *testing.T, b []byte) []byte {
	t.Helper()
	var z []byte
	for b = b[8:]; len(b) >= 12; {
		n := binary.BigEndian.Uint32(b)
		if string(b[4:8]) == "IDAT" {
			z = append(z, b[8:8+n]...)
		}
		b = b[12+n:]
	}
	r, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := b.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				return false
			}
		}
	}
	return true
}

func BenchmarkEncodePNG(b *testing.B) {
	img := photo256(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(img, Encoding{Format: "png"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeJPEG(b *testing.B) {
	img := photo256(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(img, Encoding{Format: "jpeg", JPEGQuality: 90}); err != nil {
			b.Fatal(err)
		}
	}
}
