package audio

import (
	"math"
	"slices"
	"testing"
)

// tone returns n samples of a·sin(2πf·t) at rate Hz.
func tone(f, a float64, rate, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(a * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return x
}

// fitTone fits a·sin + b·cos at f Hz to y by least squares (y's length is
// taken as a whole number of periods, so the two are orthogonal) and returns
// the fitted amplitude and the RMS of what is left.
func fitTone(y []float32, f float64, rate int) (amp, residualRMS float64) {
	var s, c float64
	for i, v := range y {
		ph := 2 * math.Pi * f * float64(i) / float64(rate)
		s += float64(v) * math.Sin(ph)
		c += float64(v) * math.Cos(ph)
	}
	a, b := 2*s/float64(len(y)), 2*c/float64(len(y))
	var r float64
	for i, v := range y {
		ph := 2 * math.Pi * f * float64(i) / float64(rate)
		d := float64(v) - a*math.Sin(ph) - b*math.Cos(ph)
		r += d * d
	}
	return math.Hypot(a, b), math.Sqrt(r / float64(len(y)))
}

func rms(y []float32) float64 {
	var s float64
	for _, v := range y {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(y)))
}

// middle drops the filter's fade-in and fade-out, keeping n samples from the
// middle of y (n a multiple of the test tone's period).
func middle(y []float32, n int) []float32 {
	start := (len(y) - n) / 2
	return y[start : start+n]
}

func db(r float64) float64 { return 20 * math.Log10(r) }

func TestResampleIdentity(t *testing.T) {
	x := tone(440, 0.5, 16000, 1000)
	y := Resample(x, 16000, 16000)
	if !slices.Equal(x, y) {
		t.Fatal("from == to changed the signal")
	}
	y[0] = 9
	if x[0] == 9 {
		t.Fatal("from == to returned x itself, not a copy")
	}
}

func TestResampleLength(t *testing.T) {
	for _, tc := range []struct{ n, from, to, want int }{
		{48000, 48000, 16000, 16000},
		{48001, 48000, 16000, 16001},
		{3, 48000, 16000, 1},
		{8000, 8000, 16000, 16000},
		{44100, 44100, 16000, 16000},
		{1, 44100, 16000, 1},
		{0, 44100, 16000, 0},
	} {
		if got := len(Resample(make([]float32, tc.n), tc.from, tc.to)); got != tc.want {
			t.Errorf("%d samples %d→%d Hz: got %d, want %d", tc.n, tc.from, tc.to, got, tc.want)
		}
	}
	if Resample(make([]float32, 10), 0, 16000) != nil {
		t.Error("rate 0 did not return nil")
	}
	if _, err := NewResampler(16000, -1); err == nil {
		t.Error("NewResampler(16000, -1) did not fail")
	}
}

// TestResampleDown48k16k checks a 1 kHz tone keeps its amplitude (within
// 0.1 dB) and frequency (the fit at exactly 1 kHz leaves nothing behind),
// and that the passband is as flat up to the mel filterbank's 7.5 kHz top.
func TestResampleDown48k16k(t *testing.T) {
	for _, f := range []float64{1000, 4000, 7000, 7500} {
		y := Resample(tone(f, 0.5, 48000, 48000), 48000, 16000)
		amp, res := fitTone(middle(y, 12800), f, 16000)
		if d := db(amp / 0.5); math.Abs(d) > 0.1 {
			t.Errorf("%.0f Hz: amplitude %v, %.4f dB off", f, amp, d)
		}
		if r := db(res / 0.5); r > -80 {
			t.Errorf("%.0f Hz: residual after fitting the tone is %.1f dB: frequency moved or distorted", f, r)
		}
	}
}

