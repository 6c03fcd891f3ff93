package audio

import (
	"errors"
	"fmt"
	"math"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// TaskMask is the name of the masked spectrogram modelling task.
const TaskMask = "audio_mask"

func init() {
	transforms.Register(transforms.Task{
		Name: TaskMask, Modality: "audio",
		Doc:       "log-mel with time and frequency spans masked (SpecAugment-style) + mask → unmasked log-mel target",
		NewConfig: func() transforms.Config { c := MaskTaskConfig{DefaultMask()}; return &c },
		Format:    sinks.FormatOf[sinks.AudioMaskRow](),
		Impl:      maskTask{},
	})
}

// MaskTaskConfig is the audio_mask task's section of a run config.
type MaskTaskConfig struct {
	MaskConfig `yaml:",inline"`
}

// Validate implements transforms.Config.
func (c *MaskTaskConfig) Validate(path string) error {
	var errs []error
	for _, err := range c.MaskConfig.Validate() {
		errs = append(errs, fmt.Errorf("%s.%w", path, err))
	}
	return errors.Join(errs...)
}

// Span is a clip of an input: samples [Start, End).
type Span struct{ Start, End int }

// Clips cuts n samples at rate into clips of clipSeconds; a last clip shorter
// than minSeconds is dropped (and so is the whole input when it is that
// short). Clip starts fall on whole samples, so a clip's key, made from its
// start time, names the same samples on every run.
func Clips(n, rate int, clipSeconds, minSeconds float64) []Span {
	clip := int(math.Round(clipSeconds * float64(rate)))
	least := int(math.Ceil(minSeconds * float64(rate)))
	var out []Span
	for s := 0; s < n; s += clip {
		e := min(s+clip, n)
		if e-s < least {
			break
		}
		out = append(out, Span{s, e})
	}
	return out
}

// DBFS is the RMS level of x in dB relative to full scale (a full-scale sine
// is -3 dBFS); silence reads -120.
func DBFS(x []float32) float64 {
	var sum float64
	for _, v := range x {
		sum += float64(float64(v) * float64(v))
	}
	if len(x) == 0 || sum == 0 {
		return -120
	}
	return max(-120, 10*math.Log10(sum/float64(len(x))))
}
