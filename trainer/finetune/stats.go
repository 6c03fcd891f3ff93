package finetune

import (
	"errors"
	"math"
)

// Summary is a sample's mean, standard deviation (n−1 in the denominator;
// 0 for one value), minimum and maximum.
type Summary struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// Summarize summarizes xs (the zero Summary for none).
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := Summary{Min: xs[0], Max: xs[0]}
	for _, x := range xs {
		s.Mean += x
		s.Min, s.Max = min(s.Min, x), max(s.Max, x)
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		for _, x := range xs {
			s.SD += (x - s.Mean) * (x - s.Mean)
		}
		s.SD = math.Sqrt(s.SD / float64(len(xs)-1))
	}
	return s
}

// PairedGain is the mean of a[i] − b[i] and its two-sided 95% confidence
// interval by Student's t with len(a)−1 degrees of freedom: the subsets are
// the unit of replication, and pairing removes what a subset does to both
// methods alike (an easy draw of labels lifts both).
func PairedGain(a, b []float64) (gain, lo, hi float64, err error) {
	if len(a) != len(b) {
		return 0, 0, 0, errors.New("paired gain: samples of different lengths")
	}
	if len(a) < 2 {
		return 0, 0, 0, errors.New("paired gain: a confidence interval needs at least 2 pairs")
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	s := Summarize(d)
	half := StudentTQuantile(0.975, float64(len(d)-1)) * s.SD / math.Sqrt(float64(len(d)))
	return s.Mean, s.Mean - half, s.Mean + half, nil
}

// StudentTQuantile is the p-quantile of Student's t distribution with df
// degrees of freedom (df > 0, 0 < p < 1): the CDF, through the regularized
// incomplete beta function, inverted by bisection to full float64
// precision. A table would do for the usual df; this serves any number of
// subsets.
func StudentTQuantile(p, df float64) float64 {
	if p == 0.5 {
		return 0
	}
	if p < 0.5 {
		return -StudentTQuantile(1-p, df)
	}
	lo, hi := 0.0, 1.0
	for studentTCDF(hi, df) < p {
		hi *= 2
	}
	for range 200 {
		mid := (lo + hi) / 2
		if mid == lo || mid == hi {
			break
		}
		if studentTCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// studentTCDF is P(T ≤ t) for t ≥ 0: 1 − I_x(df/2, 1/2)/2 with x = df/(df+t²).
func studentTCDF(t, df float64) float64 {
	return 1 - 0.5*regIncBeta(df/(df+t*t), df/2, 0.5)
}

// regIncBeta is the regularized incomplete beta function I_x(a, b), by its
// continued fraction (Lentz's method, as in Numerical Recipes' betacf),
// using the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) where the fraction
// converges slowly.
func regIncBeta(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaFraction(x, a, b) / a
	}
	return 1 - front*betaFraction(1-x, b, a)/b
}

func betaFraction(x, a, b float64) float64 {
	const tiny = 1e-300
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 1000; m++ {
		fm := float64(m)
		num := fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm))
		for range 2 {
			d = 1 + num*d
			if math.Abs(d) < tiny {
				d = tiny
			}
			c = 1 + num/c
			if math.Abs(c) < tiny {
				c = tiny
			}
			d = 1 / d
			h *= d * c
			num = -(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1))
		}
		if math.Abs(d*c-1) < 1e-16 {
			break
		}
	}
	return h
}
