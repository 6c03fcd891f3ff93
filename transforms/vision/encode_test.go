package vision

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
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
