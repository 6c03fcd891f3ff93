package vision

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/disintegration/imaging"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/vision/jpegscale"
)

// encode writes m as png, jpeg or gif: an image of one colour is a few
// hundred KB however large.
func encode(m image.Image, format string) []byte {
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		err = enc.Encode(&buf, m)
	case "jpeg":
		err = jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90})
	case "gif":
		err = gif.Encode(&buf, m, nil)
	}
	if err != nil {
		panic(err) // encoding an in-memory image cannot fail
	}
	return buf.Bytes()
}

// The two large photos-like inputs, encoded once for the tests that use them.
var (
	png7000  = sync.OnceValue(func() []byte { return encode(uniform(7000, 7000, 10, 20, 30), "png") })
	jpeg8000 = sync.OnceValue(func() []byte { return encode(uniform(8000, 6000, 10, 20, 30), "jpeg") })
)

func png16(w, h int) *image.NRGBA64 {
	m := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 8 {
		m.Pix[i], m.Pix[i+2], m.Pix[i+4], m.Pix[i+6], m.Pix[i+7] = 0x12, 0x34, 0x56, 0xFF, 0xFF
		m.Pix[i+6] = 0xFF
	}
	return m
}

// With the default config, crafted files that cost far more than their
// size are judged from their header (no pixel allocated) and photos of
// the largest sizes people take still pass.
func TestPlanInputDefaults(t *testing.T) {
	im := DefaultOptions()
	for _, tc := range []struct {
		name   string
		data   func() []byte
		reason string
	}{
		{"7000² 16-bit PNG", func() []byte { return encode(png16(7000, 7000), "png") }, ReasonTooLargeDecode},
		{"7000² progressive 4:4:4 JPEG", func() []byte { return jpegscale.FlatProgressive(7000, 7000, false, 9) }, ReasonTooLargeDecode},
		{"7000² progressive 4:2:0 JPEG", func() []byte { return jpegscale.FlatProgressive(7000, 7000, true, 9) }, ""},
		{"progressive JPEG of 5,000 AC scans", func() []byte { return jpegscale.FlatProgressive(7000, 7000, true, 5000) }, ReasonTooManyScans},
		{"7000² 8-bit PNG", png7000, ""},
		{"8000×6000 baseline JPEG", jpeg8000, ""},
	} {
		data := tc.data()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p, reason, detail := PlanInput(data, im)
		runtime.ReadMemStats(&after)
		if reason != tc.reason {
			t.Errorf("%s (%d bytes): reason %q (%s), want %q", tc.name, len(data), reason, detail, tc.reason)
		}
		if a := after.TotalAlloc - before.TotalAlloc; a > 1<<20 {
			t.Errorf("%s: PlanInput allocated %d bytes: it must judge from the header", tc.name, a)
		}
		t.Logf("%s: %d bytes, estimate %d MiB, %q %s", tc.name, len(data), p.Bytes()>>20, reason, detail)
	}
}

