package train

import (
	"errors"
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gcontext "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// The jigsaw task's trainer side (Noroozi & Favaro 2016): the loader
// decodes each row's input, the grid·tile square of shuffled tiles, and
// takes its permutation index as the class, out of as many classes as the
// manifest's permutation set has (info.permutations). The head cuts the
// input back into its grid² tiles and encodes each on its own with the
// shared conv encoder — the paper's shared-weights (siamese) tile network
// — after normalising each tile to zero mean and unit deviation, as the
// paper does against shortcuts through a tile's brightness and contrast;
// the tiles' pooled features, concatenated in tile order, feed a hidden
// layer and the classifier (softmax cross-entropy, scope head_jigsaw). The
// paper's colour jitter (against chromatic aberration) is not done.
//
// The encoder is fully convolutional, so the tiles need not be model.size:
// model.size is the whole-image tasks' size, which a run may train beside
// jigsaw on the same encoder.
func init() {
	data.Register(vision.TaskJigsaw, data.Rows[vision.JigsawRow]{
		Key:     func(r *vision.JigsawRow) string { return r.Key },
		Split:   func(r *vision.JigsawRow) string { return r.Split },
		Batcher: jigsawBatcher,
	})
	Register(Task{Name: vision.TaskJigsaw, Model: ConvModel, Tensors: jigsawTensors})
}

// jigsawHidden is the width of the head's hidden layer on the
// concatenated tile features.
const jigsawHidden = 256

// jigsawBatch is an image batch of jigsaw inputs (Class: the permutation
// indices) with the puzzle's shape and its number of classes.
type jigsawBatch struct {
	*data.ImageBatch
	grid, tile, classes int
}

// jigsawBatcher decodes the inputs, every row's grid and tile the same;
// it fails before any row is read when the manifest has no permutation set.
func jigsawBatcher(info data.Info, opts data.Options) (data.Batcher[vision.JigsawRow], error) {
	var perms [][]int
	if err := info.Manifest.InfoValue("permutations", &perms); err != nil {
		return nil, fmt.Errorf("data: %s: %w: jigsaw's classes are the permutation set the pipeline records there", info.Dir, err)
	}
	if len(perms) < 2 {
		return nil, fmt.Errorf("data: %s: info.permutations has %d permutations: jigsaw needs at least 2 classes", info.Dir, len(perms))
	}
	images, err := data.ImageBatcher(vision.TaskJigsaw, func(r *vision.JigsawRow) data.ImageRow {
		side := r.Grid * r.Tile
		return data.ImageRow{Key: r.Key, Variant: r.Variant, Width: side, Height: side,
			Encoding: r.Encoding, Input: r.Input, InputChannels: 3}
	}, func(b *data.ImageBatch, rows []vision.JigsawRow) error {
		b.Class = make([]int32, len(rows))
		for i := range rows {
			b.Class[i] = rows[i].PermutationIndex
		}
		return nil
	})(info, opts)
	if err != nil {
		return nil, err
	}
	return func(rows []vision.JigsawRow, epoch int) (data.Batch, error) {
		b, err := images(rows, epoch)
		if err != nil {
			return nil, err
		}
		jb := &jigsawBatch{ImageBatch: b.(*data.ImageBatch), classes: len(perms)}
		for i, r := range rows {
			if i == 0 {
				jb.grid, jb.tile = int(r.Grid), int(r.Tile)
			}
			if int(r.Grid) != jb.grid || int(r.Tile) != jb.tile || r.Grid < 1 || r.Tile < 1 {
				return nil, &data.RowError{Row: i, Err: fmt.Errorf("a %d×%d grid of %d-pixel tiles in a batch of %d×%d grids of %d-pixel tiles: the loader needs one puzzle shape (write the shards with image.resize center_crop or border)",
					r.Grid, r.Grid, r.Tile, jb.grid, jb.grid, jb.tile)}
			}
		}
		return jb, nil
	}, nil
}

// jigsawTensors makes the input, [n, grid·tile, grid·tile, in_channels],
// and the classes of a jigsaw batch.
func jigsawTensors(f Feed, b data.Batch) (in, lab []*tensors.Tensor, head ConvHead, err error) {
	jb, ok := b.(*jigsawBatch)
	if !ok {
		return nil, nil, nil, fmt.Errorf("a %T, not a jigsaw batch", b)
	}
	if jb.Len() == 0 {
		return nil, nil, nil, errors.New("an empty jigsaw batch")
	}
	c := f.Config.Model
	n, s := jb.Len(), jb.grid*jb.tile
	x := ToChannels(jb.Input, n*s*s, jb.InputChannels, c.InChannels)
	in = []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, n, s, s, c.InChannels)}
	lab, err = classLabels(jb.ImageBatch, jb.classes)
	return in, lab, jigsawHead{scope: "head_" + vision.TaskJigsaw, grid: jb.grid, tile: jb.tile, classes: jb.classes}, err
}

