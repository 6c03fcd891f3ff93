package seeding

import "testing"

// TestPinned pins the generator's first values: if this test fails, every label
// pretext has ever written would change, which must be a deliberate decision.
func TestPinned(t *testing.T) {
	r := New(12345, "denoise", "photos/chelsea.png", 0)
	got := []uint64{r.Uint64(), r.Uint64()}
	a, b := Hash(12345, "denoise", "photos/chelsea.png", 0)
	t.Logf("hash %d %d values %d %d", a, b, got[0], got[1])
	want := [2]uint64{4382230975517719066, 1084640928864130069}
	if got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("seeded values changed: got %v want %v", got, want)
	}
}

func TestDistinct(t *testing.T) {
	base := New(1, "t", "k", 0).Uint64()
	for name, v := range map[string]uint64{
		"seed":    New(2, "t", "k", 0).Uint64(),
		"task":    New(1, "u", "k", 0).Uint64(),
		"key":     New(1, "t", "l", 0).Uint64(),
		"variant": New(1, "t", "k", 1).Uint64(),
		"split":   New(1, "tk", "", 0).Uint64(),
	} {
		if v == base {
			t.Errorf("changing %s did not change the stream", name)
		}
	}
}
