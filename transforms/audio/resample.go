package audio

import (
	"fmt"
	"math"
)

// The resampler's low-pass filter. The stopband starts at the lower of the
// two Nyquist frequencies, so nothing that would fold back (decimation) or
// any image (interpolation) passes with more than stopbandDB of gain; the
// passband is flat to passbandEdge of that Nyquist (7.52 kHz at 16 kHz,
// above the 7.5 kHz top of the default mel filterbank). The Kaiser window
// and its length follow Kaiser's design formulas (Oppenheim & Schafer,
// Discrete-Time Signal Processing, 3rd ed., §7.6).
const (
	stopbandDB   = 80.0
	passbandEdge = 0.94
	// maxPhaseTaps bounds the tabulated polyphase filter (L phases of
	// width taps, 2 MiB of float64). A ratio whose table would be larger,
	// such as 44101→16000 with its 16000 phases, evaluates its taps per
	// output sample from a finely sampled prototype instead.
	maxPhaseTaps = 1 << 18
	// protoPerZero is the prototype's resolution, in points per zero
	// crossing of the sinc; linear interpolation between points errs by
	// less than 2e-6 (-110 dB).
	protoPerZero = 512
)

// Resampler converts a signal between two sample rates with a windowed-sinc
// (Kaiser) low-pass filter applied in polyphase form: with g = gcd(from, to),
// L = to/g and M = from/g, output sample n sits at input position n·M/L,
// whose fractional part is one of L phases, each with its own precomputed
// taps. Each phase's taps are normalised to sum to 1, so DC passes unchanged
// and no phase-periodic gain ripple adds images.
//
// Arithmetic is float64 in a fixed order with every product rounded before
// it is added (no FMA), and nothing runs concurrently, so the output is the
// same on every run, and across architectures as far as the math package's
// Sin and Exp agree. A Resampler is read-only after NewResampler and safe
// for concurrent use; it is worth keeping one per source rate, as building
// the table takes from well under a millisecond (48→16 kHz, one phase) to
// about 8 ms (44.1→16 kHz, 160 phases).
type Resampler struct {
	from, to int
	up, down int // L and M
	half     int // taps either side of the centre tap: K
	// phases holds L rows of 2K+1 taps when tabulated, else nil.
	phases []float64
	// proto samples the kernel at |t| = u·protoStep, for the untabulated path.
	proto     []float64
	protoStep float64
	kern      kernel
}

// kernel is the continuous windowed-sinc low-pass, t in input samples.
type kernel struct {
	fc      float64 // cut-off (-6 dB point) in cycles per input sample
	halfLen float64 // the window spans |t| <= halfLen
	beta    float64 // Kaiser shape
	i0Beta  float64 // I0(beta), the window's normaliser
}

func (k kernel) at(t float64) float64 {
	t = math.Abs(t)
	if t > k.halfLen {
		return 0
	}
	r := t / k.halfLen
	w := besselI0(float64(k.beta*math.Sqrt(float64(1-float64(r*r))))) / k.i0Beta
	u := float64(2*k.fc) * t
	s := float64(2 * k.fc)
	if u != 0 {
		s = math.Sin(math.Pi*u) / (math.Pi * t)
	}
	return float64(s * w)
}

