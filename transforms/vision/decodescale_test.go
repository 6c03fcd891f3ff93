package vision

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/pretext-dev/pretext/transforms"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "images", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestJPEGScale(t *testing.T) {
	// want is n: the decode is at n/8 of the full size.
	for _, c := range []struct {
		w, h       int
		mode       string
		size, want int
	}{
		{400, 266, "center_crop", 256, 8},   // 266/2 < 256: full size
		{400, 266, "center_crop", 128, 4},   // 1/2: 200×133
		{400, 266, "center_crop", 64, 2},    // 1/4: 100×67; 1/8: 50×34
		{400, 266, "center_crop", 33, 1},    // ceil(266/8) = 34
		{2560, 1600, "center_crop", 256, 2}, // 1/4: 640×400; 1/8: 320×200
		{2560, 1600, "keep_ratio", 256, 2},
		{2560, 1600, "border", 256, 1}, // the longer side at 1/8: 320 ≥ 256
		{2560, 1600, "no", 256, 8},
	} {
		want := c.want
		if got := jpegScale(c.w, c.h, c.mode, c.size); got != want {
			t.Errorf("jpegScale(%d, %d, %s, %d) = %d, want %d", c.w, c.h, c.mode, c.size, got, want)
		}
	}
}

// A JPEG too small to scale decodes exactly as Decode; a scaled one keeps
// its full size in w, h, and resizes to nearly the same pixels.
func TestDecodeForResize(t *testing.T) {
	data := readFixture(t, "chelsea.jpg")
	full, _, err := Decode(data, DecodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	same, format, w, h, err := DecodeForResize(data, DecodeLimits{}, "center_crop", 256)
	if err != nil || format != "jpeg" {
		t.Fatal(format, err)
	}
	if w != 400 || h != 266 || !bytes.Equal(same.Pix, full.Pix) {
		t.Fatalf("unscaled decode differs from Decode (%dx%d)", w, h)
	}
	small, _, w, h, err := DecodeForResize(data, DecodeLimits{}, "center_crop", 64)
	if err != nil {
		t.Fatal(err)
	}
	if w != 400 || h != 266 || small.Rect.Dx() != 100 || small.Rect.Dy() != 67 {
		t.Fatalf("scaled decode: full size %dx%d, image %v", w, h, small.Rect)
	}
	a := Resize(full, "center_crop", 64, "catmullrom")
	b := Resize(small, "center_crop", 64, "catmullrom")
	var sum, n float64
	for i := range a.Pix {
		if i%4 == 3 {
			continue
		}
		d := float64(a.Pix[i]) - float64(b.Pix[i])
		sum += max(d, -d)
		n++
	}
	if mad := sum / n; mad > 4 {
		t.Errorf("64 px crops from full and 1/4-scale decodes differ by %.2f levels on average", mad)
	}
}

// The sizes filters judge are the full ones, after EXIF orientation, and
// other formats ignore the scaling.
func TestDecodeForResizeFullSize(t *testing.T) {
	img := gradient(300, 100)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	rotated := withOrientation(buf.Bytes(), 6, binary.BigEndian)
	m, _, w, h, err := DecodeForResize(rotated, DecodeLimits{}, "center_crop", 32)
	if err != nil {
		t.Fatal(err)
	}
	// 1/2 scale (at 1/4 the shorter side would be 25 < 32), then rotated.
	if w != 100 || h != 300 || m.Rect != image.Rect(0, 0, 50, 150) {
		t.Fatalf("got full %dx%d, image %v; want 100x300, 50x150", w, h, m.Rect)
	}
	pngData := encodeWith(t, img, png.Encode)
	m, _, w, h, err = DecodeForResize(pngData, DecodeLimits{}, "center_crop", 32)
	if err != nil || w != 300 || h != 100 || m.Rect.Dx() != 300 {
		t.Fatalf("PNG: %v %dx%d %v", err, w, h, m.Rect)
	}
}

// Prepare with jpeg_scaling filters on the full size: a 400×266 photo with
// min_width 300 passes although it is decoded at 100×67.
func TestPrepareJPEGScaling(t *testing.T) {
	im := DefaultOptions()
	im.Size, im.MinWidth, im.JPEGScaling = 64, 300, true
	ex, stage, reason, _ := Prepare("k", "s", readFixture(t, "chelsea.jpg"), im, transforms.DefaultSplit())
	if stage != "" {
		t.Fatalf("stopped at %s: %s", stage, reason)
	}
	if ex.Image.Rect.Dx() != 64 || ex.Image.Rect.Dy() != 64 {
		t.Fatalf("example is %v", ex.Image.Rect)
	}
}

func BenchmarkPrepare(b *testing.B) {
	data := readFixture(b, "astronaut.jpg")
	for _, scaling := range []bool{false, true} {
		name := "full"
		if scaling {
			name = "jpeg_scaling"
		}
		b.Run(name, func(b *testing.B) {
			im := DefaultOptions()
			im.Size, im.JPEGScaling = 128, scaling
			b.ReportAllocs()
			for b.Loop() {
				if _, stage, reason, _ := Prepare("k", "s", data, im, transforms.DefaultSplit()); stage != "" {
					b.Fatal(stage, reason)
				}
			}
		})
	}
}
