package train

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gcontext "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// The image tasks train the conv encoder: denoise and inpaint decode the
// clean image (inpaint optionally on its holes only), colorize the colour
// image, its block ab values or their bins.
func init() {
	Register(Task{Name: vision.TaskDenoise, Model: ConvModel, Tensors: restoreTensors})
	Register(Task{Name: vision.TaskInpaint, Model: ConvModel, Regions: []string{"hole"}, Tensors: restoreTensors})
	Register(Task{Name: vision.TaskColorize, Model: ConvModel, Targets: []string{"rgb", "ab", "bins"}, Tensors: colorizeTensors})
}

// ConvHead is what an image task trains on the conv encoder's features: the
// rest of the network and its loss. A head value is also the spec of its
// graph (GoMLX compiles one graph per spec value), so it must be comparable
// and equal for batches that share a graph; its variables live in a scope
// of its own, so that each task keeps its head while every task trains the
// shared encoder.
type ConvHead interface {
	// Build returns the predictions from the encoder's output z, [batch,
	// side, side, channels] (model.Conv.FeatureShape).
	Build(ctx *gcontext.Context, c model.Conv, z *graph.Node) []*graph.Node
	// Loss is the loss of the predictions against the labels of the task's
	// Tensors.
	Loss(labels, predictions []*graph.Node) *graph.Node
}

// encodingHead is a ConvHead that encodes its input itself, with the
// shared encoder (c.Encode, whose variables it must use): jigsaw's head
// encodes each tile on its own. imageNetwork calls Encode in place of
// c.Encode and gives Build its result.
type encodingHead interface {
	ConvHead
	Encode(ctx *gcontext.Context, c model.Conv, x *graph.Node) *graph.Node
}

// decoderHead decodes the features to a side×side grid of out channels in
// scope: the image at full size (scope decoder), or colorize's blocks
// (decoder_ab). Its labels are [target [B,side,side,out], weight
// [B,side,side,1], l1Share]: see weightedLoss.
type decoderHead struct {
	scope     string
	out, side int
}

func (h decoderHead) Build(ctx *gcontext.Context, c model.Conv, z *graph.Node) []*graph.Node {
	return []*graph.Node{c.DecodeTo(ctx.In(h.scope), z, h.out, h.side)}
}

func (decoderHead) Loss(labels, predictions []*graph.Node) *graph.Node {
	return weightedLoss(labels, predictions)
}

// cellsHead decodes the features to logits of classes classes per cell of
// a side×side grid in scope (colorize's ab bins, decoder_bins). Its labels
// are [class [B,side,side] int32, weight [B,side,side]]: softmax
// cross-entropy per cell.
type cellsHead struct {
	scope         string
	classes, side int
}

func (h cellsHead) Build(ctx *gcontext.Context, c model.Conv, z *graph.Node) []*graph.Node {
	return []*graph.Node{c.DecodeTo(ctx.In(h.scope), z, h.classes, h.side)}
}

func (cellsHead) Loss(labels, predictions []*graph.Node) *graph.Node {
	return model.CrossEntropyCells(labels[0], labels[1], predictions[0])
}

// classHead is an image classifier on the features: their mean over space
// (global average pooling) and a dense layer to classes logits, in scope
// (one per task). Its labels are classLabels': [class [B,1] int32], with
// softmax cross-entropy.
type classHead struct {
	scope   string
	classes int
}

func (h classHead) Build(ctx *gcontext.Context, _ model.Conv, z *graph.Node) []*graph.Node {
	return []*graph.Node{model.PooledLogits(ctx.In(h.scope), z, h.classes)}
}

func (classHead) Loss(labels, predictions []*graph.Node) *graph.Node {
	return losses.SparseCategoricalCrossEntropyLogits(labels, predictions)
}

