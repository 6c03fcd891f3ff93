package model

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/pretext-dev/pretext/trainer/backend"
)

func TestValidate(t *testing.T) {
	if err := DefaultConv().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Conv{Channels: []int{8, 0, 4}, InChannels: 2, Size: 30}.Validate()
	for _, want := range []string{"channels[1]", "in_channels", "multiple of 4"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
}

// TestShapes: the autoencoder gives back the input's size, the classifier
// logits, and the encoder's variables live under /encoder.
func TestShapes(t *testing.T) {
	b, _, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	c := Conv{Channels: []int{4, 8, 8}, InChannels: 1, Size: 16}
	ctx := context.New()
	x := tensors.FromFlatDataAndDimensions(make([]float32, 2*16*16), 2, 16, 16, 1)
	ae := context.MustNewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return c.Autoencoder(3)(ctx, nil, []*graph.Node{x})[0]
	})
	if got := ae.MustExec1(x).Shape().Dimensions; len(got) != 4 || got[1] != 16 || got[3] != 3 {
		t.Errorf("autoencoder output %v, want [2 16 16 3]", got)
	}
	cls := context.MustNewExec(b, ctx.Reuse().Checked(false), func(ctx *context.Context, x *graph.Node) *graph.Node {
		return c.Classifier(10, 1)(ctx, nil, []*graph.Node{x})[0]
	})
	if got := cls.MustExec1(x).Shape().Dimensions; len(got) != 2 || got[1] != 10 {
		t.Errorf("classifier output %v, want [2 10]", got)
	}
	n := 0
	for range ctx.InAbsPath("/" + EncoderScope).IterVariablesInScope() {
		n++
	}
	if n != 6 { // weights and biases of 3 convolutions
		t.Errorf("%d variables under /%s, want 6", n, EncoderScope)
	}
	if side, ch := c.FeatureShape(); side != 4 || ch != 8 {
		t.Errorf("FeatureShape = %d, %d, want 4, 8", side, ch)
	}
}
