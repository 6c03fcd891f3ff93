package backend

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers/regularizers"
)

// Conv2D is a 2D convolution layer with "same" padding, computed by im2col: the kernel
// windows of x are gathered by strided slices into one [B*Ho*Wo, kernel*kernel*C]
// matrix, multiplied by the kernel. On SimpleGo it trains about 3× faster than
// layers.Convolution, whose gradient SimpleGo computes with a generic convolution.
//
// x is [batch, height, width, channels] (channels last); the result is
// [batch, ceil(height/stride), ceil(width/stride), channels]. The layer has the same
// variables as
//
//	layers.Convolution(ctx, x).Channels(channels).KernelSize(kernel).PadSame().Strides(stride).Done()
//
// ("conv/weights" [kernel, kernel, inChannels, channels] and "conv/biases" [channels])
// and computes the same function, so either can load the other's checkpoints: train
// with Conv2D on SimpleGo, run with layers.Convolution on XLA, or the reverse. The
// context's regularizers (regularizers.FromContext) apply to the weights.
//
// Like GoMLX's layers, it panics on bad shapes while the graph is built; GoMLX's Exec
// returns such panics as errors.
func Conv2D(ctx *context.Context, x *graph.Node, channels, kernel, stride int) *graph.Node {
	if x.Rank() != 4 {
		panicf("backend.Conv2D: x must be [batch, height, width, channels], got %s", x.Shape())
	}
	if channels <= 0 || kernel <= 0 || stride <= 0 {
		panicf("backend.Conv2D: channels (%d), kernel (%d) and stride (%d) must be positive", channels, kernel, stride)
	}
	g := x.Graph()
	regularizer := regularizers.FromContext(ctx)
	ctx = ctx.In("conv")
	weights := ctx.VariableWithShape("weights", shapes.Make(x.DType(), kernel, kernel, x.Shape().Dimensions[3], channels))
	if regularizer != nil {
		regularizer(ctx, g, weights)
	}
	biases := ctx.VariableWithShape("biases", shapes.Make(x.DType(), channels))
	y := Convolve2D(x, weights.ValueGraph(g), stride)
	return graph.Add(y, graph.Reshape(biases.ValueGraph(g), 1, 1, 1, channels))
}

// Convolve2D convolves x, [batch, height, width, inChannels], with kernel,
// [kernelHeight, kernelWidth, inChannels, outChannels], with "same" padding as GoMLX
// pads it ((k-1)/2 before, k/2 after) and the given stride, by im2col. It returns
// [batch, ceil(height/stride), ceil(width/stride), outChannels], equal to
//
//	graph.Convolve(x, kernel).PadSame().Strides(stride).Done()
//
// Its gradient needs only Slice, Concatenate and DotGeneral gradients (and, for stride
// > 1, interior padding, which [NewGo] emulates), so it trains on every backend.
func Convolve2D(x, kernel *graph.Node, stride int) *graph.Node {
	if x.Rank() != 4 || kernel.Rank() != 4 || kernel.Shape().Dimensions[2] != x.Shape().Dimensions[3] {
		panicf("backend.Convolve2D: want x [batch, height, width, channels] and kernel [kh, kw, channels, out], got %s and %s",
			x.Shape(), kernel.Shape())
	}
	if stride <= 0 {
		panicf("backend.Convolve2D: stride must be positive, got %d", stride)
	}
	b, h, w, c := x.Shape().Dimensions[0], x.Shape().Dimensions[1], x.Shape().Dimensions[2], x.Shape().Dimensions[3]
	kh, kw, out := kernel.Shape().Dimensions[0], kernel.Shape().Dimensions[1], kernel.Shape().Dimensions[3]
	ho, wo := (h+stride-1)/stride, (w+stride-1)/stride

	// Zero padding by Concatenate: graph.Pad has no gradient in GoMLX v0.26.0.
	xp := zeroPad(zeroPad(x, 1, (kh-1)/2, kh/2), 2, (kw-1)/2, kw/2)
	patches := make([]*graph.Node, 0, kh*kw)
	for dy := range kh {
		for dx := range kw {
			patches = append(patches, graph.Slice(xp, graph.AxisRange(),
				graph.AxisRange(dy, dy+(ho-1)*stride+1).Stride(stride),
				graph.AxisRange(dx, dx+(wo-1)*stride+1).Stride(stride),
				graph.AxisRange()))
		}
	}
	// Feature order (dy, dx, c) is the row-major flattening of the kernel's first 3 axes.
	cols := graph.Reshape(graph.Concatenate(patches, 3), b*ho*wo, kh*kw*c)
	y := graph.DotGeneral(cols, []int{1}, nil, graph.Reshape(kernel, kh*kw*c, out), []int{0}, nil)
	return graph.Reshape(y, b, ho, wo, out)
}

// zeroPad adds before and after zeros to x's axis, by Concatenate, whose gradient is a
// Slice.
func zeroPad(x *graph.Node, axis, before, after int) *graph.Node {
	if before == 0 && after == 0 {
		return x
	}
	zeros := func(n int) *graph.Node {
		dims := slices.Clone(x.Shape().Dimensions)
		dims[axis] = n
		return graph.Zeros(x.Graph(), shapes.Make(x.DType(), dims...))
	}
	parts := make([]*graph.Node, 0, 3)
	if before > 0 {
		parts = append(parts, zeros(before))
	}
	parts = append(parts, x)
	if after > 0 {
		parts = append(parts, zeros(after))
	}
	return graph.Concatenate(parts, axis)
}

// panicf reports a graph-building error the way GoMLX's own layers do: a panic with an
// error, which GoMLX's Exec and Trainer return as an error.
func panicf(format string, args ...any) {
	panic(fmt.Errorf(format, args...))
}