// TestResampleAliasRejection feeds tones from just above the output's
// Nyquist (8 kHz, where a tone samples to zero) to 23.5 kHz, and a 9–23 kHz sweep, at the amplitude of a 1 kHz reference,
// through 48→16 kHz. Whatever comes out is aliasing (the output holds
// nothing above 8 kHz), so the rejection is the reference's RMS over theirs.
func TestResampleAliasRejection(t *testing.T) {
	const n = 24000
	r, err := NewResampler(48000, 16000)
	if err != nil {
		t.Fatal(err)
	}
	ref := rms(middle(r.Resample(tone(1000, 1, 48000, n)), 6400))
	worst, worstF := math.Inf(1), 0.0
	for f := 8250.0; f <= 23500; f += 250 {
		rej := db(ref / rms(middle(r.Resample(tone(f, 1, 48000, n)), 6400)))
		if rej < worst {
			worst, worstF = rej, f
		}
	}
	t.Logf("alias rejection 48→16 kHz, tones 8.25–23.5 kHz: worst %.1f dB at %.0f Hz", worst, worstF)
	if worst < 60 {
		t.Errorf("alias rejection %.1f dB at %.0f Hz, want >= 60 dB", worst, worstF)
	}

	// Linear sweep 9→23 kHz over the whole input.
	sweep := make([]float32, n)
	for i := range sweep {
		ts := float64(i) / 48000
		dur := float64(n) / 48000
		sweep[i] = float32(math.Sin(2 * math.Pi * (9000*ts + (23000-9000)/(2*dur)*ts*ts)))
	}
	rej := db(ref / rms(middle(r.Resample(sweep), 6400)))
	t.Logf("alias rejection 48→16 kHz, 9–23 kHz sweep: %.1f dB", rej)
	if rej < 60 {
		t.Errorf("sweep alias rejection %.1f dB, want >= 60 dB", rej)
	}
}

// TestResampleUp8k16k checks 8→16 kHz keeps a 1 kHz tone and adds no image
// (at 7 kHz) or anything else: the residual after fitting the tone is the
// image's level.
func TestResampleUp8k16k(t *testing.T) {
	y := Resample(tone(1000, 0.5, 8000, 8000), 8000, 16000)
	amp, res := fitTone(middle(y, 12800), 1000, 16000)
	if d := db(amp / 0.5); math.Abs(d) > 0.1 {
		t.Errorf("amplitude %v, %.4f dB off", amp, d)
	}
	img := db(res / 0.5)
	t.Logf("8→16 kHz: everything but the 1 kHz tone (its 7 kHz image included) at %.1f dB", img)
	if img > -60 {
		t.Errorf("image/residual at %.1f dB, want <= -60 dB", img)
	}
}

// TestResampleUntabulated compares the per-sample taps interpolated from
// the prototype with the exact polyphase table for 44.1→16 kHz, and checks a
// ratio that needs the prototype (44101→16000, 16000 phases) keeps a tone
// and rejects aliases.
func TestResampleUntabulated(t *testing.T) {
	exact, err := NewResampler(44100, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if exact.phases == nil {
		t.Fatal("44.1→16 kHz is not tabulated")
	}
	interp := *exact
	interp.phases = nil
	interp.buildProto()
	x := tone(3000, 0.7, 44100, 8820)
	a, b := exact.Resample(x), interp.Resample(x)
	var maxDiff float64
	for i := range a {
		maxDiff = max(maxDiff, math.Abs(float64(a[i]-b[i])))
	}
	if db(maxDiff/0.7) > -90 {
		t.Errorf("interpolated taps differ from the table by %.1f dB", db(maxDiff/0.7))
	}

	odd, err := NewResampler(44101, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if odd.phases != nil {
		t.Fatal("44101→16000 was tabulated")
	}
	y := odd.Resample(tone(1000, 0.5, 44101, 22050))
	amp, _ := fitTone(middle(y, 6400), 1000, 16000)
	if d := db(amp / 0.5); math.Abs(d) > 0.1 {
		t.Errorf("44101→16000: amplitude %v, %.4f dB off", amp, d)
	}
	ref := rms(middle(odd.Resample(tone(1000, 1, 44101, 22050)), 6400))
	for _, f := range []float64{8500, 12000, 20000} {
		rej := db(ref / rms(middle(odd.Resample(tone(f, 1, 44101, 22050)), 6400)))
		if rej < 60 {
			t.Errorf("44101→16000: alias rejection %.1f dB at %.0f Hz", rej, f)
		}
	}
}

func TestResampleDeterministic(t *testing.T) {
	x := tone(1234, 0.3, 22050, 5000)
	a := Resample(x, 22050, 16000)
	b := Resample(x, 22050, 16000)
	if !slices.Equal(a, b) {
		t.Fatal("two runs differ")
	}
}