// The estimate bounds what decoding and preparing really allocates
// (TotalAlloc over Prepare's decode and resize, which is at least its peak
// heap): for each decoder output type, at sizes that take a fraction of
// a second.
func TestPlanBytesBoundsAllocations(t *testing.T) {
	im := DefaultOptions()
	im.MaxDecodeMB = 0
	gray := image.NewGray(image.Rect(0, 0, 1500, 1000))
	pal := image.NewPaletted(image.Rect(0, 0, 1200, 900), color.Palette{color.Black, color.White})
	gray16 := image.NewGray16(image.Rect(0, 0, 1000, 1000))
	for _, tc := range []struct {
		name string
		data []byte
		mode string
	}{
		{"7000² 8-bit PNG", png7000(), "center_crop"},
		{"8000×6000 baseline JPEG", jpeg8000(), "center_crop"},
		{"2000² 16-bit PNG", encode(png16(2000, 2000), "png"), "center_crop"},
		{"2000² 16-bit PNG, keep_ratio", encode(png16(2000, 1500), "png"), "keep_ratio"},
		{"3000×2000 progressive 4:2:0", jpegscale.FlatProgressive(3000, 2000, true, 9), "center_crop"},
		{"2000² progressive 4:4:4, border", jpegscale.FlatProgressive(2000, 2000, false, 9), "border"},
		{"gray PNG", encode(gray, "png"), "center_crop"},
		{"16-bit gray PNG, no resize", encode(gray16, "png"), "no"},
		{"paletted GIF", encode(pal, "gif"), "center_crop"},
	} {
		im := im
		im.Resize = tc.mode
		p, reason, detail := PlanInput(tc.data, im)
		if reason != "" {
			t.Fatalf("%s: %s %s", tc.name, reason, detail)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ex, stage, reason, detail := p.prepare("k", "s", tc.data, transforms.DefaultSplit(), time.Time{})
		runtime.ReadMemStats(&after)
		if stage != "" || ex == nil {
			t.Fatalf("%s: %s/%s %s", tc.name, stage, reason, detail)
		}
		got := int64(after.TotalAlloc - before.TotalAlloc)
		if got > p.Bytes() {
			t.Errorf("%s: decode and resize allocated %d bytes > estimate %d", tc.name, got, p.Bytes())
		}
		t.Logf("%s: allocated %.1f MiB, estimate %.1f MiB", tc.name, float64(got)/(1<<20), float64(p.Bytes())/(1<<20))
	}
}

// The scan cap is judged before decoding (PlanInput) and again by the
// decoder itself, scan by scan.
func TestTooManyScans(t *testing.T) {
	data := jpegscale.FlatProgressive(64, 64, true, 12) // 13 scans
	im := DefaultOptions()
	im.MaxScans = 12
	if _, reason, detail := PlanInput(data, im); reason != ReasonTooManyScans {
		t.Errorf("PlanInput: %q %s, want %s", reason, detail, ReasonTooManyScans)
	}
	im.MaxScans = 13
	if _, reason, detail := PlanInput(data, im); reason != "" {
		t.Errorf("PlanInput at the cap: %q %s, want rows", reason, detail)
	}
	_, err := jpegscale.DecodeOptions(bytes.NewReader(data), jpegscale.Options{MaxScans: 12})
	if err != jpegscale.ErrTooManyScans {
		t.Errorf("DecodeOptions(MaxScans 12) = %v, want ErrTooManyScans", err)
	}
}

// Past image.timeout_s a decode stops where it is (between MCU rows of a
// JPEG, between reads of a PNG), on the decoding goroutine: the input is a
// dead letter, timeout, and no goroutine is left behind.
func TestDecodeTimeout(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	im := DefaultOptions()
	im.MaxScans = 0 // the timeout is the backstop for what the caps let through
	im.TimeoutSeconds = 0.2
	scans := jpegscale.FlatProgressive(2000, 2000, true, 5000)
	start := time.Now()
	_, stage, reason, detail := Prepare("k", "s", scans, im, transforms.DefaultSplit())
	if took := time.Since(start); reason != ReasonTimeout {
		t.Errorf("5,000-scan JPEG: %s/%s %s after %v, want timeout", stage, reason, detail, took)
	} else {
		t.Logf("5,000-scan JPEG: %s after %v", detail, took)
	}
	// A deadline already passed stops every decoder at its first check.
	for name, data := range map[string][]byte{
		"png":  encode(uniform(300, 200, 1, 2, 3), "png"),
		"jpeg": encode(uniform(300, 200, 1, 2, 3), "jpeg"),
		"gif":  encode(image.NewPaletted(image.Rect(0, 0, 300, 200), color.Palette{color.Black}), "gif"),
	} {
		p, reason, _ := PlanInput(data, im)
		if reason != "" {
			t.Fatalf("%s: %s", name, reason)
		}
		if _, _, reason, detail := p.prepare("k", "s", data, transforms.DefaultSplit(), time.Now().Add(-time.Second)); reason != ReasonTimeout {
			t.Errorf("%s past its deadline: %q %s, want timeout", name, reason, detail)
		}
	}
	time.Sleep(10 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after the timeouts, %d before", n, goroutines)
	}
}

// fill crops a sub-image instead of a copy: its pixels are imaging.Fill's
// for the decoders' image types, at bounds that do not start at the origin
// (a GIF frame's) and on both sides of imaging's 100-pixel switch.
func TestFillIsImagingFill(t *testing.T) {
	var imgs []image.Image
	y := image.NewYCbCr(image.Rect(3, 5, 303, 185), image.YCbCrSubsampleRatio420)
	for i := range y.Y {
		y.Y[i] = byte(i * 7)
	}
	for i := range y.Cb {
		y.Cb[i], y.Cr[i] = byte(i*3), byte(i*5)
	}
	imgs = append(imgs, y, y.SubImage(image.Rect(7, 9, 250, 170)))
	n := png16(211, 307)
	for i := range n.Pix {
		n.Pix[i] = byte(i * 13)
	}
	imgs = append(imgs, n, n.SubImage(image.Rect(1, 2, 150, 120)))
	p := image.NewPaletted(image.Rect(10, 20, 160, 140), color.Palette{color.Black, color.White, color.RGBA{200, 10, 10, 255}})
	for i := range p.Pix {
		p.Pix[i] = byte(i % 3)
	}
	imgs = append(imgs, p, gradient(120, 90), gradient(90, 120))
	for _, m := range imgs {
		for _, size := range []int{64, 130} {
			got := fill(m, size, imaging.CatmullRom)
			want := imaging.Fill(m, size, size, imaging.Center, imaging.CatmullRom)
			if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
				t.Errorf("%T %v, %d: fill differs from imaging.Fill", m, m.Bounds(), size)
			}
		}
	}
}

// An interlaced 8-bit PNG as large as image.max_pixels admits is within
// the default decode budget: image/png holds the image and one pass at a
// time (the largest is half the rows), not the image twice.
func TestInterlacedPNGWithinDefault(t *testing.T) {
	hdr := func(depth, ctype, interlace byte) []byte {
		b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
		b = binary.BigEndian.AppendUint32(b, 7000)
		b = binary.BigEndian.AppendUint32(b, 7000)
		return append(b, depth, ctype, 0, 0, interlace, 0, 0, 0, 0)
	}
	limit := int64(DefaultOptions().MaxDecodeMB) << 20
	plain, laced := pngDecodeBytes(hdr(8, 6, 0), 7000, 7000), pngDecodeBytes(hdr(8, 6, 1), 7000, 7000)
	if laced != plain+4*7000*7000/2 {
		t.Errorf("interlaced %d, plain %d: want plain + half the image", laced, plain)
	}
	if laced >= limit {
		t.Errorf("a 7000² interlaced RGBA PNG needs %d bytes >= the default max_decode_mb (%d)", laced, limit)
	}
	if b16 := pngDecodeBytes(hdr(16, 2, 0), 7000, 7000); b16 <= limit {
		t.Errorf("a 7000² 16-bit RGB PNG needs %d bytes, within the default %d", b16, limit)
	}
}
