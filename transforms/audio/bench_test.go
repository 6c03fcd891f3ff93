package audio

import (
	"math"
	"math/rand/v2"
	"testing"
)

// speechLike returns seconds of 48 kHz audio with speech-like structure: a
// voiced source (harmonics of a 100–180 Hz gliding pitch, falling 6 dB per
// octave) under a slow syllable-rate envelope, plus fricative noise bursts,
// drawn from a seeded generator.
func speechLike(seconds float64) []float32 {
	const rate = 48000
	rng := rand.New(rand.NewPCG(2024, 7))
	x := make([]float32, int(seconds*rate))
	phase := 0.0
	for i := range x {
		ts := float64(i) / rate
		f0 := 140 + 40*math.Sin(2*math.Pi*0.7*ts)
		phase += 2 * math.Pi * f0 / rate
		var v float64
		for h := 1.0; h*f0 < 8000; h++ {
			v += math.Sin(h*phase) / h
		}
		env := 0.5 + 0.5*math.Sin(2*math.Pi*4*ts)
		noise := 0.0
		if math.Mod(ts, 0.6) > 0.45 {
			noise = 0.2 * rng.NormFloat64()
		}
		x[i] = float32(0.1*env*v + noise*0.3)
	}
	return x
}

// BenchmarkResampleMel times the front end of the audio tasks on 10 s of
// 48 kHz audio: resampling to 16 kHz (building the filter included, as a
// DoFn meeting a new rate would) and the default log-mel spectrogram.
func BenchmarkResampleMel(b *testing.B) {
	const seconds = 10.0
	x := speechLike(seconds)
	m, err := NewMel(DefaultMel())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		y := Resample(x, 48000, 16000)
		m.Compute(y)
	}
	b.ReportMetric(seconds*float64(b.N)/b.Elapsed().Seconds(), "audio-s/s")
}

// BenchmarkDecodeWAV decodes 10 s of 48 kHz stereo 16-bit PCM.
func BenchmarkDecodeWAV(b *testing.B) {
	const seconds = 10.0
	x := speechLike(seconds)
	ints := make([]int64, 0, 2*len(x))
	for _, v := range x {
		s := int64(math.Round(float64(v) * 32767))
		ints = append(ints, s, s/2)
	}
	data := buildWAV(wavSpec{tag: tagPCM, channels: 2, rate: 48000, bits: 16, dataSize: -1}, pack(ints, 16))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeWAV(data, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(seconds*float64(b.N)/b.Elapsed().Seconds(), "audio-s/s")
}
