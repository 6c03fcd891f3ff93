package model

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/pretext-dev/pretext/trainer/backend"
)

// BenchmarkPretrainStep trains the MNIST benchmark's encoder–decoder
// (DefaultConv: 32×32×1 → 8×8×32 → 32×32×1) one Adam step per iteration on
// a batch of random images with the L2 loss: the model, batch and optimizer
// of `pretext train --config configs/train-mnist.yaml`, without the loader.
// bench/torch-compare runs the same network in PyTorch beside it. The batch
// is $PRETEXT_BENCH_BATCH (default 32). The first step, which compiles the
// graph, is not timed.
func BenchmarkPretrainStep(b *testing.B) {
	batch := 32
	if v, err := strconv.Atoi(os.Getenv("PRETEXT_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	be, _, err := backend.New("go")
	if err != nil {
		b.Fatal(err)
	}
	c := DefaultConv()
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(42))
	tr := train.NewTrainer(be, ctx, c.Autoencoder(1), losses.MeanSquaredError,
		optimizers.Adam().LearningRate(2e-3).Done(), nil, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]float32, batch*c.Size*c.Size)
	for i := range data {
		data[i] = rng.Float32()
	}
	x := []*tensors.Tensor{tensors.FromFlatDataAndDimensions(data, batch, c.Size, c.Size, 1)}
	if _, err := tr.TrainStep(nil, x, x); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.TrainStep(nil, x, x); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "examples/s")
}
