// Package model holds the trainer's networks, as GoMLX graph builders: a small
// convolutional encoder with the heads the image tasks train on it (a
// decoder to an image or a grid, pooled class logits), the classifier that
// fine-tuning puts on it, BERT and the audio-visual two-tower network.
//
// Every network keeps its encoder's variables under the scope "/encoder", so
// that fine-tuning can copy them out of a pretraining checkpoint whatever
// head was trained on top.
package model

import (
	"errors"
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"

	"github.com/pretext-dev/pretext/trainer/backend"
)

// EncoderScope is the scope of every encoder's variables.
const EncoderScope = "encoder"

// Conv is the configuration of the convolutional encoder–decoder.
type Conv struct {
	// Channels are the encoder's convolution widths, one 3×3 convolution
	// each (ReLU after each): the first with stride 1, the others with
	// stride 2. [16, 32, 32] maps 32×32 to 8×8×32.
	Channels []int `yaml:"channels" json:"channels"`
	// InChannels is the number of input channels: 1 (images are turned to
	// gray, the mean of R, G and B) or 3.
	InChannels int `yaml:"in_channels" json:"in_channels"`
	// Size is the side of the (square) input images.
	Size int `yaml:"size" json:"size"`
}

// DefaultConv is the encoder of the MNIST benchmark: 32×32×1 → 8×8×32.
func DefaultConv() Conv {
	return Conv{Channels: []int{16, 32, 32}, InChannels: 1, Size: 32}
}

// Validate reports every bad field.
func (c Conv) Validate() error {
	var errs []error
	if len(c.Channels) == 0 {
		errs = append(errs, errors.New("channels: at least one layer"))
	}
	for i, ch := range c.Channels {
		if ch < 1 {
			errs = append(errs, fmt.Errorf("channels[%d]: must be >= 1 (got %d)", i, ch))
		}
	}
	if c.InChannels != 1 && c.InChannels != 3 {
		errs = append(errs, fmt.Errorf("in_channels: must be 1 or 3 (got %d)", c.InChannels))
	}
	if f := c.Factor(); c.Size < 1 || (len(c.Channels) > 0 && c.Size%f != 0) {
		errs = append(errs, fmt.Errorf("size: must be a positive multiple of %d, the encoder's stride (got %d)", f, c.Size))
	}
	return errors.Join(errs...)
}

// Factor is the encoder's total stride.
func (c Conv) Factor() int { return 1 << max(len(c.Channels)-1, 0) }

// FeatureShape is the shape of the encoder's output for one image: [side, side, channels].
func (c Conv) FeatureShape() (side, channels int) {
	return c.Size / c.Factor(), c.Channels[len(c.Channels)-1]
}

// Encode builds the encoder on x, [batch, Size, Size, InChannels], in scope
// ctx.In("encoder"), and returns [batch, Size/Factor, Size/Factor, last channels].
func (c Conv) Encode(ctx *context.Context, x *graph.Node) *graph.Node {
	ctx = ctx.In(EncoderScope)
	for i, ch := range c.Channels {
		stride := 2
		if i == 0 {
			stride = 1
		}
		x = activations.Relu(backend.Conv2D(ctx.In(fmt.Sprintf("c%d", i)), x, ch, 3, stride))
	}
	return x
}

// Decode builds the decoder on the encoder's output z, mirroring the encoder
// at half its widths (nearest-neighbour 2× upsampling then a 3×3
// convolution per strided layer) and ending in a 3×3 convolution to
// outChannels with no activation. The decoder is thin on purpose: it is
// thrown away after pretraining, and at full width it would cost twice the
// encoder's compute at the higher resolutions.
func (c Conv) Decode(ctx *context.Context, z *graph.Node, outChannels int) *graph.Node {
	return c.DecodeTo(ctx.In("decoder"), z, outChannels, c.Size)
}

// DecodeTo is Decode to a side×side grid (side a power-of-two multiple or
// fraction of the features' side), in ctx as given: it stops upsampling at
// side, or average-pools the features down to it. Colorize's block targets
// (one ab pair or bin per ab_stride×ab_stride block) are decoded this way,
// without paying for the full resolution.
func (c Conv) DecodeTo(ctx *context.Context, z *graph.Node, outChannels, side int) *graph.Node {
	x := z
	for d := x.Shape().Dimensions; d[1] > side && d[1]%2 == 0; d = x.Shape().Dimensions {
		x = graph.ReduceMean(graph.Reshape(x, d[0], d[1]/2, 2, d[2]/2, 2, d[3]), 2, 4)
	}
	for i := len(c.Channels) - 1; i >= 1 && x.Shape().Dimensions[1] < side; i-- {
		x = activations.Relu(backend.Conv2D(ctx.In(fmt.Sprintf("d%d", i)), Upsample2x(x), max(c.Channels[i-1]/2, 4), 3, 1))
	}
	if got := x.Shape().Dimensions[1]; got != side {
		panic(fmt.Sprintf("model: cannot decode %d×%d features to a %d×%d grid", z.Shape().Dimensions[1], z.Shape().Dimensions[1], side, side))
	}
	return backend.Conv2D(ctx.In("out"), x, outChannels, 3, 1)
}

