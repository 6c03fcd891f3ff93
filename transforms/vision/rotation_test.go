package vision

import (
	"image"
	"image/color"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/transforms/seeding"
)

// TestRotate pins the direction: a quarter turn counter-clockwise moves the
// top-right pixel of a 3×2 image to the top-left of the 2×3 result.
func TestRotate(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for y := 0; y < 2; y++ {
		for x := 0; x < 3; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(10*y + x), 0, 0, 255})
		}
	}
	at := func(m *image.NRGBA, x, y int) uint8 { return m.NRGBAAt(x, y).R }
	r1 := Rotate(img, 1)
	if b := r1.Bounds(); b.Dx() != 2 || b.Dy() != 3 {
		t.Fatalf("k=1: %v, want 2×3", b)
	}
	// CCW: (x, y) → (y, W-1-x).
	for y := 0; y < 2; y++ {
		for x := 0; x < 3; x++ {
			if got, want := at(r1, y, 2-x), at(img, x, y); got != want {
				t.Errorf("k=1: pixel (%d,%d) = %d, want %d", y, 2-x, got, want)
			}
		}
	}
	// Four quarter turns, and k and k-4, are the identity and the same.
	for k := -4; k <= 4; k++ {
		a, b := Rotate(img, k), Rotate(Rotate(img, k), 4-((k%4+4)%4))
		if string(b.Pix) != string(img.Pix) {
			t.Errorf("k=%d then back: not the original", k)
		}
		if k < 0 && string(a.Pix) != string(Rotate(img, k+4).Pix) {
			t.Errorf("k=%d differs from k=%d", k, k+4)
		}
	}
}

func TestRotationLabel(t *testing.T) {
	ex := &Example{Key: "k", Source: "s", Split: "train", Image: uniform(8, 4, 1, 2, 3), Encoding: Encoding{Format: "raw"}}
	ex.Image.SetNRGBA(7, 0, color.NRGBA{200, 0, 0, 255})
	all := DefaultRotationConfig()
	all.AllRotations = true
	if got := (rotator{}).Variants(&all); got != 4 {
		t.Fatalf("all_rotations: %d variants, want 4", got)
	}
	for v := 0; v < 4; v++ {
		row, _, stats, err := rotator{}.Label(ex, &all, v, seeding.New(1, TaskRotation, "k", v))
		if err != nil {
			t.Fatal(err)
		}
		r := row.(RotationRow)
		if r.Rotation != int32(v) || r.Width != 8 || r.Height != 4 || stats[0] != "rotation/"+string(rune('0'+v)) {
			t.Errorf("variant %d: rotation %d, %d×%d, stats %v", v, r.Rotation, r.Width, r.Height, stats)
		}
		if want, _ := Encode(Rotate(ex.Image, v), ex.Encoding); string(r.Input) != string(want) {
			t.Errorf("variant %d: input is not the target turned %d times", v, v)
		}
		if want, _ := Encode(ex.Image, ex.Encoding); string(r.Target) != string(want) {
			t.Errorf("variant %d: target is not the upright image", v)
		}
	}
	// Drawn k: uniform over many keys, and the same for the same key.
	one := DefaultRotationConfig()
	var n [4]int
	for i := 0; i < 4000; i++ {
		key := "img" + string(rune(i))
		row, _, _, err := rotator{}.Label(ex, &one, 0, seeding.New(7, TaskRotation, key, 0))
		if err != nil {
			t.Fatal(err)
		}
		again, _, _, _ := rotator{}.Label(ex, &one, 0, seeding.New(7, TaskRotation, key, 0))
		if row.(RotationRow).Rotation != again.(RotationRow).Rotation {
			t.Fatalf("key %q: two draws differ", key)
		}
		n[row.(RotationRow).Rotation]++
	}
	for k, c := range n {
		if c < 850 || c > 1150 {
			t.Errorf("k=%d drawn %d times of 4000, want about 1000", k, c)
		}
	}
}

func TestRotationValidate(t *testing.T) {
	c := RotationConfig{Variants: 0}
	if err := c.Validate("tasks.rotation"); err == nil || !strings.Contains(err.Error(), "tasks.rotation.variants: must be >= 1") {
		t.Errorf("variants 0: %v", err)
	}
	c = RotationConfig{Variants: 2, AllRotations: true}
	if err := c.Validate("tasks.rotation"); err == nil || !strings.Contains(err.Error(), "all_rotations") {
		t.Errorf("variants 2 with all_rotations: %v", err)
	}
	if err := DefaultRotationConfig().Validate("tasks.rotation"); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