// imageNetwork is the conv model's graph: the shared encoder, then the head
// of the batch's task (its ConvHead, the graph's spec), with that head's
// loss. GoMLX's trainer builds a graph by calling the model function and
// then the loss function, which it hands only the labels and the
// predictions: the model function records the head it built each graph
// with, for the loss function to find.
func imageNetwork(c model.Conv) (train.ModelFn, train.LossFn) {
	var mu sync.Mutex
	heads := map[*graph.Graph]ConvHead{}
	modelFn := func(ctx *gcontext.Context, spec any, inputs []*graph.Node) []*graph.Node {
		h := spec.(ConvHead)
		mu.Lock()
		heads[inputs[0].Graph()] = h
		mu.Unlock()
		if e, ok := h.(encodingHead); ok {
			return h.Build(ctx, c, e.Encode(ctx, c, inputs[0]))
		}
		return h.Build(ctx, c, c.Encode(ctx, inputs[0]))
	}
	lossFn := func(labels, predictions []*graph.Node) *graph.Node {
		g := predictions[0].Graph()
		mu.Lock()
		h := heads[g]
		delete(heads, g)
		mu.Unlock()
		return h.Loss(labels, predictions)
	}
	return modelFn, lossFn
}

// weightedLoss: labels are [target, weight, l1Share]; the loss is the
// weighted mean of l1Share·|d| + (1−l1Share)·d² (l1Share is 1 for an L1
// dataset, 0 for an L2 one), so that one graph serves datasets of both.
func weightedLoss(labels, predictions []*graph.Node) *graph.Node {
	diff := graph.Sub(predictions[0], labels[0])
	a := labels[2]
	e := graph.Add(graph.Mul(a, graph.Abs(diff)), graph.Mul(graph.OneMinus(a), graph.Square(diff)))
	w := labels[1]
	ch := float64(predictions[0].Shape().Dimensions[3])
	num := graph.ReduceAllSum(graph.Mul(e, w))
	den := graph.AddScalar(graph.MulScalar(graph.ReduceAllSum(w), ch), 1e-6)
	return graph.Div(num, den)
}

// imageInput checks that b is an image batch of the conv model's size and
// makes its input: [n, size, size, in_channels].
func imageInput(c model.Conv, b data.Batch) (*data.ImageBatch, []*tensors.Tensor, error) {
	ib, ok := b.(*data.ImageBatch)
	if !ok {
		return nil, nil, fmt.Errorf("a %T, not an image batch", b)
	}
	if ib.Width != c.Size || ib.Height != c.Size {
		return nil, nil, fmt.Errorf("%d×%d images, the model takes %d×%d (model.size; or resize the images in the pipeline)", ib.Width, ib.Height, c.Size, c.Size)
	}
	x := ToChannels(ib.Input, ib.Len()*c.Size*c.Size, ib.InputChannels, c.InChannels)
	return ib, []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, ib.Len(), c.Size, c.Size, c.InChannels)}, nil
}

// restoreTensors is a task that restores the image (denoise, inpaint): the
// target in the model's channels, decoded at full size, on the whole image
// or, for region hole, on the holes.
func restoreTensors(f Feed, b data.Batch) (in, lab []*tensors.Tensor, head ConvHead, err error) {
	c := f.Config.Model
	ib, in, err := imageInput(c, b)
	if err != nil {
		return nil, nil, nil, err
	}
	target := ToChannels(ib.Target, ib.Len()*c.Size*c.Size, ib.Channels, c.InChannels)
	lab, err = pixelLabels(c, f.Data, ib, target, c.InChannels)
	return in, lab, decoderHead{scope: "decoder", out: c.InChannels, side: c.Size}, err
}