// Autoencoder returns the pretraining model: inputs[0] [batch, Size, Size,
// InChannels] to a [batch, Size, Size, outChannels] image.
func (c Conv) Autoencoder(outChannels int) func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
	return func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		return []*graph.Node{c.Decode(ctx, c.Encode(ctx, inputs[0]), outChannels)}
	}
}

// Classifier returns the fine-tuning model: the encoder, its features
// average-pooled over pool×pool blocks (pool 1: none), flattened, and a
// dense layer to classes logits in scope "head".
func (c Conv) Classifier(classes, pool int) func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
	return func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		z := c.Encode(ctx, inputs[0])
		d := z.Shape().Dimensions
		b := d[0]
		if pool > 1 && d[1]%pool == 0 && d[2]%pool == 0 {
			z = graph.ReduceMean(graph.Reshape(z, b, d[1]/pool, pool, d[2]/pool, pool, d[3]), 2, 4)
		}
		z = graph.Reshape(z, b, -1)
		return []*graph.Node{layers.DenseWithBias(ctx.In("head"), z, classes)}
	}
}

// PooledLogits is a classification head on encoder features z, [batch,
// side, side, channels]: their mean over space (global average pooling),
// then a dense layer to classes logits, [batch, classes], in ctx. A
// pretext classification task (which rotation an image has) trains it on
// the shared encoder.
func PooledLogits(ctx *context.Context, z *graph.Node, classes int) *graph.Node {
	return layers.DenseWithBias(ctx, graph.ReduceMean(z, 1, 2), classes)
}

// Linear returns logistic regression on raw pixels: inputs[0] flattened, one
// dense layer to classes logits.
func Linear(classes int) func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
	return func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		x := inputs[0]
		x = graph.Reshape(x, x.Shape().Dimensions[0], -1)
		return []*graph.Node{layers.DenseWithBias(ctx.In("head"), x, classes)}
	}
}

// Upsample2x repeats each pixel of x, [B, H, W, C], into a 2×2 block.
func Upsample2x(x *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	b, h, w, ch := d[0], d[1], d[2], d[3]
	x = graph.BroadcastToDims(graph.Reshape(x, b, h, 1, w, 1, ch), b, h, 2, w, 2, ch)
	return graph.Reshape(x, b, 2*h, 2*w, ch)
}

// WeightedLoss is the pretraining loss: labels are [target [B,H,W,C], weight
// [B,H,W,1]]; the loss is the weighted mean over pixels and channels of
// |prediction − target|^p, p = 1 (L1) or 2 (L2). A weight of all ones is the
// whole image; the hole mask is inpainting's loss on the hole.
func WeightedLoss(p int) func(labels, predictions []*graph.Node) *graph.Node {
	return func(labels, predictions []*graph.Node) *graph.Node {
		diff := graph.Sub(predictions[0], labels[0])
		var e *graph.Node
		if p == 1 {
			e = graph.Abs(diff)
		} else {
			e = graph.Square(diff)
		}
		w := labels[1]
		ch := float64(predictions[0].Shape().Dimensions[3])
		num := graph.ReduceAllSum(graph.Mul(e, w))
		den := graph.AddScalar(graph.MulScalar(graph.ReduceAllSum(w), ch), 1e-6)
		return graph.Div(num, den)
	}
}

// CrossEntropyCells is the mean softmax cross-entropy of logits [B, H, W,
// K] against the classes in labels [B, H, W] (int32) over the cells whose
// weight, [B, H, W], is not zero (weighted).
func CrossEntropyCells(labels, weights, logits *graph.Node) *graph.Node {
	k := logits.Shape().Dimensions[3]
	oneHot := graph.OneHot(labels, k, logits.DType())
	nll := graph.Neg(graph.ReduceSum(graph.Mul(oneHot, graph.LogSoftmax(logits)), -1))
	num := graph.ReduceAllSum(graph.Mul(nll, weights))
	return graph.Div(num, graph.AddScalar(graph.ReduceAllSum(weights), 1e-6))
}
