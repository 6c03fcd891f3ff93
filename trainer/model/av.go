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

// Scopes of the AV network's audio tower and correspondence head; its frame
// tower is Conv's encoder, under EncoderScope, so that fine-tuning on images
// copies it out of an AV checkpoint as it does out of an image one.
const (
	AVAudioScope = "audio_encoder"
	AVHeadScope  = "av_head"
)

// AV is the two-tower network of audio-visual correspondence (Arandjelović
// & Zisserman 2017, "Look, Listen and Learn"): a frame tower (Conv's
// encoder, average-pooled over space) and a log-mel tower (3×3 convolutions
// over [frames, bins], average-pooled over time), each giving an embedding;
// the two embeddings are concatenated and a small head gives one logit: positive
// when the audio is the frame's own.
type AV struct {
	// Frame is the frame tower: Conv's encoder on [Size, Size, InChannels]
	// frames (3 channels are the shards' RGB; 1 turns them to gray). Its
	// last width is the frame embedding's size.
	Frame Conv `yaml:"frame" json:"frame"`
	// Audio are the log-mel tower's convolution widths, one 3×3
	// convolution with stride 2 each (ReLU after each), over the log-mel as
	// a one-channel [frames, bins] image; see EncodeAudio for the
	// embedding.
	Audio []int `yaml:"audio_channels" json:"audio_channels"`
	// Hidden is the width of the head's hidden layer (ReLU) on the
	// concatenated embeddings. It must be >= 1: a linear head can only add
	// a frame score to an audio score, and correspondence is a comparison.
	Hidden int `yaml:"hidden" json:"hidden"`
}

// DefaultAV is a small two-tower network for 64×64 RGB frames: frame
// embedding 32 (64×64 → 16×16×32, pooled), audio embedding 8 bands × 32
// for 64 mel bins, head 64.
func DefaultAV() AV {
	return AV{Frame: Conv{Channels: []int{16, 32, 32}, InChannels: 3, Size: 64}, Audio: []int{16, 32, 32}, Hidden: 64}
}

// Validate reports every bad field, by its path in the av section.
func (a AV) Validate() error {
	var errs []error
	if err := a.Frame.Validate(); err != nil {
		for _, e := range unjoin(err) {
			errs = append(errs, fmt.Errorf("frame.%w", e))
		}
	}
	if len(a.Audio) == 0 {
		errs = append(errs, errors.New("audio_channels: at least one layer"))
	}
	for i, ch := range a.Audio {
		if ch < 1 {
			errs = append(errs, fmt.Errorf("audio_channels[%d]: must be >= 1 (got %d)", i, ch))
		}
	}
	if a.Hidden < 1 {
		errs = append(errs, fmt.Errorf("hidden: must be >= 1 (got %d)", a.Hidden))
	}
	return errors.Join(errs...)
}

// unjoin lists the errors an errors.Join holds (err itself otherwise).
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// EncodeFrame is the frame tower: Conv's encoder on frames, [batch, Size,
// Size, InChannels] in [0,1], average-pooled to [batch, last Frame width].
func (a AV) EncodeFrame(ctx *context.Context, frames *graph.Node) *graph.Node {
	return graph.ReduceMean(a.Frame.Encode(ctx, frames), 1, 2)
}

// EncodeAudio is the log-mel tower, in scope AVAudioScope: logMel, [batch,
// frames, bins] as the pipeline stores it (log(mel + 0.01)), average-pooled
// over time and flattened over frequency to [batch, AudioEmbedding(bins)]:
// pooling over frequency too would keep only what the 3×3 filters see
// locally and lose which band sounds. The log-mel is scaled by 1/4 first:
// its values span about −4.6 (silence) to +4, and convolutions initialised
// for unit inputs train faster on that scale.
func (a AV) EncodeAudio(ctx *context.Context, logMel *graph.Node) *graph.Node {
	ctx = ctx.In(AVAudioScope)
	d := logMel.Shape().Dimensions
	x := graph.MulScalar(graph.Reshape(logMel, d[0], d[1], d[2], 1), 0.25)
	for i, ch := range a.Audio {
		x = activations.Relu(backend.Conv2D(ctx.In(fmt.Sprintf("c%d", i)), x, ch, 3, 2))
	}
	return graph.Reshape(graph.ReduceMean(x, 1), d[0], -1)
}

// AudioEmbedding is the size of EncodeAudio's embedding of a log-mel of
// bins bins: the bands left after the stride-2 convolutions times the last
// width.
func (a AV) AudioEmbedding(bins int) int {
	for range a.Audio {
		bins = (bins + 1) / 2
	}
	return bins * a.Audio[len(a.Audio)-1]
}

// Correspond returns the pretraining model: inputs are frames [batch, Size,
// Size, InChannels] and log-mel windows [batch, frames, bins]; the output
// is one logit per row, [batch] (positive: the audio is the frame's own).
// The head's variables are under AVHeadScope.
func (a AV) Correspond() func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
	return func(ctx *context.Context, _ any, inputs []*graph.Node) []*graph.Node {
		f := a.EncodeFrame(ctx, inputs[0])
		s := a.EncodeAudio(ctx, inputs[1])
		h := ctx.In(AVHeadScope)
		x := graph.Concatenate([]*graph.Node{f, s}, -1)
		x = activations.Relu(layers.DenseWithBias(h.In("hidden"), x, a.Hidden))
		z := layers.DenseWithBias(h.In("logit"), x, 1)
		return []*graph.Node{graph.Reshape(z, z.Shape().Dimensions[0])}
	}
}

// CorrespondLoss is the mean binary cross-entropy of Correspond's logits,
// softplus(z) − y·z; labels[0] is [batch] float32, 1 for the frame's own
// audio and 0 for a negative.
func CorrespondLoss(labels, predictions []*graph.Node) *graph.Node {
	z, y := predictions[0], labels[0]
	return graph.ReduceAllMean(graph.Sub(graph.Softplus(z), graph.Mul(y, z)))
}
