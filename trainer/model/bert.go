package model

import (
	"errors"
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's idiom
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
)

// BERT is a small BERT (Devlin et al. 2019) for masked-LM and next-sentence
// pretraining: token, position and segment embeddings, a transformer
// encoder (post-LN as in the paper, or pre-LN), an MLM head (dense + GELU +
// layer norm, then a projection on the vocabulary) on the masked positions
// and an NSP head (tanh pooler on [CLS], then one logit).
//
// Its encoder's variables are under EncoderScope, the heads' under
// BERTHeadsScope.
type BERT struct {
	// Layers, Width (hidden size), Heads and Intermediate (the feed-forward
	// size; 0 means 4·Width) shape the encoder.
	Layers       int `yaml:"layers" json:"layers"`
	Width        int `yaml:"width" json:"width"`
	Heads        int `yaml:"heads" json:"heads"`
	Intermediate int `yaml:"intermediate" json:"intermediate"`
	// MaxPositions is the number of position embeddings: the longest
	// sequence the model takes.
	MaxPositions int `yaml:"max_positions" json:"max_positions"`
	// PreLN puts the layer norms before attention and the feed-forward
	// block (and one after the last layer) instead of after them.
	PreLN bool `yaml:"pre_ln" json:"pre_ln"`
}

// BERTHeadsScope is the scope of the MLM and NSP heads' variables.
const BERTHeadsScope = "bert_heads"

// DefaultBERT is a tiny BERT: 2 layers, width 64, 2 heads, 128 positions.
func DefaultBERT() BERT {
	return BERT{Layers: 2, Width: 64, Heads: 2, Intermediate: 256, MaxPositions: 128}
}

// Validate reports every bad field.
func (b BERT) Validate() error {
	var errs []error
	if b.Layers < 1 {
		errs = append(errs, fmt.Errorf("layers must be >= 1 (got %d)", b.Layers))
	}
	if b.Width < 1 || b.Heads < 1 || b.Width%b.Heads != 0 {
		errs = append(errs, fmt.Errorf("width (%d) must be a positive multiple of heads (%d)", b.Width, b.Heads))
	}
	if b.Intermediate < 0 {
		errs = append(errs, fmt.Errorf("intermediate must be >= 0 (got %d)", b.Intermediate))
	}
	if b.MaxPositions < 2 {
		errs = append(errs, fmt.Errorf("max_positions must be >= 2 (got %d)", b.MaxPositions))
	}
	return errors.Join(errs...)
}

func (b BERT) intermediate() int {
	if b.Intermediate > 0 {
		return b.Intermediate
	}
	return 4 * b.Width
}

// Encode returns the encoder's hidden states [B, S, Width] of ids, segments
// ([B, S] int32) and mask ([B, S], nonzero for real tokens).
func (b BERT) Encode(ctx *context.Context, vocabSize int, ids, segments, mask *Node) *Node {
	g := ids.Graph()
	ctx = ctx.In(EncoderScope)
	seq := ids.Shape().Dimensions[1]
	if seq > b.MaxPositions {
		panic(fmt.Sprintf("bert: sequences of %d tokens, the model has %d positions (model.max_positions)", seq, b.MaxPositions))
	}
	x := layers.Embedding(ctx.In("token"), ids, dtypes.Float32, vocabSize, b.Width)
	x = Add(x, layers.Embedding(ctx.In("segment"), segments, dtypes.Float32, 2, b.Width))
	pos := ctx.In("position").VariableWithShape("embeddings", shapes.Make(dtypes.Float32, b.MaxPositions, b.Width)).ValueGraph(g)
	pos = Slice(pos, AxisRange(0, seq))
	x = Add(x, ExpandDims(pos, 0))
	keyMask := NotEqual(mask, ZerosLike(mask))
	if !b.PreLN {
		x = layers.LayerNormalization(ctx.In("embeddings_norm"), x, -1).Done()
	}
	headDim := b.Width / b.Heads
	for l := range b.Layers {
		lctx := ctx.In(fmt.Sprintf("layer_%d", l))
		h := x
		if b.PreLN {
			h = layers.LayerNormalization(lctx.In("attention_norm"), h, -1).Done()
		}
		a := layers.MultiHeadAttention(lctx.In("attention"), h, h, h, b.Heads, headDim).
			SetKeyMask(keyMask).SetOutputDim(b.Width).Done()
		x = Add(x, a)
		if !b.PreLN {
			x = layers.LayerNormalization(lctx.In("attention_norm"), x, -1).Done()
		}
		h = x
		if b.PreLN {
			h = layers.LayerNormalization(lctx.In("ffn_norm"), h, -1).Done()
		}
		f := activations.Gelu(layers.DenseWithBias(lctx.In("ffn_in"), h, b.intermediate()))
		f = layers.DenseWithBias(lctx.In("ffn_out"), f, b.Width)
		x = Add(x, f)
		if !b.PreLN {
			x = layers.LayerNormalization(lctx.In("ffn_norm"), x, -1).Done()
		}
	}
	if b.PreLN {
		x = layers.LayerNormalization(ctx.In("final_norm"), x, -1).Done()
	}
	return x
}

