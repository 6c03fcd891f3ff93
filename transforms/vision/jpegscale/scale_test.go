package jpegscale

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fixtures are real photos (testdata/images of the module) and re-encodings of
// them that cover progressive scans, 4:4:4, 4:2:2 with odd sides, gray and
// restart markers (every 3 MCUs).
func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	paths := []string{
		"../../../testdata/images/chelsea.jpg",
		"../../../testdata/images/astronaut.jpg",
		"../../../testdata/images/photos/rocket.jpg",
		"testdata/chelsea-progressive.jpg",
		"testdata/chelsea-444.jpg",
		"testdata/chelsea-422-odd.jpg",
		"testdata/camera-gray.jpg",
		"testdata/chelsea-restart.jpg",
	}
	m := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(p)] = b
	}
	return m
}

// At full size the fork decodes exactly as image/jpeg.
func TestFullSizeIsStdlib(t *testing.T) {
	for name, data := range fixtures(t) {
		want, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeScaled(bytes.NewReader(data), 8)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Bounds() != want.Bounds() {
			t.Fatalf("%s: bounds %v, stdlib %v", name, got.Bounds(), want.Bounds())
		}
		if !bytes.Equal(planes(got), planes(want)) {
			t.Errorf("%s: pixels differ from image/jpeg", name)
		}
	}
}

// A scaled decode is the full decode averaged over 8/n × 8/n boxes but for
// rounding and clipping (mean absolute difference under 0.5 levels; it is
// also within 1 level of libjpeg's scaled decode, mean 0.01, as Pillow's
// draft mode gives it on astronaut.jpg), and it has libjpeg's size.
func TestScaledMatchesBoxAverage(t *testing.T) {
	for name, data := range fixtures(t) {
		full, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{4, 2, 1} {
			got, err := DecodeScaled(bytes.NewReader(data), n)
			if err != nil {
				t.Fatalf("%s n=%d: %v", name, n, err)
			}
			fb := full.Bounds()
			wantW, wantH := (fb.Dx()*n+7)/8, (fb.Dy()*n+7)/8
			if b := got.Bounds(); b.Dx() != wantW || b.Dy() != wantH {
				t.Fatalf("%s n=%d: %dx%d, want %dx%d", name, n, b.Dx(), b.Dy(), wantW, wantH)
			}
			k := 8 / n
			var sum, cnt float64
			for y := 0; y < fb.Dy()/k; y++ {
				for x := 0; x < fb.Dx()/k; x++ {
					want := boxLuma(full, x*k, y*k, k)
					gotY := luma(got, x, y)
					sum += math.Abs(want - gotY)
					cnt++
				}
			}
			if mad := sum / cnt; mad > 0.5 {
				t.Errorf("%s n=%d: mean |scaled - box average| = %.2f levels", name, n, mad)
			}
		}
	}
}

// Same input, same bytes: the scaled transform is integer arithmetic.
func TestScaledDeterministic(t *testing.T) {
	data := fixtures(t)["chelsea.jpg"]
	a, _ := DecodeScaled(bytes.NewReader(data), 4)
	b, _ := DecodeScaled(bytes.NewReader(data), 4)
	if !bytes.Equal(planes(a), planes(b)) {
		t.Fatal("two decodes differ")
	}
}

// Truncated and garbage input fail with an error, never a panic.
func TestScaledBadInput(t *testing.T) {
	data := fixtures(t)["chelsea.jpg"]
	for _, n := range []int{1, 2, 4} {
		if _, err := DecodeScaled(bytes.NewReader(data[:len(data)/3]), n); err == nil {
			t.Errorf("n=%d: truncated JPEG decoded without error", n)
		}
		if _, err := DecodeScaled(bytes.NewReader([]byte("not a jpeg")), n); err == nil {
			t.Errorf("n=%d: garbage decoded without error", n)
		}
	}
}

func planes(m image.Image) []byte {
	switch m := m.(type) {
	case *image.YCbCr:
		return append(append(append([]byte(nil), m.Y...), m.Cb...), m.Cr...)
	case *image.Gray:
		return m.Pix
	case *image.RGBA:
		return m.Pix
	case *image.CMYK:
		return m.Pix
	}
	return nil
}

func luma(m image.Image, x, y int) float64 {
	switch m := m.(type) {
	case *image.YCbCr:
		return float64(m.Y[m.YOffset(x, y)])
	case *image.Gray:
		return float64(m.Pix[m.PixOffset(x, y)])
	}
	panic("unexpected image type")
}

func boxLuma(m image.Image, x0, y0, k int) float64 {
	var s float64
	for y := y0; y < y0+k; y++ {
		for x := x0; x < x0+k; x++ {
			s += luma(m, x, y)
		}
	}
	return s / float64(k*k)
}

// jpegtran's lossless transcodes of chelsea.jpg with restart markers (every 3
// MCUs, baseline; every MCU row, progressive: non-interleaved scans, whose
// restart intervals count blocks) decode exactly as chelsea.jpg at every
// scale. image/jpeg rejects the progressive one ("missing 0xff00 sequence").
func TestRestartMarkers(t *testing.T) {
	ref, err := os.ReadFile("../../../testdata/images/chelsea.jpg")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"chelsea-restart.jpg", "chelsea-progressive-restart.jpg"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{8, 4, 2, 1} {
			got, err := DecodeScaled(bytes.NewReader(data), n)
			if err != nil {
				t.Fatalf("%s at %d/8: %v", name, n, err)
			}
			want, err := DecodeScaled(bytes.NewReader(ref), n)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s at %d/8 differs from chelsea.jpg", name, n)
			}
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	data := fixtures(b)["chelsea.jpg"]
	for _, n := range []int{8, 4, 2, 1} {
		b.Run(string(rune('0'+n)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeScaled(bytes.NewReader(data), n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
