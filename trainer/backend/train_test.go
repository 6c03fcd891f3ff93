package backend

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// convLayer is a "same"-padded 2D convolution layer: Conv2D or layers.Convolution.
type convLayer func(ctx *context.Context, x *graph.Node, channels, kernel, stride int) *graph.Node

// stockConvLayer is GoMLX's convolution layer, with Conv2D's signature.
func stockConvLayer(ctx *context.Context, x *graph.Node, channels, kernel, stride int) *graph.Node {
	return layers.Convolution(ctx, x).Channels(channels).KernelSize(kernel).PadSame().Strides(stride).Done()
}

// upsample2x repeats each pixel of x, [B, H, W, C], into a 2×2 block.
func upsample2x(x *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	x = graph.BroadcastToDims(graph.Reshape(x, b, h, 1, w, 1, c), b, h, 2, w, 2, c)
	return graph.Reshape(x, b, 2*h, 2*w, c)
}

// tinyAutoencoder is the smoke test's model: one strided convolution down, one up.
func tinyAutoencoder(conv convLayer) train.ModelFn {
	return func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		z := activations.Relu(conv(ctx.In("encoder"), inputs[0], 8, 3, 2))
		return []*graph.Node{conv(ctx.In("decoder"), upsample2x(z), inputs[0].Shape().Dimensions[3], 3, 1)}
	}
}

// benchAutoencoder is the model of the measurements in docs/trainer.md, with a 1-channel output:
// 32×32×1 → 16×16×16 → 8×8×32 → 16×16×16 → 32×32×1, 10k parameters.
func benchAutoencoder(conv convLayer) train.ModelFn {
	return func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		x := activations.Relu(conv(ctx.In("c1"), inputs[0], 16, 3, 2))
		x = activations.Relu(conv(ctx.In("c2"), x, 32, 3, 2))
		x = activations.Relu(conv(ctx.In("d1"), upsample2x(x), 16, 3, 1))
		return []*graph.Node{conv(ctx.In("d2"), upsample2x(x), 1, 3, 1)}
	}
}

// randomImages returns a batch of images with pixels uniform in [0, 1).
func randomImages(rng *rand.Rand, batch, size int) *tensors.Tensor {
	data := make([]float32, batch*size*size)
	for i := range data {
		data[i] = rng.Float32()
	}
	return tensors.FromFlatDataAndDimensions(data, batch, size, size, 1)
}

// newAutoencoderTrainer returns a trainer of model with mean squared error, Adam at the
// given learning rate and initial weights drawn from a fixed seed.
func newAutoencoderTrainer(b backends.Backend, model train.ModelFn, lr float64) *train.Trainer {
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(42))
	return train.NewTrainer(b, ctx, model, losses.MeanSquaredError,
		optimizers.Adam().LearningRate(lr).Done(), nil, nil)
}

// TestAutoencoderTrains: a 2-layer convolutional autoencoder on random 16×16 images
// halves its loss within 30 steps on the pure-Go backend, with either convolution; and
// since both start from the same weights and compute the same function, they follow the
// same loss curve.
func TestAutoencoderTrains(t *testing.T) {
	const steps = 30
	curves := map[string][]float64{}
	for _, conv := range []struct {
		name  string
		layer convLayer
	}{{"im2col", Conv2D}, {"stock", stockConvLayer}} {
		trainer := newAutoencoderTrainer(testBackend(), tinyAutoencoder(conv.layer), 1e-2)
		rng := rand.New(rand.NewPCG(1, 2))
		start := time.Now()
		for step := range steps {
			x := randomImages(rng, 8, 16)
			m, err := trainer.TrainStep(nil, []*tensors.Tensor{x}, []*tensors.Tensor{x})
			if err != nil {
				t.Fatalf("%s, step %d: %v", conv.name, step, err)
			}
			curves[conv.name] = append(curves[conv.name], flat(t, m[0])[0])
		}
		c := curves[conv.name]
		t.Logf("%s: loss %.4f → %.4f in %d steps (%v)", conv.name, c[0], c[steps-1], steps, time.Since(start).Round(time.Millisecond))
		if c[steps-1] > c[0]/2 {
			t.Errorf("%s: loss went from %.4f to %.4f in %d steps, want at most half", conv.name, c[0], c[steps-1], steps)
		}
	}
	if d := relDiff(curves["stock"], curves["im2col"]); d > 1e-3 {
		t.Errorf("loss curves of the two convolutions differ by %.3g (relative):\nim2col %.4f\nstock  %.4f",
			d, curves["im2col"], curves["stock"])
	}
}
