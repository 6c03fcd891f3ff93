package vision

import (
	"fmt"
	"math/rand/v2"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// The image tasks' names, as configs, manifests and output folders spell them.
const (
	TaskColorize = "colorize"
	TaskDenoise  = "denoise"
	TaskInpaint  = "inpaint"
)

// The image tasks register themselves here: name, row type, config with its
// defaults and validation, and the Labeler that makes a row.
func init() {
	transforms.Register(transforms.Task{
		Name: TaskColorize, Modality: "image",
		Doc:       "grayscale input → colour target, Lab ab at a stride and their in-gamut bins (Zhang et al. 2016)",
		NewConfig: func() transforms.Config { c := DefaultColorizeConfig(); return &c },
		Format:    sinks.FormatOf[sinks.ColorizeRow](),
		Impl:      colorizer{},
		// The trainer sizes the bins head from the manifest.
		Info: func(transforms.Config) map[string]any { return map[string]any{"ab_bins": NumABBins()} },
	})
	transforms.Register(transforms.Task{
		Name: TaskDenoise, Modality: "image",
		Doc:       "noisy input (gaussian, salt_pepper, poisson, speckle, masking) → clean target",
		NewConfig: func() transforms.Config { c := DefaultDenoiseConfig(); return &c },
		Format:    sinks.FormatOf[sinks.DenoiseRow](),
		Impl:      denoiser{},
	})
	transforms.Register(transforms.Task{
		Name: TaskInpaint, Modality: "image",
		Doc:       "input with holes (center, random_blocks, irregular, patches) + mask → complete target",
		NewConfig: func() transforms.Config { c := DefaultInpaintConfig(); return &c },
		Format:    sinks.FormatOf[sinks.InpaintRow](),
		Impl:      inpainter{},
	})
}

type colorizer struct{}

func (colorizer) Variants(c transforms.Config) int { return c.(*ColorizeConfig).Variants }

func (colorizer) Label(ex *Example, c transforms.Config, v int, _ *rand.Rand) (any, int, []string, error) {
	cfg := c.(*ColorizeConfig)
	lab := Colorize(ex.Image, *cfg)
	input, target, err := ex.encode(lab.Input)
	if err != nil {
		return nil, 0, nil, err
	}
	b := ex.Image.Bounds()
	row := sinks.ColorizeRow{
		Key: ex.Key, Source: ex.Source, Variant: int32(v), Split: ex.Split,
		Width: int32(b.Dx()), Height: int32(b.Dy()), Encoding: ex.Encoding.Format,
		Input: input, Target: target,
		TargetAB: lab.TargetAB, ABBins: lab.ABBins, ABStride: int32(cfg.ABStride),
		ABHeight: int32(lab.ABHeight), ABWidth: int32(lab.ABWidth), SourceIsGray: lab.SourceIsGray,
	}
	var stats []string
	if lab.SourceIsGray {
		stats = append(stats, "source_is_gray")
	}
	return row, len(input) + len(target) + 3*len(lab.ABBins), stats, nil
}

type denoiser struct{}

func (denoiser) Variants(c transforms.Config) int { return c.(*DenoiseConfig).Variants }

func (denoiser) Label(ex *Example, c transforms.Config, v int, rng *rand.Rand) (any, int, []string, error) {
	lab := Denoise(ex.Image, *c.(*DenoiseConfig), rng)
	input, target, err := ex.encode(lab.Input)
	if err != nil {
		return nil, 0, nil, err
	}
	b := ex.Image.Bounds()
	row := sinks.DenoiseRow{
		Key: ex.Key, Source: ex.Source, Variant: int32(v), Split: ex.Split,
		Width: int32(b.Dx()), Height: int32(b.Dy()), Encoding: ex.Encoding.Format,
		Input: input, Target: target, Noise: lab.Kind, NoiseLevel: lab.Level,
	}
	return row, len(input) + len(target), []string{"noise/" + lab.Kind}, nil
}

type inpainter struct{}

func (inpainter) Variants(c transforms.Config) int { return c.(*InpaintConfig).Variants }

func (inpainter) Label(ex *Example, c transforms.Config, v int, rng *rand.Rand) (any, int, []string, error) {
	lab := Inpaint(ex.Image, *c.(*InpaintConfig), rng)
	input, target, err := ex.encode(lab.Input)
	if err != nil {
		return nil, 0, nil, err
	}
	mask, err := Encode(lab.Mask, ex.Encoding)
	if err != nil {
		return nil, 0, nil, err
	}
	b := ex.Image.Bounds()
	row := sinks.InpaintRow{
		Key: ex.Key, Source: ex.Source, Variant: int32(v), Split: ex.Split,
		Width: int32(b.Dx()), Height: int32(b.Dy()), Encoding: ex.Encoding.Format,
		Input: input, Target: target, Mask: mask, MaskKind: lab.Kind, MaskRatio: lab.Ratio,
	}
	return row, len(input) + len(target) + len(mask), []string{"mask_kind/" + lab.Kind, fmt.Sprintf("mask_ratio_decile/%d", min(int(lab.Ratio*10), 9))}, nil
}