// Pretrain returns the model function of MLM + NSP pretraining. Its inputs
// are ids, segments, mask ([B, S] int32) and the masked positions as flat
// indices into [B·S] (row·S + position; [B·P] int32, padding pointing
// anywhere); its outputs the MLM logits [B·P, vocabSize] and the NSP logit
// [B] (positive: B is a random sentence).
func (b BERT) Pretrain(vocabSize int) func(ctx *context.Context, spec any, inputs []*Node) []*Node {
	return func(ctx *context.Context, _ any, inputs []*Node) []*Node {
		// BERT's N(0, 0.02²) initialisation: GoMLX's default makes the
		// position embeddings ~8× the token embeddings (see WithBERTInit).
		ctx = WithBERTInit(ctx)
		ids, segments, mask, flatPos := inputs[0], inputs[1], inputs[2], inputs[3]
		h := b.Encode(ctx, vocabSize, ids, segments, mask)
		batch, seq := h.Shape().Dimensions[0], h.Shape().Dimensions[1]
		hctx := ctx.In(BERTHeadsScope)

		// MLM head on the masked positions only.
		flat := Reshape(h, batch*seq, b.Width)
		m := Gather(flat, ExpandDims(flatPos, -1))
		m = activations.Gelu(layers.DenseWithBias(hctx.In("mlm_transform"), m, b.Width))
		m = layers.LayerNormalization(hctx.In("mlm_norm"), m, -1).Done()
		mlm := layers.DenseWithBias(hctx.In("mlm_output"), m, vocabSize)

		// NSP head on [CLS].
		cls := Reshape(Slice(h, AxisRange(), AxisElem(0)), batch, b.Width)
		pooled := Tanh(layers.DenseWithBias(hctx.In("pooler"), cls, b.Width))
		nsp := Reshape(layers.DenseWithBias(hctx.In("nsp"), pooled, 1), batch)
		return []*Node{mlm, nsp}
	}
}

// PretrainLoss is the MLM cross-entropy (the weighted mean over the masked
// positions) plus the NSP binary cross-entropy (the mean over rows). labels
// are the MLM targets as flat indices into the [B·P·vocabSize] log-softmax
// (i·vocabSize + id; [B·P] int32), the MLM weights [B·P] float32 and the NSP
// labels [B] float32 (1: random next).
func PretrainLoss(labels, predictions []*Node) *Node {
	return Add(MLMLoss(labels, predictions), NSPLoss(labels, predictions))
}

// MLMLoss is PretrainLoss's masked-LM term.
func MLMLoss(labels, predictions []*Node) *Node {
	logp := LogSoftmax(predictions[0], -1)
	n := logp.Shape().Size()
	picked := Gather(Reshape(logp, n, 1), ExpandDims(labels[0], -1))
	picked = Reshape(picked, labels[1].Shape().Dimensions...)
	w := labels[1]
	num := Neg(ReduceAllSum(Mul(picked, w)))
	return Div(num, AddScalar(ReduceAllSum(w), 1e-5))
}

// NSPLoss is PretrainLoss's next-sentence term: the mean binary
// cross-entropy of the NSP logits, softplus(z) − y·z.
func NSPLoss(labels, predictions []*Node) *Node {
	z, y := predictions[1], labels[2]
	return ReduceAllMean(Sub(Softplus(z), Mul(y, z)))
}
