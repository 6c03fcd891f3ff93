package jpegscale

import (
	"bytes"
	"testing"
)

// FuzzDecodeScaled feeds arbitrary bytes to the scaled decoder at every
// scale, as vision.DecodeForResize calls it: after a header check that
// bounds the pixels (the caller's job; here 4 Mpx). Bad input must come
// back as an error, never a panic, and a decoded image has the scaled size
// of its header.
func FuzzDecodeScaled(f *testing.F) {
	for _, data := range fixtures(f) {
		f.Add(data, uint8(1))
		f.Add(data[:len(data)/2], uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, scale uint8) {
		n := []int{1, 2, 4, 8}[scale%4]
		cfg, err := DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > 1<<22 {
			return
		}
		img, err := DecodeScaled(bytes.NewReader(data), n)
		if err != nil {
			return
		}
		if b := img.Bounds(); b.Dx() != ScaledSize(cfg.Width, n) || b.Dy() != ScaledSize(cfg.Height, n) {
			t.Fatalf("%dx%d at %d/8 decoded as %v, want %dx%d", cfg.Width, cfg.Height, n, b, ScaledSize(cfg.Width, n), ScaledSize(cfg.Height, n))
		}
	})
}