// colorizeTensors is colorize's: the RGB target at full size, or the block
// ab values or bins at the ab grid's size.
func colorizeTensors(f Feed, b data.Batch) (in, lab []*tensors.Tensor, head ConvHead, err error) {
	c, d := f.Config.Model, f.Data
	ib, in, err := imageInput(c, b)
	if err != nil {
		return nil, nil, nil, err
	}
	if d.Target == "" || d.Target == "rgb" {
		lab, err = pixelLabels(c, d, ib, ib.Target, ib.Channels)
		return in, lab, decoderHead{scope: "decoder", out: ib.Channels, side: c.Size}, err
	}
	n, s, gh, gw := ib.Len(), c.Size, ib.ABHeight, ib.ABWidth
	if gh != gw || gh < 1 || s%gh != 0 || !isPow2(max(s/gh, 1)) {
		return nil, nil, nil, fmt.Errorf("an ab grid of %d×%d blocks on %d×%d images: target %s needs a square grid, the side a power-of-two fraction of the image's", gh, gw, s, s, d.Target)
	}
	w := make([]float32, n*gh*gw)
	for i := range w {
		w[i] = 1
	}
	if d.Target == "bins" {
		lab = []*tensors.Tensor{
			tensors.FromFlatDataAndDimensions(ib.ABBins, n, gh, gw),
			tensors.FromFlatDataAndDimensions(w, n, gh, gw),
		}
		return in, lab, cellsHead{scope: "decoder_bins", classes: vision.NumABBins(), side: gh}, nil
	}
	lab = []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(ib.AB, n, gh, gw, 2),
		tensors.FromFlatDataAndDimensions(w, n, gh, gw, 1),
		l1Share(d),
	}
	return in, lab, decoderHead{scope: "decoder_ab", out: 2, side: gh}, nil
}

// pixelLabels are a full-size decoderHead's labels: target, [n, size,
// size, outC]; the weight, 1 or (region hole) the batch's hole mask; the
// dataset's l1Share.
func pixelLabels(c model.Conv, d Dataset, ib *data.ImageBatch, target []float32, outC int) ([]*tensors.Tensor, error) {
	n, s := ib.Len(), c.Size
	w := make([]float32, n*s*s)
	if d.Region == "hole" {
		if ib.Mask == nil {
			return nil, errors.New("region hole needs the rows' hole masks, and these rows have none")
		}
		copy(w, ib.Mask)
	} else {
		for i := range w {
			w[i] = 1
		}
	}
	return []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(target, n, s, s, outC),
		tensors.FromFlatDataAndDimensions(w, n, s, s, 1),
		l1Share(d),
	}, nil
}

// l1Share is weightedLoss's l1Share of a dataset: 1 for loss l1, 0 for l2.
func l1Share(d Dataset) *tensors.Tensor {
	if d.Loss == "l1" {
		return tensors.FromScalar(float32(1))
	}
	return tensors.FromScalar(float32(0))
}

// classLabels are a classHead's labels for the batch's classes (ImageBatch.Class),
// each in [0, classes): [class [n,1] int32].
func classLabels(ib *data.ImageBatch, classes int) ([]*tensors.Tensor, error) {
	if len(ib.Class) != ib.Len() {
		return nil, fmt.Errorf("%d classes for %d images: the task's batcher sets ImageBatch.Class", len(ib.Class), ib.Len())
	}
	for i, k := range ib.Class {
		if k < 0 || int(k) >= classes {
			return nil, fmt.Errorf("row %q has class %d, the head has %d (0 to %d)", ib.Keys[i], k, classes, classes-1)
		}
	}
	y := append([]int32(nil), ib.Class...)
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(y, ib.Len(), 1)}, nil
}

func isPow2(v int) bool { return v > 0 && v&(v-1) == 0 }

// ToChannels converts n pixels of from channels to to channels: 3 → 1 is the
// mean of R, G and B, 1 → 3 repeats the gray value; equal counts are copied.
func ToChannels(px []float32, n, from, to int) []float32 {
	if from == to {
		return px
	}
	out := make([]float32, n*to)
	for i := range n {
		var v float32
		if from == 1 {
			v = px[i]
		} else {
			v = (px[i*from] + px[i*from+1] + px[i*from+2]) / 3
		}
		for c := range to {
			out[i*to+c] = v
		}
	}
	return out
}
