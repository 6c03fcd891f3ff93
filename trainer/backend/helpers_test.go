package backend

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// testBackend is the pure-Go backend with the fixes, shared by the tests.
var testBackend = sync.OnceValue(func() backends.Backend {
	b, err := NewGo("")
	if err != nil {
		panic(err)
	}
	return b
})

// randTensor returns a tensor of the given dimensions with values uniform in [-1, 1),
// drawn from rng.
func randTensor[T float32 | float64](rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]T, n)
	for i := range data {
		data[i] = T(rng.Float64()*2 - 1)
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// flat returns x's values as float64s.
func flat(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	switch x.DType() {
	case dtypes.Float32:
		var out []float64
		for _, v := range tensors.MustCopyFlatData[float32](x) {
			out = append(out, float64(v))
		}
		return out
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](x)
	}
	t.Fatalf("unexpected dtype %s", x.DType())
	return nil
}

// relDiff returns max|got-want| / max(1, max|want|).
func relDiff(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, scale float64 = 0, 1
	for i := range got {
		diff = max(diff, math.Abs(got[i]-want[i]))
		scale = max(scale, math.Abs(want[i]))
	}
	return diff / scale
}

// upstream returns a non-uniform node shaped like y, to use as the gradient flowing into
// y: a uniform one would hide transposition mistakes.
func upstream(y *graph.Node) *graph.Node {
	g := y.Graph()
	if y.Rank() == 0 {
		return graph.Const(g, float32(1.7))
	}
	i := graph.IotaFull(g, shapes.Make(y.DType(), y.Shape().Dimensions...))
	return graph.AddScalar(graph.Sin(graph.MulScalar(i, 0.37)), 1.3)
}
