package audio

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/pretext-dev/pretext/transforms"
	"gonum.org/v1/gonum/dsp/fourier"
)

// MelConfig configures the log-mel spectrogram. The defaults are those of
// VGGish and the AudioSet embeddings (Hershey et al. 2017, the reference
// mel_features.py / vggish_params.py), so features line up with the most
// widely used pretrained audio front end: 16 kHz input, a 25 ms periodic
// Hann window (400 samples) zero-padded to a 512-point FFT, a 10 ms hop
// (160 samples), 64 triangular mel bands from 125 to 7500 Hz on the HTK mel
// scale, applied to the magnitude (not power) spectrum, and log(mel + 0.01).
type MelConfig struct {
	// SampleRate is the rate, in Hz, of the samples Compute is given.
	SampleRate int `yaml:"sample_rate" json:"sample_rate"`
	// NFFT is the FFT length; each windowed frame is zero-padded to it.
	// Any length works; powers of two are fastest.
	NFFT int `yaml:"n_fft" json:"n_fft"`
	// WinLength is the frame (and Hann window) length in samples.
	WinLength int `yaml:"win_length" json:"win_length"`
	// Hop is the distance between frame starts in samples.
	Hop int `yaml:"hop" json:"hop"`
	// NMels is the number of mel bands.
	NMels int `yaml:"n_mels" json:"n_mels"`
	// FMin and FMax are the lower edge of the first band and the upper
	// edge of the last, in Hz.
	FMin float64 `yaml:"f_min" json:"f_min"`
	FMax float64 `yaml:"f_max" json:"f_max"`
	// LogOffset is added before the log, so silence is log(LogOffset)
	// rather than -Inf; it sets the floor of the features.
	LogOffset float64 `yaml:"log_offset" json:"log_offset"`
}

// DefaultMel returns VGGish's settings (see MelConfig).
func DefaultMel() MelConfig {
	return MelConfig{
		SampleRate: 16000,
		NFFT:       512,
		WinLength:  400,
		Hop:        160,
		NMels:      64,
		FMin:       125,
		FMax:       7500,
		LogOffset:  0.01,
	}
}

// Validate reports every bad field, each message starting with the field's
// YAML name. When the fields are otherwise valid it also reports mel bands
// too narrow to hold an FFT bin, which would be constant features.
func (c MelConfig) Validate() []error {
	f := transforms.Fields{}
	intIn := func(field string, v, lo, hi int) {
		if v < lo || v > hi {
			f.Addf(field, "must be in [%d, %d] (got %d)", lo, hi, v)
		}
	}
	intIn("sample_rate", c.SampleRate, 1000, 768000)
	intIn("n_fft", c.NFFT, 16, 1<<16)
	intIn("win_length", c.WinLength, 1, max(c.NFFT, 1))
	intIn("hop", c.Hop, 1, 1<<20)
	intIn("n_mels", c.NMels, 1, 512)
	nyq := float64(c.SampleRate) / 2
	if !(c.FMin >= 0) {
		f.Addf("f_min", "must be >= 0 (got %g)", c.FMin)
	}
	if !(c.FMax > c.FMin && c.FMax <= nyq) {
		f.Addf("f_max", "must be in (f_min, sample_rate/2] = (%g, %g] (got %g)", c.FMin, nyq, c.FMax)
	}
	if !(c.LogOffset > 0 && c.LogOffset < math.Inf(1)) {
		f.Addf("log_offset", "must be > 0 and finite (got %g)", c.LogOffset)
	}
	if len(f.Errs()) == 0 {
		for b, band := range melFilterbank(c) {
			if band.weights == nil {
				lo, _, hi := bandEdges(c, b)
				f.Addf("n_mels", "band %d (%.1f–%.1f Hz) holds no FFT bin at n_fft %d; lower n_mels or raise n_fft", b, lo, hi, c.NFFT)
				break
			}
		}
	}
	return f.Errs()
}

// melBand is one triangular filter: weights for FFT bins first, first+1, ….
type melBand struct {
	first   int
	weights []float64
}

// Mel computes log-mel spectrograms for one MelConfig. It holds the
// filterbank, the window and the FFT's work space, so it is not safe for
// concurrent use: give each DoFn instance its own.
type Mel struct {
	cfg    MelConfig
	window []float64
	bands  []melBand
	fft    *fourier.FFT
	frame  []float64
	coeffs []complex128
	mag    []float64
}

// NewMelPool validates cfg and returns a pool of Mels for it: a Mel's
// scratch buffers are its own, so goroutines computing at once each take one.
func NewMelPool(cfg MelConfig) (*sync.Pool, error) {
	m, err := NewMel(cfg)
	if err != nil {
		return nil, err
	}
	p := &sync.Pool{New: func() any {
		m, _ := NewMel(cfg) // validated above
		return m
	}}
	p.Put(m)
	return p, nil
}

// NewMel validates cfg and precomputes the window and filterbank.
func NewMel(cfg MelConfig) (*Mel, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("audio: mel config: %w", errors.Join(errs...))
	}
	m := &Mel{
		cfg:    cfg,
		window: make([]float64, cfg.WinLength),
		bands:  melFilterbank(cfg),
		fft:    fourier.NewFFT(cfg.NFFT),
		frame:  make([]float64, cfg.NFFT),
		coeffs: make([]complex128, cfg.NFFT/2+1),
		mag:    make([]float64, cfg.NFFT/2+1),
	}
	// Periodic Hann, as in VGGish: 0.5 - 0.5·cos(2πn/N).
	for n := range m.window {
		m.window[n] = 0.5 - float64(0.5*math.Cos(2*math.Pi*float64(n)/float64(cfg.WinLength)))
	}
	return m, nil
}

