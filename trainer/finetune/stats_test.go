package finetune

import (
	"math"
	"testing"
)

// TestStudentTQuantile: the 97.5% quantiles against the published table
// (4 decimals) and the normal limit.
func TestStudentTQuantile(t *testing.T) {
	for _, c := range []struct{ p, df, want float64 }{
		{0.975, 1, 12.7062}, {0.975, 2, 4.3027}, {0.975, 4, 2.7764}, {0.975, 9, 2.2622},
		{0.975, 19, 2.0930}, {0.975, 29, 2.0452}, {0.95, 9, 1.8331}, {0.995, 9, 3.2498},
		{0.975, 1e6, 1.9600}, {0.025, 9, -2.2622}, {0.5, 3, 0},
	} {
		if got := StudentTQuantile(c.p, c.df); math.Abs(got-c.want) > 5e-5 {
			t.Errorf("t(%g, %g) = %.5f, want %.4f", c.p, c.df, got, c.want)
		}
	}
}

// TestPairedGain on a small vector worked by hand: differences 0.1, 0.2,
// 0.3 have mean 0.2, sd 0.1, so the interval is 0.2 ± 4.3027·0.1/√3.
func TestPairedGain(t *testing.T) {
	a := []float64{0.6, 0.7, 0.9}
	b := []float64{0.5, 0.5, 0.6}
	g, lo, hi, err := PairedGain(a, b)
	if err != nil {
		t.Fatal(err)
	}
	half := 4.302653 * 0.1 / math.Sqrt(3)
	if math.Abs(g-0.2) > 1e-12 || math.Abs(lo-(0.2-half)) > 1e-6 || math.Abs(hi-(0.2+half)) > 1e-6 {
		t.Errorf("gain %v [%v, %v], want 0.2 [%.6f, %.6f]", g, lo, hi, 0.2-half, 0.2+half)
	}
	if _, _, _, err := PairedGain(a[:1], b[:1]); err == nil {
		t.Error("one pair gave an interval")
	}
	s := Summarize([]float64{1, 2, 3, 6})
	if s.Mean != 3 || math.Abs(s.SD-math.Sqrt(14.0/3)) > 1e-12 || s.Min != 1 || s.Max != 6 {
		t.Errorf("Summarize = %+v", s)
	}
}
