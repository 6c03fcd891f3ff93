package vision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pretext-dev/pretext/transforms"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// A format whose decoder panics, to check Decode recovers.
func init() {
	image.RegisterFormat("panicky", "\x00PANIC", func(io.Reader) (image.Image, error) {
		panic("decoder bug")
	}, func(io.Reader) (image.Config, error) {
		return image.Config{ColorModel: color.NRGBAModel, Width: 2, Height: 2}, nil
	})
}

func encodeWith(t *testing.T, img image.Image, enc func(io.Writer, image.Image) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func meanAbsDiff(a, b *image.NRGBA) float64 {
	var s float64
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		s += float64(max(d, -d))
	}
	return s / float64(len(a.Pix))
}

func TestDecodeFormats(t *testing.T) {
	src := gradient(32, 24)
	paletted := image.NewPaletted(src.Rect, palette.Plan9)
	for i := range paletted.Pix {
		paletted.Pix[i] = uint8(i % 256)
	}
	for _, tc := range []struct {
		format  string
		data    []byte
		want    *image.NRGBA
		maxDiff float64 // mean absolute difference per channel
	}{
		{"png", encodeWith(t, src, png.Encode), src, 0},
		{"jpeg", encodeWith(t, src, func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, &jpeg.Options{Quality: 95}) }), src, 8},
		{"gif", encodeWith(t, paletted, func(w io.Writer, m image.Image) error { return gif.Encode(w, m, nil) }), toNRGBA(paletted), 0},
		{"bmp", encodeWith(t, src, bmp.Encode), src, 0},
		{"tiff", encodeWith(t, src, func(w io.Writer, m image.Image) error { return tiff.Encode(w, m, nil) }), src, 0},
	} {
		t.Run(tc.format, func(t *testing.T) {
			img, format, err := Decode(tc.data, DecodeLimits{MaxPixels: 1 << 20, MaxBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if format != tc.format {
				t.Errorf("format = %q, want %q", format, tc.format)
			}
			if img.Rect != tc.want.Rect {
				t.Fatalf("bounds %v, want %v", img.Rect, tc.want.Rect)
			}
			if d := meanAbsDiff(img, tc.want); d > tc.maxDiff {
				t.Errorf("mean abs diff %.2f > %.2f", d, tc.maxDiff)
			}
		})
	}
}

func TestDecodeGray(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 5, 3))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 17)
	}
	img, _, err := Decode(encodeWith(t, g, png.Encode), DecodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range g.Pix {
		if p := img.Pix[4*i : 4*i+4]; p[0] != v || p[1] != v || p[2] != v || p[3] != 255 {
			t.Fatalf("pixel %d = %v, want gray %d", i, p, v)
		}
	}
}

func TestDecodeWebP(t *testing.T) {
	ref, err := os.ReadFile(filepath.Join("testdata", "chelsea-24x16.png"))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := Decode(ref, DecodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file    string
		maxDiff float64
	}{
		{"chelsea-24x16-lossless.webp", 0},
		{"chelsea-24x16-lossy.webp", 8},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		img, format, err := Decode(data, DecodeLimits{})
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if format != "webp" || img.Rect != want.Rect {
			t.Fatalf("%s: format %q bounds %v", tc.file, format, img.Rect)
		}
		if d := meanAbsDiff(img, want); d > tc.maxDiff {
			t.Errorf("%s: mean abs diff %.2f > %.2f", tc.file, d, tc.maxDiff)
		}
	}
}