// Config returns the configuration m was built with.
func (m *Mel) Config() MelConfig { return m.cfg }

// Frames returns the number of frames Compute makes from n samples:
// 1 + (n - WinLength)/Hop, rounded down, and 1 when n < WinLength.
func (m *Mel) Frames(n int) int {
	if n < m.cfg.WinLength {
		return 1
	}
	return 1 + (n-m.cfg.WinLength)/m.cfg.Hop
}

// Compute returns the log-mel spectrogram of x (sampled at the configured
// rate), row-major [frames][NMels]. Frame t covers samples
// [t·Hop, t·Hop+WinLength): frames are not centred and samples after the
// last whole frame are dropped, as in VGGish. Input shorter than one window
// (including empty input) is zero-padded to one frame, so every clip yields
// at least one row.
func (m *Mel) Compute(x []float32) (data []float32, frames int) {
	c := m.cfg
	if len(x) < c.WinLength {
		x = append(append(make([]float32, 0, c.WinLength), x...), make([]float32, c.WinLength-len(x))...)
	}
	frames = m.Frames(len(x))
	data = make([]float32, frames*c.NMels)
	for t := range frames {
		src := x[t*c.Hop : t*c.Hop+c.WinLength]
		for i, w := range m.window {
			m.frame[i] = float64(float64(src[i]) * w)
		}
		m.coeffs = m.fft.Coefficients(m.coeffs, m.frame)
		for k, v := range m.coeffs {
			re, im := real(v), imag(v)
			m.mag[k] = math.Sqrt(float64(re*re) + float64(im*im))
		}
		row := data[t*c.NMels : (t+1)*c.NMels]
		for b, band := range m.bands {
			var e float64
			for j, w := range band.weights {
				e += float64(w * m.mag[band.first+j])
			}
			row[b] = float32(math.Log(e + c.LogOffset))
		}
	}
	return data, frames
}

// MelBin returns the band whose centre is nearest freqHz on the mel scale;
// that band's triangle contains freqHz. It returns -1 for a frequency
// outside [FMin, FMax], which no band covers.
func (m *Mel) MelBin(freqHz float64) int {
	c := m.cfg
	if !(freqHz >= c.FMin && freqHz <= c.FMax) {
		return -1
	}
	lo, hi := hzToMel(c.FMin), hzToMel(c.FMax)
	step := (hi - lo) / float64(c.NMels+1)
	// Centre b sits at lo + (b+1)·step.
	b := int(math.Round((hzToMel(freqHz)-lo)/step)) - 1
	return min(max(b, 0), c.NMels-1)
}

// Band returns band b's lower edge, centre and upper edge in Hz; its
// weight rises linearly in mel from 0 at lo to 1 at centre and falls to 0
// at hi.
func (m *Mel) Band(b int) (lo, centre, hi float64) { return bandEdges(m.cfg, b) }

func bandEdges(c MelConfig, b int) (lo, centre, hi float64) {
	mlo, mhi := hzToMel(c.FMin), hzToMel(c.FMax)
	step := (mhi - mlo) / float64(c.NMels+1)
	edge := func(i int) float64 { return melToHz(mlo + float64(float64(i)*step)) }
	return edge(b), edge(b + 1), edge(b + 2)
}

// melFilterbank builds the triangular filters as VGGish's
// spectrogram_to_mel_matrix does: NMels+2 edges evenly spaced in HTK mel,
// each FFT bin k (at k·SampleRate/NFFT Hz) weighted by its mel distance to
// the edges, peak weight 1 (no area normalisation), the DC bin excluded.
// A band that holds no bin has nil weights.
func melFilterbank(c MelConfig) []melBand {
	nBins := c.NFFT/2 + 1
	binMel := make([]float64, nBins)
	for k := range binMel {
		binMel[k] = hzToMel(float64(k) * float64(c.SampleRate) / float64(c.NFFT))
	}
	mlo, mhi := hzToMel(c.FMin), hzToMel(c.FMax)
	step := (mhi - mlo) / float64(c.NMels+1)
	bands := make([]melBand, c.NMels)
	for b := range bands {
		lo, centre, hi := mlo+float64(float64(b)*step), mlo+float64(float64(b+1)*step), mlo+float64(float64(b+2)*step)
		var w []float64
		first := 0
		for k := 1; k < nBins; k++ {
			v := min((binMel[k]-lo)/(centre-lo), (hi-binMel[k])/(hi-centre))
			if v <= 0 {
				if w != nil {
					break
				}
				continue
			}
			if w == nil {
				first = k
			}
			w = append(w, v)
		}
		bands[b] = melBand{first: first, weights: w}
	}
	return bands
}

// hzToMel is the HTK mel scale, 1127·ln(1 + f/700).
func hzToMel(f float64) float64 { return 1127 * math.Log1p(f/700) }

func melToHz(m float64) float64 { return 700 * math.Expm1(m/1127) }
