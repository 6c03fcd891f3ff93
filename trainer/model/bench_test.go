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

// BenchmarkBERTStep trains the text benchmark's BERT one Adam step per
// iteration on a batch of random rows with the MLM + NSP loss: the model,
// batch and optimizer of `pretext train --config configs/train-bert-bench.yaml`
// (2 layers, width 64, 2 heads, intermediate 256, post-LN, 64 positions, the
// 4,000-piece vocabulary of bench/text-benefit, Adam 1e-3), without the
// loader. Every row is 64 real tokens with 10 masked positions
// (⌈0.15·64⌉, bench/text-benefit's max_predictions_per_seq).
// bench/torch-compare --model bert runs the same network in PyTorch beside it
// (bench/torch/bert_step.py). The batch is $PRETEXT_BENCH_BATCH (default 32).
// The first step, which compiles the graph, is not timed.
func BenchmarkBERTStep(b *testing.B) {
	const vocab, seq, preds = 4000, 64, 10
	batch := 32
	if v, err := strconv.Atoi(os.Getenv("PRETEXT_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	be, _, err := backend.New("go")
	if err != nil {
		b.Fatal(err)
	}
	m := BERT{Layers: 2, Width: 64, Heads: 2, Intermediate: 256, MaxPositions: seq}
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(42))
	tr := train.NewTrainer(be, ctx, m.Pretrain(vocab), PretrainLoss,
		optimizers.Adam().LearningRate(1e-3).Done(), nil, nil)
	in, labels := randomBERTBatch(rand.New(rand.NewPCG(1, 2)), batch, seq, preds, vocab)
	if _, err := tr.TrainStep(nil, in, labels); err != nil {
		b.Fatal(err)
	}
	params := 0
	for _, scope := range []string{EncoderScope, BERTHeadsScope} {
		for v := range ctx.InAbsPath("/" + scope).IterVariablesInScope() {
			params += v.Shape().Size()
		}
	}
	b.Logf("parameters=%d", params)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.TrainStep(nil, in, labels); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "examples/s")
}

// randomBERTBatch returns BERT.Pretrain's inputs (ids, segments, mask, flat
// masked positions) and PretrainLoss's labels (flat MLM targets, weights,
// NSP labels) for batch rows of seq real tokens, two segments of half the
// row each, and preds distinct masked positions per row (never [CLS]).
func randomBERTBatch(rng *rand.Rand, batch, seq, preds, vocab int) (in, labels []*tensors.Tensor) {
	ids := make([]int32, batch*seq)
	segments := make([]int32, batch*seq)
	mask := make([]int32, batch*seq)
	for i := range ids {
		ids[i] = int32(rng.IntN(vocab))
		if i%seq >= seq/2 {
			segments[i] = 1
		}
		mask[i] = 1
	}
	pos := make([]int32, batch*preds)
	target := make([]int32, batch*preds)
	weights := make([]float32, batch*preds)
	nsp := make([]float32, batch)
	for r := range batch {
		for j, p := range rng.Perm(seq - 1)[:preds] {
			k := r*preds + j
			pos[k] = int32(r*seq + 1 + p)
			target[k] = int32(k*vocab + rng.IntN(vocab))
			weights[k] = 1
		}
		nsp[r] = float32(rng.IntN(2))
	}
	in = []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(ids, batch, seq),
		tensors.FromFlatDataAndDimensions(segments, batch, seq),
		tensors.FromFlatDataAndDimensions(mask, batch, seq),
		tensors.FromFlatDataAndDimensions(pos, batch*preds),
	}
	labels = []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(target, batch*preds),
		tensors.FromFlatDataAndDimensions(weights, batch*preds),
		tensors.FromFlatDataAndDimensions(nsp, batch),
	}
	return in, labels
}
