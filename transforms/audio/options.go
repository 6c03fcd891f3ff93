package audio

import (
	"fmt"

	"github.com/pretext-dev/pretext/transforms"
)

// Options configure reading audio inputs: a run config's audio section
// (configs.Audio), whose JSON the config hash covers.
type Options struct {
	// MaxBytes rejects larger input files without reading them whole.
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes"`
	// MaxSeconds rejects longer audio before its samples are decoded.
	MaxSeconds float64 `yaml:"max_seconds" json:"max_seconds"`
	// MaxSamples rejects a WAV with more samples per channel, judged from its
	// header before decoding: it bounds a worker's memory (4 bytes a sample)
	// where MaxSeconds does not, at high sample rates.
	MaxSamples int64 `yaml:"max_samples" json:"max_samples,omitempty"`
	// Mel is the log-mel front end; mel.sample_rate is the rate every input
	// is resampled to.
	Mel MelConfig `yaml:"mel" json:"mel"`
	// ClipSeconds cuts longer audio inputs into clips (audio_mask).
	ClipSeconds float64 `yaml:"clip_seconds" json:"clip_seconds"`
	// MinSeconds drops shorter audio, and a shorter last clip of a long input.
	MinSeconds float64 `yaml:"min_seconds" json:"min_seconds"`
	// SilenceDBFS flags audio whose RMS level is below it as silent.
	SilenceDBFS float64 `yaml:"silence_dbfs" json:"silence_dbfs"`
	// TimeoutSeconds bounds one ffmpeg process decoding a non-WAV input.
	TimeoutSeconds float64 `yaml:"timeout_s" json:"timeout_s,omitempty"`
}

// DefaultOptions returns the audio section's defaults.
func DefaultOptions() Options {
	return Options{
		MaxBytes: 512 << 20, MaxSeconds: 600, MaxSamples: 64 << 20, Mel: DefaultMel(),
		ClipSeconds: 10, MinSeconds: 0.5, SilenceDBFS: -60, TimeoutSeconds: 120,
	}
}

// Validate reports every bad field, each by its path in a run config
// ("audio.clip_seconds").
func (a Options) Validate() []error {
	f := transforms.Fields{}
	if a.MaxBytes <= 0 {
		f.Addf("audio.max_bytes", "must be > 0 (got %d)", a.MaxBytes)
	}
	if a.MaxSamples <= 0 {
		f.Addf("audio.max_samples", "must be > 0 (got %d)", a.MaxSamples)
	}
	if !(a.MaxSeconds > 0) {
		f.Addf("audio.max_seconds", "must be > 0 (got %v)", a.MaxSeconds)
	}
	for _, err := range a.Mel.Validate() {
		f.Add(fmt.Errorf("audio.mel.%w", err))
	}
	if !(a.MinSeconds > 0) {
		f.Addf("audio.min_seconds", "must be > 0 (got %v)", a.MinSeconds)
	}
	if !(a.ClipSeconds >= a.MinSeconds) {
		f.Addf("audio.clip_seconds", "must be >= min_seconds (got %v)", a.ClipSeconds)
	}
	if !(a.SilenceDBFS <= 0) {
		f.Addf("audio.silence_dbfs", "must be <= 0 (got %v)", a.SilenceDBFS)
	}
	if !(a.TimeoutSeconds > 0) {
		f.Addf("audio.timeout_s", "must be > 0 (got %v)", a.TimeoutSeconds)
	}
	return f.Errs()
}