// besselI0 is the modified Bessel function of the first kind, order 0, by
// its power series (converges for all x; the window needs x <= beta ~ 8).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := float64(x*x) / 4
	for k := 1.0; k < 500; k++ {
		term = float64(term*q) / float64(k*k)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

// NewResampler builds the filter for converting from one sample rate to
// another, both in Hz and positive.
func NewResampler(from, to int) (*Resampler, error) {
	if from <= 0 || to <= 0 {
		return nil, fmt.Errorf("audio: resample %d Hz to %d Hz: rates must be positive", from, to)
	}
	g := gcd(from, to)
	r := &Resampler{from: from, to: to, up: to / g, down: from / g}
	if from == to {
		return r, nil
	}
	nyq := float64(min(from, to)) / 2
	// Kaiser's formulas: beta for the attenuation, and the length in input
	// samples for a transition of (1-passbandEdge)·nyq Hz.
	transition := (1 - passbandEdge) * nyq / float64(from)
	length := (stopbandDB - 7.95) / (2.285 * 2 * math.Pi * transition)
	r.kern = kernel{
		fc:      (1 + passbandEdge) / 2 * nyq / float64(from),
		halfLen: length / 2,
		beta:    0.1102 * (stopbandDB - 8.7),
	}
	r.kern.i0Beta = besselI0(r.kern.beta)
	r.half = int(math.Ceil(r.kern.halfLen))
	width := 2*r.half + 1
	if int64(r.up)*int64(width) <= maxPhaseTaps {
		r.phases = make([]float64, r.up*width)
		for p := range r.up {
			frac := float64(p) / float64(r.up)
			taps := r.phases[p*width : (p+1)*width]
			for i := range taps {
				taps[i] = r.kern.at(float64(r.half-i) + frac)
			}
			normalise(taps)
		}
		return r, nil
	}
	r.buildProto()
	return r, nil
}

// buildProto samples the kernel for the untabulated path.
func (r *Resampler) buildProto() {
	r.protoStep = 1 / (protoPerZero * 2 * r.kern.fc)
	r.proto = make([]float64, int(math.Ceil(r.kern.halfLen/r.protoStep))+2)
	for u := range r.proto {
		r.proto[u] = r.kern.at(float64(u) * r.protoStep)
	}
}

// Resample converts x, sampled at from Hz, to the rate to Hz, building a
// Resampler for the purpose (see NewResampler). It returns nil if a rate is
// not positive; rates from DecodeWAV and a validated MelConfig always are.
func Resample(x []float32, from, to int) []float32 {
	r, err := NewResampler(from, to)
	if err != nil {
		return nil
	}
	return r.Resample(x)
}

// Resample returns x at the target rate: ceil(len(x)·to/from) samples, the
// n-th at input time n·from/to samples. The signal is taken as zero outside
// x, so the first and last half filter lengths (5.2 ms at 48→16 kHz)
// fade in and out. When the rates are equal it returns a copy of x.
func (r *Resampler) Resample(x []float32) []float32 {
	if r.from == r.to {
		return append([]float32(nil), x...)
	}
	if len(x) == 0 {
		return []float32{}
	}
	n := (int64(len(x))*int64(r.up) + int64(r.down) - 1) / int64(r.down)
	y := make([]float32, n)
	k := r.half
	width := 2*k + 1
	var taps []float64
	if r.phases == nil {
		taps = make([]float64, width)
	}
	// Windows that reach past either end of x are copied, zero-padded, to
	// edge; the rest read x in place, so no padded copy of the whole clip
	// (8 bytes a sample as float64) is made.
	edge := make([]float64, width)
	stepQ, stepP := r.down/r.up, r.down%r.up
	q, p := 0, 0 // output i sits at input position q + p/L
	for i := range y {
		if r.phases != nil {
			taps = r.phases[p*width : (p+1)*width]
		} else {
			r.interpolate(taps, float64(p)/float64(r.up))
		}
		if lo, hi := q-k, q+k+1; lo >= 0 && hi <= len(x) {
			y[i] = float32(dot(taps, x[lo:hi]))
		} else {
			for j := range edge {
				edge[j] = 0
				if s := lo + j; s >= 0 && s < len(x) {
					edge[j] = float64(x[s])
				}
			}
			y[i] = float32(dot(taps, edge))
		}
		q, p = q+stepQ, p+stepP
		if p >= r.up {
			q, p = q+1, p-r.up
		}
	}
	return y
}

// interpolate fills taps for the phase at fractional position frac from the
// prototype table, by linear interpolation, and normalises them.
func (r *Resampler) interpolate(taps []float64, frac float64) {
	last := len(r.proto) - 1
	for i := range taps {
		pos := math.Abs(float64(r.half-i)+frac) / r.protoStep
		u := int(pos)
		if u >= last {
			taps[i] = 0
			continue
		}
		w := pos - float64(u)
		taps[i] = r.proto[u] + float64(w*float64(r.proto[u+1]-r.proto[u]))
	}
	normalise(taps)
}

// dot returns Σ h[j]·x[j] over len(h) terms, summed in four interleaved
// partial sums (j mod 4) combined as (s0+s1)+(s2+s3): a fixed order, so
// deterministic, and several times the throughput of one serial sum.
func dot[T float32 | float64](h []float64, x []T) float64 {
	x = x[:len(h)]
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(h); j += 4 {
		hh, xx := h[j:j+4:j+4], x[j:j+4:j+4]
		s0 += float64(hh[0] * float64(xx[0]))
		s1 += float64(hh[1] * float64(xx[1]))
		s2 += float64(hh[2] * float64(xx[2]))
		s3 += float64(hh[3] * float64(xx[3]))
	}
	for ; j < len(h); j++ {
		s0 += float64(h[j] * float64(x[j]))
	}
	return (s0 + s1) + (s2 + s3)
}

// normalise scales taps to sum to 1.
func normalise(taps []float64) {
	var sum float64
	for _, h := range taps {
		sum += h
	}
	for i := range taps {
		taps[i] /= sum
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
