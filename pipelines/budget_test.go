package pipelines

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/pretext-dev/pretext/transforms/vision/jpegscale"
)

// The per-input caps in a whole run: an image whose decode would hold more
// than image.max_decode_mb and a JPEG of more scans than image.max_scans
// are dead letters with their reasons beside labeled photos, counted in
// every manifest and in the live progress; a run whose every input passes
// image.timeout_s ends, each input a timeout dead letter.
func TestImageBudgetsInARun(t *testing.T) {
	in := t.TempDir()
	photos := fixtures(t, "images/photos/*.jpg")
	copyInto(t, in, photos)
	// 1000×1000 RGB at 16 bits: image/png returns 8 bytes a pixel, 7.6 MiB,
	// from a file of a few KB.
	m := image.NewNRGBA64(image.Rect(0, 0, 1000, 1000))
	for i := 0; i < len(m.Pix); i += 8 {
		m.Pix[i], m.Pix[i+2], m.Pix[i+4], m.Pix[i+6], m.Pix[i+7] = 0x12, 0x34, 0x56, 0xff, 0xff
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "png16.png"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "scans.jpg"), jpegscale.FlatProgressive(64, 64, true, 50), 0o644); err != nil {
		t.Fatal(err)
	}
	files := len(photos) + 2

	t.Run("caps", func(t *testing.T) {
		out := t.TempDir()
		cfg := quickstart(t, out)
		cfg.Input = in + "/*"
		cfg.Image.MaxDecodeMB, cfg.Image.MaxScans = 6, 20
		before := liveProgress()
		ms := runVision(t, "prism", cfg)
		checkLive(t, before, ms["colorize"])
		want := map[string]string{"png16.png": "decode/too_large_decode", "scans.jpg": "decode/too_many_scans"}
		for _, p := range photos {
			want[filepath.Base(p)] = labeled
		}
		for _, task := range []string{"colorize", "denoise", "inpaint"} {
			checkOutcomes(t, out, task, ms, files, want)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		out := t.TempDir()
		cfg := quickstart(t, out)
		cfg.Input = in + "/*"
		cfg.Image.TimeoutSeconds = 1e-9 // past before any input starts
		ms := runVision(t, "prism", cfg)
		want := map[string]string{"png16.png": "decode/timeout", "scans.jpg": "decode/timeout"}
		for _, p := range photos {
			want[filepath.Base(p)] = "decode/timeout"
		}
		for _, task := range []string{"colorize", "denoise", "inpaint"} {
			checkOutcomes(t, out, task, ms, files, want)
		}
	})
}
