package vision

import (
	"fmt"
	"image"
	"math/rand/v2"

	"github.com/disintegration/imaging"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// TaskRotation is the name of the rotation-prediction task.
const TaskRotation = "rotation"

// The rotation task (Gidaris, Singh & Komodakis, "Unsupervised
// Representation Learning by Predicting Image Rotations", ICLR 2018): the
// network sees an image turned by k quarter turns and predicts k. Everything
// the pipeline needs of it is in this file: name, config, row type and
// labeler; the inspector's statistics and the trainer's head register
// themselves from inspect/ and trainer/.
func init() {
	transforms.Register(transforms.Task{
		Name: TaskRotation, Modality: "image",
		Doc:       "image rotated by k×90° counter-clockwise → k in {0,1,2,3} and the upright target (Gidaris et al. 2018)",
		NewConfig: func() transforms.Config { c := DefaultRotationConfig(); return &c },
		Format:    sinks.FormatOf[RotationRow](),
		Impl:      rotator{},
	})
}

// RotationConfig configures the rotation task.
type RotationConfig struct {
	// Variants is the number of rows per image, each with its own draw of k
	// (uniform over the four rotations). Unused with AllRotations.
	Variants int `yaml:"variants" json:"variants"`
	// AllRotations writes all four rotations of every image, k = variant
	// 0…3, as the paper trains: each batch then holds every rotation of
	// its images.
	AllRotations bool `yaml:"all_rotations" json:"all_rotations"`
}

// DefaultRotationConfig returns the defaults: one row per image, k drawn.
func DefaultRotationConfig() RotationConfig { return RotationConfig{Variants: 1} }

// Validate implements transforms.Config.
func (c RotationConfig) Validate(path string) error {
	f := transforms.Fields{Path: path}
	f.AtLeast("variants", c.Variants, 1)
	if c.AllRotations && c.Variants != 1 {
		f.Addf("variants", "must be 1 with all_rotations: true, whose four rotations are the variants (got %d)", c.Variants)
	}
	return f.Err()
}

// RotationRow is one example of the rotation task: the input is the target
// turned k quarter turns counter-clockwise; Width and Height are the
// target's (the input's are swapped when k is odd).
type RotationRow struct {
	Key      string `parquet:"key"`
	Source   string `parquet:"source"`
	Variant  int32  `parquet:"variant"`
	Split    string `parquet:"split"`
	Width    int32  `parquet:"width"`
	Height   int32  `parquet:"height"`
	Encoding string `parquet:"encoding"`
	Input    []byte `parquet:"input"`
	Target   []byte `parquet:"target"`
	Rotation int32  `parquet:"rotation"`
}

func (r RotationRow) RowKey() string    { return r.Key }
func (r RotationRow) RowVariant() int32 { return r.Variant }

// Rotate turns img k quarter turns counter-clockwise (k mod 4; negative k
// turns clockwise).
func Rotate(img image.Image, k int) *image.NRGBA {
	switch (k%4 + 4) % 4 {
	case 1:
		return imaging.Rotate90(img)
	case 2:
		return imaging.Rotate180(img)
	case 3:
		return imaging.Rotate270(img)
	}
	return imaging.Clone(img)
}

type rotator struct{}

func (rotator) Variants(c transforms.Config) int {
	if cfg := c.(*RotationConfig); !cfg.AllRotations {
		return cfg.Variants
	}
	return 4
}

func (rotator) Label(ex *Example, c transforms.Config, v int, rng *rand.Rand) (any, int, []string, error) {
	k := v
	if !c.(*RotationConfig).AllRotations {
		k = rng.IntN(4)
	}
	input, target, err := ex.encode(Rotate(ex.Image, k))
	if err != nil {
		return nil, 0, nil, err
	}
	b := ex.Image.Bounds()
	row := RotationRow{
		Key: ex.Key, Source: ex.Source, Variant: int32(v), Split: ex.Split,
		Width: int32(b.Dx()), Height: int32(b.Dy()), Encoding: ex.Encoding.Format,
		Input: input, Target: target, Rotation: int32(k),
	}
	return row, len(input) + len(target), []string{fmt.Sprintf("rotation/%d", k)}, nil
}
