package model

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"
)

// Poolings of the encoder's hidden states into one vector per text.
const (
	// PoolCLS takes the hidden state of the first token, [CLS].
	PoolCLS = "cls"
	// PoolMean averages the hidden states of the real tokens ([CLS] and
	// [SEP] included, padding excluded).
	PoolMean = "mean"
)

// ClassifierScope is the scope of a text classifier's head, apart from the
// pretraining heads (BERTHeadsScope) so that none of them is reused.
const ClassifierScope = "classifier"

// InitializerRange is BERT's initializer_range: the standard deviation of
// the normal distribution its new weights are drawn from.
const InitializerRange = 0.02

// WithBERTInit returns ctx drawing the variables it creates from
// N(0, InitializerRange²), as BERT initialises its weights (layer norms keep
// their gains of 1 and offsets of 0). GoMLX's default, He initialisation,
// draws BERT's position embeddings ([positions, width]: std √(2/positions),
// 0.18 for 64) about eight times larger than its token embeddings
// ([vocab, width]: 0.022 for 4,000 tokens), so after the first layer norm
// every text looks alike, and a classifier trained from it stays at chance
// (measured on 64 Brown passages of 4 genres, width 64, 2 layers: the loss
// stayed at ln 4 over 100 steps of 16 at Adam learning rates 1e-3, 1e-2 and
// 1e-1; with this initialisation it fell below 0.05 within 60 steps at 1e-3
// and within 30 at 3e-3).
func WithBERTInit(ctx *context.Context) *context.Context {
	return ctx.WithInitializer(initializers.RandomNormalFn(ctx, InitializerRange))
}

// CheckPooling says whether p is PoolCLS or PoolMean.
func CheckPooling(p string) error {
	if p != PoolCLS && p != PoolMean {
		return fmt.Errorf("pooling %q: %s or %s", p, PoolCLS, PoolMean)
	}
	return nil
}

// Pool reduces hidden states h [B, S, W] to [B, W] by pooling (PoolCLS or
// PoolMean); mask ([B, S], nonzero for real tokens) weighs the mean.
func Pool(h, mask *Node, pooling string) *Node {
	d := h.Shape().Dimensions
	if pooling == PoolCLS {
		return Reshape(Slice(h, AxisRange(), AxisElem(0)), d[0], d[2])
	}
	w := ConvertDType(NotEqual(mask, ZerosLike(mask)), dtypes.Float32) // [B, S]
	sum := ReduceSum(Mul(h, ExpandDims(w, -1)), 1)                     // [B, W]
	n := Max(ReduceSum(w, 1), OnesLike(ReduceSum(w, 1)))               // [B]; an all-padding row divides by 1
	return Div(sum, ExpandDims(n, -1))
}

// Features returns the pooled encoder output [B, Width] of ids and mask
// ([B, S] int32; one segment, as for a single text), the vector a
// classification head reads. The encoder's variables are EncoderScope's.
func (b BERT) Features(ctx *context.Context, vocabSize int, ids, mask *Node, pooling string) *Node {
	h := b.Encode(ctx, vocabSize, ids, ZerosLike(ids), mask)
	return Pool(h, mask, pooling)
}

// Classifier returns the model function of a text classifier: the encoder,
// pooling, then one dense layer to the classes' logits under
// ClassifierScope (BERT's fine-tuning recipe without the pooler and
// dropout). Its inputs are ids and mask ([B, S] int32), its output the
// logits [B, classes]. Variables it creates (the head; the encoder too when
// it does not exist yet, as for a classifier trained from scratch) are
// initialised as BERT's (WithBERTInit); a pretrained encoder's variables,
// already in ctx, are used as they are.
func (b BERT) Classifier(vocabSize, classes int, pooling string) func(ctx *context.Context, spec any, inputs []*Node) []*Node {
	return func(ctx *context.Context, _ any, inputs []*Node) []*Node {
		ctx = WithBERTInit(ctx)
		f := b.Features(ctx, vocabSize, inputs[0], inputs[1], pooling)
		return []*Node{layers.DenseWithBias(ctx.In(ClassifierScope), f, classes)}
	}
}