// withOrientation inserts an EXIF APP1 segment holding orientation o right
// after a JPEG's SOI marker, in the given byte order.
func withOrientation(jpg []byte, o uint16, bo binary.ByteOrder) []byte {
	tiffHdr := []byte("II*\x00")
	if bo == binary.BigEndian {
		tiffHdr = []byte("MM\x00*")
	}
	var t bytes.Buffer
	t.Write(tiffHdr)
	binary.Write(&t, bo, uint32(8)) // IFD0 offset
	binary.Write(&t, bo, uint16(2)) // two entries: an unrelated tag, then 0x0112
	binary.Write(&t, bo, [6]uint16{0x010F, 2, 0, 4, 0x4142, 0})
	binary.Write(&t, bo, [4]uint16{0x0112, 3, 0, 1})
	binary.Write(&t, bo, [2]uint16{o, 0})
	binary.Write(&t, bo, uint32(0)) // no next IFD
	seg := append([]byte("Exif\x00\x00"), t.Bytes()...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xFF, 0xE1, byte((len(seg)+2)>>8), byte(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func TestDecodeEXIFOrientation(t *testing.T) {
	// A 16×8 image, left half red and right half blue, top rows bright and
	// bottom rows dark: every rotation puts a different colour in a corner.
	src := image.NewNRGBA(image.Rect(0, 0, 16, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 16; x++ {
			v := uint8(255)
			if y >= 4 {
				v = 96
			}
			c := color.NRGBA{v, 0, 0, 255}
			if x >= 8 {
				c = color.NRGBA{0, 0, v, 255}
			}
			src.SetNRGBA(x, y, c)
		}
	}
	jpg := encodeWith(t, src, func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, &jpeg.Options{Quality: 100}) })
	brightRed, brightBlue, darkRed := color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 255, 255}, color.NRGBA{96, 0, 0, 255}
	for _, tc := range []struct {
		o          uint16
		bo         binary.ByteOrder
		w, h       int
		tl, tr, bl color.NRGBA // colours at the corners
	}{
		{1, binary.BigEndian, 16, 8, brightRed, brightBlue, darkRed},
		{3, binary.BigEndian, 16, 8, color.NRGBA{0, 0, 96, 255}, darkRed, brightBlue},
		{3, binary.LittleEndian, 16, 8, color.NRGBA{0, 0, 96, 255}, darkRed, brightBlue},
		{6, binary.BigEndian, 8, 16, darkRed, brightRed, color.NRGBA{0, 0, 96, 255}},
		{8, binary.LittleEndian, 8, 16, brightBlue, color.NRGBA{0, 0, 96, 255}, brightRed},
		{9, binary.BigEndian, 16, 8, brightRed, brightBlue, darkRed}, // invalid: ignored
	} {
		img, _, err := Decode(withOrientation(jpg, tc.o, tc.bo), DecodeLimits{})
		if err != nil {
			t.Fatalf("orientation %d: %v", tc.o, err)
		}
		if img.Rect.Dx() != tc.w || img.Rect.Dy() != tc.h {
			t.Fatalf("orientation %d: %dx%d, want %dx%d", tc.o, img.Rect.Dx(), img.Rect.Dy(), tc.w, tc.h)
		}
		for _, c := range []struct {
			name string
			x, y int
			want color.NRGBA
		}{{"top-left", 0, 0, tc.tl}, {"top-right", tc.w - 1, 0, tc.tr}, {"bottom-left", 0, tc.h - 1, tc.bl}} {
			if got := img.NRGBAAt(c.x, c.y); !near(got, c.want, 24) {
				t.Errorf("orientation %d (%v): %s = %v, want %v", tc.o, tc.bo, c.name, got, c.want)
			}
		}
	}
}

func near(a, b color.NRGBA, tol int) bool {
	d := func(x, y uint8) bool { v := int(x) - int(y); return max(v, -v) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

// TestEXIFGarbage feeds the APP1 parser corrupt segments: it must neither
// panic nor loop, and fall back to orientation 1.
func TestEXIFGarbage(t *testing.T) {
	jpg := encodeWith(t, gradient(8, 8), func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, nil) })
	good := withOrientation(jpg, 6, binary.BigEndian)
	if o := exifOrientation(good); o != 6 {
		t.Fatalf("orientation of the good file = %d", o)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := append([]byte(nil), good[:min(len(good), 80)]...)
		for k := 0; k < 1+rng.IntN(4); k++ {
			b[2+rng.IntN(len(b)-2)] = byte(rng.Uint32())
		}
		b = b[:2+rng.IntN(len(b)-1)]
		if o := exifOrientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d out of range for %x", o, b)
		}
	}
	for _, b := range [][]byte{
		nil, {0xFF}, {0xFF, 0xD8}, {0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x00},
		{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x'},
		append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10}, "Exif\x00\x00MM\x00*\xFF\xFF\xFF\xF0"...),
		append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x12}, "Exif\x00\x00II*\x00\x08\x00\x00\x00\xFF\xFF"...),
	} {
		if o := exifOrientation(b); o != 1 {
			t.Errorf("exifOrientation(%x) = %d, want 1", b, o)
		}
	}
}

