package inspect

import (
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/transforms/vision"
)

// The rotation gate's check: the right k passes, a wrong k or a flipped
// input fails, exactly for lossless rows and by the nearest rotation for
// lossy ones.
func TestRotatedBy(t *testing.T) {
	target := image.NewNRGBA(image.Rect(0, 0, 6, 4))
	for y := range 4 {
		for x := range 6 {
			target.SetNRGBA(x, y, color.NRGBA{uint8(40 * x), uint8(60 * y), 0, 255})
		}
	}
	for k := range 4 {
		in := vision.Rotate(target, k)
		for _, exact := range []bool{true, false} {
			if why := rotatedBy(in, target, k, exact); why != "" {
				t.Errorf("k=%d exact=%v: %s", k, exact, why)
			}
		}
		if why := rotatedBy(in, target, (k+2)%4, false); why == "" {
			t.Errorf("k=%d checked as k=%d: passed", k, (k+2)%4)
		}
		if why := rotatedBy(in, target, (k+1)%4, true); !strings.Contains(why, "input is") {
			t.Errorf("k=%d checked as k=%d (other shape): %q", k, (k+1)%4, why)
		}
	}
	// A mirrored input is no rotation of the target.
	flip := vision.Rotate(target, 2)
	for y := range 4 {
		for x := range 6 {
			flip.SetNRGBA(x, y, target.NRGBAAt(5-x, y))
		}
	}
	if why := rotatedBy(flip, target, 2, true); why == "" {
		t.Error("a mirrored input passed as k=2")
	}
	// Lossy: a slightly noisy input still matches its own k best.
	noisy := vision.Rotate(target, 2)
	for i := range noisy.Pix {
		if i%4 != 3 && noisy.Pix[i] < 250 {
			noisy.Pix[i] += 3
		}
	}
	if why := rotatedBy(noisy, target, 2, false); why != "" {
		t.Errorf("noisy k=2, lossy check: %s", why)
	}
	if why := rotatedBy(noisy, target, 2, true); why == "" {
		t.Error("noisy k=2 passed the exact check")
	}
}
