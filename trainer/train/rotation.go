package train

import (
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// The rotation task's trainer side (Gidaris et al. 2018): the loader decodes
// each row's input, the image turned k quarter turns, and its label k; the
// conv encoder's features, averaged over the image, feed a 4-way classifier
// trained with softmax cross-entropy, in a scope of its own
// (head_rotation), so that it trains beside the other image tasks' heads on
// one shared encoder.
func init() {
	data.Register(vision.TaskRotation, data.Rows[vision.RotationRow]{
		Key:   func(r *vision.RotationRow) string { return r.Key },
		Split: func(r *vision.RotationRow) string { return r.Split },
		Batcher: data.ImageBatcher(vision.TaskRotation, func(r *vision.RotationRow) data.ImageRow {
			return data.ImageRow{Key: r.Key, Variant: r.Variant, Width: r.Width, Height: r.Height,
				Encoding: r.Encoding, Input: r.Input, InputChannels: 3}
		}, func(b *data.ImageBatch, rows []vision.RotationRow) error {
			b.Class = make([]int32, len(rows))
			for i := range rows {
				b.Class[i] = rows[i].Rotation
			}
			return nil
		}),
	})
	Register(Task{Name: vision.TaskRotation, Model: ConvModel,
		Tensors: func(f Feed, b data.Batch) ([]*tensors.Tensor, []*tensors.Tensor, ConvHead, error) {
			ib, in, err := imageInput(f.Config.Model, b)
			if err != nil {
				return nil, nil, nil, err
			}
			lab, err := classLabels(ib, 4)
			return in, lab, classHead{scope: "head_" + vision.TaskRotation, classes: 4}, err
		}})
}