// pngHeader is a PNG signature and an IHDR chunk (correct CRC) claiming
// w×h RGB pixels, followed by a tiny IDAT: a decompression bomb's header.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	chunk("IHDR", append(ihdr, 8, 2, 0, 0, 0))
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1})
	chunk("IEND", nil)
	return b.Bytes()
}

func TestDecodePixelLimitAllocatesNothing(t *testing.T) {
	data := pngHeader(30000, 30000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := Decode(data, DecodeLimits{MaxPixels: 100_000_000})
	runtime.ReadMemStats(&after)
	var de *transforms.InputError
	if !errors.As(err, &de) || de.Reason != ReasonPixelLimit {
		t.Fatalf("err = %v, want pixel_limit", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("rejecting the header allocated %d bytes", grew)
	}
}

func TestDecodeErrors(t *testing.T) {
	jpg := encodeWith(t, gradient(64, 64), func(w io.Writer, m image.Image) error { return jpeg.Encode(w, m, nil) })
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "images", "bad", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	lim := DecodeLimits{MaxPixels: 50_000_000, MaxBytes: 1 << 20}
	for _, tc := range []struct {
		name   string
		data   []byte
		lim    DecodeLimits
		reason string
	}{
		{"empty", nil, lim, ReasonEmptyFile},
		{"empty fixture", fixture("empty.jpg"), lim, ReasonEmptyFile},
		{"too large", jpg, DecodeLimits{MaxBytes: int64(len(jpg) - 1)}, ReasonTooLargeFile},
		{"text as jpg", []byte("hello, I am not a JPEG\n"), lim, ReasonUnknownFormat},
		{"text fixture", fixture("notanimage.jpg"), lim, ReasonUnknownFormat},
		{"truncated jpeg", jpg[:len(jpg)/2], lim, ReasonDecodeError},
		{"truncated fixture", fixture("truncated.jpg"), lim, ReasonDecodeError},
		{"huge header fixture", fixture("huge-header.png"), lim, ReasonPixelLimit},
		{"zero width png", pngHeader(0, 10), lim, ReasonDecodeError},
		{"decoder panic", []byte("\x00PANIC and then some"), lim, ReasonDecoderPanic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, _, err := Decode(tc.data, tc.lim)
			var de *transforms.InputError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want a *transforms.InputError", err, err)
			}
			if de.Reason != tc.reason {
				t.Errorf("reason = %q (%v), want %q", de.Reason, err, tc.reason)
			}
			if img != nil {
				t.Error("image returned with an error")
			}
		})
	}
}

// TestDecodeGIFFirstFrame checks only the first frame is decoded: the
// frames after it are garbage, which a decoder of every frame would reject.
func TestDecodeGIFFirstFrame(t *testing.T) {
	frame := func(c uint8) *image.Paletted {
		p := image.NewPaletted(image.Rect(0, 0, 4, 4), palette.WebSafe)
		for i := range p.Pix {
			p.Pix[i] = c
		}
		return p
	}
	anim := &gif.GIF{}
	for i := 0; i < 2000; i++ {
		anim.Image = append(anim.Image, frame(uint8(i%200)))
		anim.Delay = append(anim.Delay, 1)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, anim); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// Corrupt the middle: first frame intact, the rest unreadable.
	for i := len(data) / 2; i < len(data)/2+64; i++ {
		data[i] = 0xFF
	}
	img, format, err := Decode(data, DecodeLimits{})
	if err != nil || format != "gif" {
		t.Fatalf("Decode = %v, %q", err, format)
	}
	want := palette.WebSafe[0].(color.RGBA)
	if got := img.NRGBAAt(3, 3); got.R != want.R || got.G != want.G || got.B != want.B {
		t.Errorf("pixel = %v, want first frame's %v", got, want)
	}
}

func TestDecodeFixtures(t *testing.T) {
	for _, name := range []string{"astronaut.jpg", "chelsea.jpg", "photos/china.jpg", "formats/retina.png", "formats/astronaut.gif", "gray/camera.png"} {
		img := photo(t, name)
		if img.Rect.Dx() < 200 || img.Rect.Dy() < 200 {
			t.Errorf("%s: %v", name, img.Rect)
		}
	}
}

func BenchmarkDecodeJPEG(b *testing.B) {
	img := photo256(b)
	data, err := Encode(img, Encoding{Format: "jpeg", JPEGQuality: 90})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := Decode(data, DecodeLimits{MaxPixels: 1 << 24}); err != nil {
			b.Fatal(err)
		}
	}
}
