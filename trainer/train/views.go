package train

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gcontext "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"

	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// viewsProj is the size of the projection NT-Xent compares: SimCLR's 128.
const viewsProj = 128

// The views task's trainer side (SimCLR, Chen et al. 2020): the loader
// decodes a batch's n pairs (view_a as the input, view_b as the target
// image); the conv encoder encodes all 2n views in one pass, a projection
// head (global average pooling, a hidden layer of the encoder's width with
// ReLU, a linear layer to viewsProj dimensions, L2 normalisation) maps
// each to a unit vector, and NT-Xent makes each view pick its partner out
// of the other 2n − 1: the other pairs of the batch are the negatives. The
// temperature τ is the entry's params.temperature (default 0.5, SimCLR's
// for batches of 256–512); it reaches the graph as a label, so one graph
// serves every temperature. The head lives in head_views; fine-tuning
// keeps the encoder only, as SimCLR discards the projection.
func init() {
	data.Register(vision.TaskViews, data.Rows[vision.ViewsRow]{
		Key:   func(r *vision.ViewsRow) string { return r.Key },
		Split: func(r *vision.ViewsRow) string { return r.Split },
		Batcher: data.ImageBatcher(vision.TaskViews, func(r *vision.ViewsRow) data.ImageRow {
			return data.ImageRow{Key: r.Key, Variant: r.Variant, Width: r.Width, Height: r.Height,
				Encoding: r.Encoding, Input: r.ViewA, InputChannels: 3, Target: r.ViewB, TargetChannels: 3}
		}, nil),
	})
	Register(Task{Name: vision.TaskViews, Model: ConvModel,
		Params:  []Param{{Name: "temperature", Default: 0.5, Min: 0.01, Max: 10}},
		Tensors: viewsTensors,
	})
}

// viewsTensors is the views task's batch: the input is [2n, size, size,
// in_channels], the n views a then the n views b, so that row i and row
// i ± n are a pair; the label is τ as a scalar.
func viewsTensors(f Feed, b data.Batch) (in, lab []*tensors.Tensor, head ConvHead, err error) {
	c := f.Config.Model
	ib, ok := b.(*data.ImageBatch)
	switch {
	case !ok:
		return nil, nil, nil, fmt.Errorf("a %T, not an image batch", b)
	case ib.Width != c.Size || ib.Height != c.Size:
		return nil, nil, nil, fmt.Errorf("%d×%d views, the model takes %d×%d (model.size; or image.size in the pipeline)", ib.Width, ib.Height, c.Size, c.Size)
	case ib.Channels == 0 || len(ib.Target) == 0:
		return nil, nil, nil, fmt.Errorf("a batch without its second views (view_b)")
	}
	n, px := ib.Len(), ib.Len()*c.Size*c.Size
	x := make([]float32, 0, 2*px*c.InChannels)
	x = append(x, ToChannels(ib.Input, px, ib.InputChannels, c.InChannels)...)
	x = append(x, ToChannels(ib.Target, px, ib.Channels, c.InChannels)...)
	in = []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, 2*n, c.Size, c.Size, c.InChannels)}
	lab = []*tensors.Tensor{tensors.FromScalar(float32(f.Param("temperature")))}
	_, width := c.FeatureShape()
	return in, lab, viewsHead{scope: "head_" + vision.TaskViews, hidden: width, proj: viewsProj}, nil
}

// viewsHead is SimCLR's projection head on the encoder's features, in
// scope: their mean over space, a dense layer of hidden units with ReLU, a
// dense layer to proj, L2-normalised. Its labels are [τ] (a scalar) and
// its loss NT-Xent.
type viewsHead struct {
	scope        string
	hidden, proj int
}

func (h viewsHead) Build(ctx *gcontext.Context, _ model.Conv, z *graph.Node) []*graph.Node {
	ctx = ctx.In(h.scope)
	x := graph.ReduceMean(z, 1, 2)
	x = activations.Relu(layers.DenseWithBias(ctx.In("hidden"), x, h.hidden))
	x = layers.DenseWithBias(ctx.In("proj"), x, h.proj)
	return []*graph.Node{graph.L2Normalize(x, -1)}
}

// Loss is NT-Xent (the normalised temperature-scaled cross-entropy of
// SimCLR): the similarities e·eᵀ/τ of the 2n unit vectors, each view's
// similarity with itself masked out, and the mean over the 2n views of
// the softmax cross-entropy whose class is the view's partner, i ± n.
func (viewsHead) Loss(labels, predictions []*graph.Node) *graph.Node {
	e := predictions[0]
	g, m := e.Graph(), e.Shape().Dimensions[0]
	sim := graph.Div(graph.MatMul(e, graph.Transpose(e, 0, 1)), labels[0])
	self := graph.ConvertDType(graph.Diagonal(g, m), sim.DType())
	sim = graph.Sub(sim, graph.MulScalar(self, 1e9))
	partner := make([]int32, m)
	for i := range partner {
		partner[i] = int32((i + m/2) % m)
	}
	target := graph.OneHot(graph.Const(g, partner), m, sim.DType())
	return graph.Neg(graph.ReduceAllMean(graph.ReduceSum(graph.Mul(target, graph.LogSoftmax(sim, -1)), -1)))
}
