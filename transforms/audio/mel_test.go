package audio

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func newTestMel(t *testing.T) *Mel {
	t.Helper()
	m, err := NewMel(DefaultMel())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMelShape(t *testing.T) {
	m := newTestMel(t)
	for _, tc := range []struct{ n, frames int }{
		{16000, 98}, // 1 + (16000-400)/160
		{400, 1},
		{559, 1},
		{560, 2},
		{399, 1}, // zero-padded to one frame
		{0, 1},
	} {
		data, frames := m.Compute(make([]float32, tc.n))
		if frames != tc.frames || len(data) != tc.frames*64 || m.Frames(tc.n) != tc.frames {
			t.Errorf("%d samples: %d frames, %d values, Frames() %d; want %d frames of 64", tc.n, frames, len(data), m.Frames(tc.n), tc.frames)
		}
	}
}

func TestMelSilence(t *testing.T) {
	m := newTestMel(t)
	want := float32(math.Log(0.01))
	data, _ := m.Compute(make([]float32, 4000))
	for i, v := range data {
		if v != want {
			t.Fatalf("value %d = %v, want log(0.01) = %v", i, v, want)
		}
	}
}

// TestMelTone checks a 1 kHz tone's energy, averaged over frames, peaks in
// the band MelBin(1000) names, and that this band contains 1 kHz.
func TestMelTone(t *testing.T) {
	m := newTestMel(t)
	data, frames := m.Compute(tone(1000, 0.5, 16000, 16000))
	mean := make([]float64, 64)
	for f := range frames {
		for b := range 64 {
			mean[b] += float64(data[f*64+b]) / float64(frames)
		}
	}
	peak := 0
	for b, v := range mean {
		if v > mean[peak] {
			peak = b
		}
	}
	bin := m.MelBin(1000)
	lo, centre, hi := m.Band(bin)
	t.Logf("1 kHz: peak band %d, MelBin %d (%.1f / %.1f / %.1f Hz), log-mel %.2f vs floor %.2f", peak, bin, lo, centre, hi, mean[peak], math.Log(0.01))
	if peak != bin {
		t.Errorf("peak in band %d, MelBin(1000) = %d", peak, bin)
	}
	if !(lo < 1000 && 1000 < hi) {
		t.Errorf("band %d spans %.1f–%.1f Hz, not containing 1 kHz", bin, lo, hi)
	}
	// Bands far from the tone stay near the floor: the Hann window's
	// sidelobes are well below the offset.
	if v := mean[m.MelBin(4000)]; v > math.Log(0.01)+0.5 {
		t.Errorf("4 kHz band at %.2f, far above the floor", v)
	}
}

func TestMelBin(t *testing.T) {
	m := newTestMel(t)
	for b := range 64 {
		_, centre, _ := m.Band(b)
		if got := m.MelBin(centre); got != b {
			t.Errorf("MelBin(centre of band %d = %.2f Hz) = %d", b, centre, got)
		}
	}
	for _, f := range []float64{125, 300, 1000, 3000, 7500} {
		lo, _, hi := m.Band(m.MelBin(f))
		if !(lo <= f && f <= hi) {
			t.Errorf("MelBin(%g) = band %.1f–%.1f Hz", f, lo, hi)
		}
	}
	for _, f := range []float64{0, 124, 7501, math.NaN()} {
		if got := m.MelBin(f); got != -1 {
			t.Errorf("MelBin(%g) = %d, want -1", f, got)
		}
	}
}

func TestMelValidate(t *testing.T) {
	if errs := DefaultMel().Validate(); len(errs) != 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
	for _, tc := range []struct {
		name string
		edit func(*MelConfig)
		want string
	}{
		{"n_mels", func(c *MelConfig) { c.NMels = 0 }, "n_mels: must be in [1, 512] (got 0)"},
		{"sample_rate", func(c *MelConfig) { c.SampleRate = 0 }, "sample_rate: must be in [1000, 768000] (got 0)"},
		{"n_fft", func(c *MelConfig) { c.NFFT = 8 }, "n_fft: must be in [16, 65536] (got 8)"},
		{"win_length", func(c *MelConfig) { c.WinLength = 600 }, "win_length: must be in [1, 512] (got 600)"},
		{"hop", func(c *MelConfig) { c.Hop = 0 }, "hop: must be in [1, 1048576] (got 0)"},
		{"f_min", func(c *MelConfig) { c.FMin = -1 }, "f_min: must be >= 0 (got -1)"},
		{"f_max", func(c *MelConfig) { c.FMax = 9000 }, "f_max: must be in (f_min, sample_rate/2] = (125, 8000] (got 9000)"},
		{"f_max below f_min", func(c *MelConfig) { c.FMax = 100 }, "f_max: must be in (f_min, sample_rate/2] = (125, 8000] (got 100)"},
		{"log_offset", func(c *MelConfig) { c.LogOffset = 0 }, "log_offset: must be > 0 and finite (got 0)"},
		{"empty band", func(c *MelConfig) { c.NMels = 256 }, "n_mels: band 0 (125.0–"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultMel()
			tc.edit(&c)
			// A bad field may make a dependent one bad too (sample_rate
			// bounds f_max), so look for the message among them.
			errs := c.Validate()
			found := false
			for _, err := range errs {
				found = found || strings.HasPrefix(err.Error(), tc.want)
			}
			if !found {
				t.Errorf("got %v, want an error starting %q", errs, tc.want)
			}
			if _, err := NewMel(c); err == nil {
				t.Error("NewMel accepted it")
			}
		})
	}
	// Every bad field is reported, not just the first.
	if errs := (MelConfig{}).Validate(); len(errs) < 6 {
		t.Errorf("zero config: %d errors, want one per field: %v", len(errs), errs)
	}
}

func ExampleMel_MelBin() {
	m, err := NewMel(DefaultMel())
	if err != nil {
		fmt.Println(err)
		return
	}
	b := m.MelBin(1000)
	lo, centre, hi := m.Band(b)
	fmt.Printf("1 kHz is in band %d: %.0f–%.0f Hz, centre %.0f Hz\n", b, lo, hi, centre)
	// Output: 1 kHz is in band 19: 914–1033 Hz, centre 972 Hz
}