// jigsawHead classifies the permutation of a grid×grid puzzle of
// tile-pixel tiles into classes classes, in scope. It is an encodingHead:
// the shared encoder sees each tile on its own.
type jigsawHead struct {
	scope               string
	grid, tile, classes int
}

// Encode cuts x, [n, grid·tile, grid·tile, C], into its tiles, [n·grid²,
// tile, tile, C] in row-major tile order, normalises each (zero mean, unit
// deviation over its pixels and channels), encodes them with the shared
// encoder and averages each tile's features over space: [n·grid², F].
func (h jigsawHead) Encode(ctx *gcontext.Context, c model.Conv, x *graph.Node) *graph.Node {
	return graph.ReduceMean(c.Encode(ctx, normalizeTiles(cutTiles(x, h.grid, h.tile))), 1, 2)
}

// cutTiles cuts x, [n, grid·tile, grid·tile, C], into its tiles, [n·grid²,
// tile, tile, C]: puzzle p's tile i (row-major) is p·grid² + i.
func cutTiles(x *graph.Node, grid, tile int) *graph.Node {
	d := x.Shape().Dimensions
	n, ch := d[0], d[3]
	x = graph.Reshape(x, n, grid, tile, grid, tile, ch)
	x = graph.TransposeAllAxes(x, 0, 1, 3, 2, 4, 5) // [n, row, column, y, x, C]
	return graph.Reshape(x, n*grid*grid, tile, tile, ch)
}

// normalizeTiles brings each tile of x, [tiles, tile, tile, C], to zero
// mean and unit deviation over its pixels and channels. The epsilon keeps
// a flat tile (sky) from amplifying its noise without bound: 1e-3 is a
// deviation of 0.03, 8 levels of 255.
func normalizeTiles(x *graph.Node) *graph.Node {
	x = graph.Sub(x, graph.ReduceAndKeep(x, graph.ReduceMean, 1, 2, 3))
	return graph.Mul(x, graph.Rsqrt(graph.AddScalar(graph.ReduceAndKeep(graph.Square(x), graph.ReduceMean, 1, 2, 3), 1e-3)))
}

// Build concatenates each puzzle's grid² tile features, [n·grid², F], in
// tile order, then a hidden layer (ReLU) and the logits, [n, classes].
func (h jigsawHead) Build(ctx *gcontext.Context, _ model.Conv, z *graph.Node) []*graph.Node {
	ctx = ctx.In(h.scope)
	n := z.Shape().Dimensions[0] / (h.grid * h.grid)
	z = graph.Reshape(z, n, -1)
	hidden := activations.Relu(layers.DenseWithBias(ctx.In("hidden"), z, jigsawHidden))
	return []*graph.Node{layers.DenseWithBias(ctx.In("logits"), hidden, h.classes)}
}

func (jigsawHead) Loss(labels, predictions []*graph.Node) *graph.Node {
	return losses.SparseCategoricalCrossEntropyLogits(labels, predictions)
}
