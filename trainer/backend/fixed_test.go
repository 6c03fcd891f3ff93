package backend

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// refPad is XLA's Pad on a row-major tensor, written from its definition: output index o
// on an axis is position o-Start of the interior-padded axis, which holds an input
// element where that position is a multiple of Interior+1.
func refPad(data []float64, dims []int, fill float64, cfg []backends.PadAxis) ([]float64, []int) {
	cfg = append(slices.Clone(cfg), make([]backends.PadAxis, len(dims)-len(cfg))...)
	outDims := make([]int, len(dims))
	for a, n := range dims {
		inner := 0
		if n > 0 {
			inner = n + (n-1)*cfg[a].Interior
		}
		outDims[a] = cfg[a].Start + inner + cfg[a].End
	}
	return mapIndex(dims, outDims, func(a, o int) int {
		p, step := o-cfg[a].Start, cfg[a].Interior+1
		if p < 0 || p%step != 0 || p/step >= dims[a] {
			return -1
		}
		return p / step
	}, data, fill), outDims
}

// refReverse reverses a row-major tensor on the given axes.
func refReverse(data []float64, dims []int, axes []int) []float64 {
	return mapIndex(dims, dims, func(a, o int) int {
		if slices.Contains(axes, a) {
			return dims[a] - 1 - o
		}
		return o
	}, data, 0)
}

// mapIndex builds a row-major tensor of outDims whose element at index o is the input's
// element at src(axis, o[axis]) for every axis, or fill where src returns -1 for some axis.
func mapIndex(dims, outDims []int, src func(axis, o int) int, data []float64, fill float64) []float64 {
	size := 1
	for _, d := range outDims {
		size *= d
	}
	out := make([]float64, size)
	idx := make([]int, len(outDims))
	for i := range out {
		rem, in, ok := i, 0, true
		for a := len(outDims) - 1; a >= 0; a-- {
			idx[a], rem = rem%outDims[a], rem/outDims[a]
		}
		for a := range outDims {
			s := src(a, idx[a])
			if s < 0 {
				ok = false
				break
			}
			in = in*dims[a] + s
		}
		if ok {
			out[i] = data[in]
		} else {
			out[i] = fill
		}
	}
	return out
}

func counting(dims ...int) ([]float64, *tensors.Tensor) {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float64, n)
	for i := range data {
		data[i] = float64(i + 1)
	}
	return data, tensors.FromFlatDataAndDimensions(data, dims...)
}

func TestPadEmulation(t *testing.T) {
	dims := []int{2, 3, 4}
	data, x := counting(dims...)
	const fill = -7
	for _, cfg := range [][]backends.PadAxis{
		{},
		{{}, {Start: 1, End: 2}},
		{{Start: 2}, {}, {End: 1}},
		{{}, {}, {Start: -1, End: 2}},
		{{}, {Interior: 1}},
		{{}, {Start: -1, End: -2, Interior: 2}},
		{{Start: 1, End: -1, Interior: 1}, {Start: 2, Interior: 3}, {Start: -3, End: 1}},
		{{Interior: 2}, {Start: -2}},
		{{Start: 1, End: 1}, {Start: 1, End: 1}, {Start: 1, End: 1}},
	} {
		t.Run(fmt.Sprint(cfg), func(t *testing.T) {
			want, wantDims := refPad(data, dims, fill, cfg)
			got := graph.MustNewExec(testBackend(), func(x *graph.Node) *graph.Node {
				return graph.Pad(x, graph.Const(x.Graph(), float64(fill)), cfg...)
			}).MustExec(x)[0]
			if !slices.Equal(got.Shape().Dimensions, wantDims) {
				t.Fatalf("shape %v, want %v", got.Shape().Dimensions, wantDims)
			}
			if g := flat(t, got); !slices.Equal(g, want) {
				t.Errorf("got %v\nwant %v", g, want)
			}
		})
	}
}

func TestPadEmulationSizeOneInterior(t *testing.T) {
	data, x := counting(1, 3)
	got := graph.MustNewExec(testBackend(), func(x *graph.Node) *graph.Node {
		return graph.Pad(x, graph.Const(x.Graph(), 0.0), backends.PadAxis{Interior: 4}, backends.PadAxis{Interior: 1})
	}).MustExec(x)[0]
	want, _ := refPad(data, []int{1, 3}, 0, []backends.PadAxis{{Interior: 4}, {Interior: 1}})
	if g := flat(t, got); !slices.Equal(g, want) {
		t.Errorf("got %v, want %v", g, want)
	}
}

func TestPadEmulationEmptyIsError(t *testing.T) {
	_, x := counting(2, 3)
	exec := graph.MustNewExec(testBackend(), func(x *graph.Node) *graph.Node {
		return graph.Pad(x, graph.Const(x.Graph(), 0.0), backends.PadAxis{}, backends.PadAxis{Start: -2, End: -1})
	})
	if _, err := exec.Exec(x); err == nil {
		t.Error("cropping an axis to nothing returned no error")
	}
}

func TestReverseEmulation(t *testing.T) {
	dims := []int{2, 3, 4}
	data, x := counting(dims...)
	for _, axes := range [][]int{{}, {0}, {1}, {2}, {0, 2}, {2, 1, 0}} {
		t.Run(fmt.Sprint(axes), func(t *testing.T) {
			got := graph.MustNewExec(testBackend(), func(x *graph.Node) *graph.Node {
				return graph.Reverse(x, axes...)
			}).MustExec(x)[0]
			if g, want := flat(t, got), refReverse(data, dims, axes); !slices.Equal(g, want) {
				t.Errorf("got %v\nwant %v", g, want)
			}
		})
	}
}

func TestFixedCapabilities(t *testing.T) {
	ops := testBackend().Capabilities().Operations
	for _, op := range []backends.OpType{backends.OpTypeReverse, backends.OpTypePad, backends.OpTypeDotGeneral} {
		if !ops[op] {
			t.Errorf("capabilities lack %s", op)
		}
	}
}
