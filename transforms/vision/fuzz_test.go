package vision

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pretext-dev/pretext/transforms"
)

// FuzzDecode feeds arbitrary bytes to the decoder and the preprocessing after
// it, seeded with every committed image fixture (good, gray, odd formats and
// bad ones). Bad input must come back as a *transforms.InputError, never a panic, and a
// decoded image must survive every resize mode.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "images", "*", "*"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil && len(data) < 1<<20 {
			f.Add(data)
		}
	}
	f.Add([]byte{})
	lim := DecodeLimits{MaxPixels: 1 << 22, MaxBytes: 1 << 22}
	im := DefaultOptions()
	im.Size, im.MinWidth, im.MinHeight, im.MaxPixels, im.MaxBytes = 16, 1, 1, 1<<22, 1<<22
	f.Fuzz(func(t *testing.T, data []byte) {
		// The pipeline's path: the header judged (pixels, decode bytes,
		// scans), then the decode and resize, at both JPEG scalings.
		for _, scaling := range []bool{false, true} {
			im.JPEGScaling = scaling
			p, reason, _ := PlanInput(data, im)
			if reason != "" {
				continue
			}
			ex, stage, reason, detail := p.prepare("k", "s", data, transforms.DefaultSplit(), time.Time{})
			if stage == "" && (ex == nil || ex.Image == nil) || stage != "" && reason == "" {
				t.Fatalf("prepare: stage %q reason %q (%s) example %v", stage, reason, detail, ex)
			}
		}
		img, _, err := Decode(data, lim)
		if err != nil {
			var de *transforms.InputError
			if !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 || int64(b.Dx())*int64(b.Dy()) > lim.MaxPixels {
			t.Fatalf("decoded %v past the limits", b)
		}
		for _, mode := range []string{"center_crop", "keep_ratio", "border", "no"} {
			if out := Resize(img, mode, 16, "linear"); out == nil {
				t.Fatalf("%s: nil image", mode)
			}
		}
	})
}
