package backend

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// dotCase is a DotGeneral with its axes, as graph.DotGeneral takes them.
type dotCase struct {
	name       string
	lhs, rhs   []int // dimensions
	lc, lb     []int // lhs contracting and batch axes
	rc, rb     []int // rhs contracting and batch axes
	wantOutput []int // dimensions of the result
}

var dotCases = []dotCase{
	{"ij,jk->ik", []int{4, 5}, []int{5, 3}, []int{1}, nil, []int{0}, nil, []int{4, 3}},
	{"ji,jk->ik", []int{5, 4}, []int{5, 3}, []int{0}, nil, []int{0}, nil, []int{4, 3}},
	{"bhqd,bhkd->bhqk", []int{2, 3, 4, 5}, []int{2, 3, 6, 5}, []int{3}, []int{0, 1}, []int{3}, []int{0, 1}, []int{2, 3, 4, 6}},
	{"bhqk,bhkd->bhqd", []int{2, 3, 4, 6}, []int{2, 3, 6, 5}, []int{3}, []int{0, 1}, []int{2}, []int{0, 1}, []int{2, 3, 4, 5}},
	{"ibj,jkb->bik", []int{4, 2, 5}, []int{5, 3, 2}, []int{2}, []int{1}, []int{0}, []int{2}, []int{2, 4, 3}},
	{"abc,cba->", []int{2, 3, 4}, []int{4, 3, 2}, []int{0, 1, 2}, nil, []int{2, 1, 0}, nil, []int{}},
	{"aij,jki->ak", []int{3, 4, 5}, []int{5, 6, 4}, []int{2, 1}, nil, []int{0, 2}, nil, []int{3, 6}},
	{"ij,k->ijk", []int{3, 2}, []int{4}, nil, nil, nil, nil, []int{3, 2, 4}},
	{"bsd,dhk->bshk", []int{2, 7, 8}, []int{8, 2, 3}, []int{2}, nil, []int{0}, nil, []int{2, 7, 2, 3}},
	{"xyj,yjx->xy", []int{2, 3, 4}, []int{3, 4, 2}, []int{2}, []int{0, 1}, []int{1}, []int{2, 0}, []int{2, 3}},
}

// TestDotGeneralVJPMatchesStock compares, on the same DotGeneral nodes and output
// gradients, this package's gradient with GoMLX's stock one.
func TestDotGeneralVJPMatchesStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range dotCases {
		t.Run(c.name, func(t *testing.T) {
			var readErr error
			var read dotAxes
			exec := graph.MustNewExec(testBackend(), func(lhs, rhs *graph.Node) []*graph.Node {
				y := graph.DotGeneral(lhs, c.lc, c.lb, rhs, c.rc, c.rb)
				read, readErr = readDotAxes(y)
				v := upstream(y)
				fast := dotGeneralVJP(y, []*graph.Node{v}, y.Shape())
				stock := stockDotGeneralVJP(y, []*graph.Node{v}, y.Shape())
				return []*graph.Node{y, fast[0], fast[1], stock[0], stock[1]}
			})
			out := exec.MustExec(randTensor[float32](rng, c.lhs...), randTensor[float32](rng, c.rhs...))
			if readErr != nil {
				t.Fatalf("readDotAxes: %v", readErr)
			}
			want := dotAxes{c.lc, c.lb, c.rc, c.rb}
			if !axesEqual(read, want) {
				t.Errorf("readDotAxes = %+v, want %+v", read, want)
			}
			if got := out[0].Shape().Dimensions; !slices.Equal(got, c.wantOutput) && len(got)+len(c.wantOutput) > 0 {
				t.Errorf("output dimensions %v, want %v", got, c.wantOutput)
			}
			for i, name := range []string{"lhs", "rhs"} {
				if got, want := out[1+i].Shape(), out[3+i].Shape(); !got.Equal(want) {
					t.Fatalf("d%s shape %s, stock %s", name, got, want)
				}
				d := relDiff(flat(t, out[1+i]), flat(t, out[3+i]))
				t.Logf("d%s: max |fast-stock| / max(1, max|stock|) = %.2g", name, d)
				if d > 1e-5 {
					t.Errorf("d%s differs from the stock gradient by %.3g (relative), want ≤ 1e-5", name, d)
				}
			}
		})
	}
}

// TestDotVJPMatchesStock does the same for graph.Dot, the op of layers.Dense.
func TestDotVJPMatchesStock(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		name     string
		lhs, rhs []int
	}{
		{"matrix·matrix", []int{6, 5}, []int{5, 7}},
		{"matrix·vector", []int{6, 5}, []int{5}},
		{"vector·vector", []int{5}, []int{5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := graph.MustNewExec(testBackend(), func(lhs, rhs *graph.Node) []*graph.Node {
				y := graph.Dot(lhs, rhs)
				v := upstream(y)
				fast := dotVJP(y, []*graph.Node{v}, y.Shape())
				stock := stockDotVJP(y, []*graph.Node{v}, y.Shape())
				return []*graph.Node{fast[0], fast[1], stock[0], stock[1]}
			}).MustExec(randTensor[float32](rng, c.lhs...), randTensor[float32](rng, c.rhs...))
			for i := range 2 {
				if d := relDiff(flat(t, out[i]), flat(t, out[2+i])); d > 1e-5 {
					t.Errorf("gradient %d differs from the stock one by %.3g (relative)", i, d)
				}
			}
		})
	}
}

// TestDotGeneralGradientAnalytic checks the registered gradient end to end, through
// graph.Gradient, against the closed form: for L = Σ W⊙(A·B), dL/dA = W·Bᵀ and
// dL/dB = Aᵀ·W.
func TestDotGeneralGradientAnalytic(t *testing.T) {
	if got, want := reflect.ValueOf(graph.VJPRegistration[graph.NodeTypeDotGeneral]).Pointer(),
		reflect.ValueOf(dotGeneralVJP).Pointer(); got != want {
		t.Fatal("the DotGeneral gradient registered in graph is not this package's")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const m, k, n = 3, 4, 2
	a, b, w := randTensor[float64](rng, m, k), randTensor[float64](rng, k, n), randTensor[float64](rng, m, n)
	out := graph.MustNewExec(testBackend(), func(a, b, w *graph.Node) []*graph.Node {
		loss := graph.ReduceAllSum(graph.Mul(w, graph.Einsum("ij,jk->ik", a, b)))
		return graph.Gradient(loss, a, b)
	}).MustExec(a, b, w)
	av, bv, wv := flat(t, a), flat(t, b), flat(t, w)
	wantA, wantB := make([]float64, m*k), make([]float64, k*n)
	for i := range m {
		for j := range k {
			for l := range n {
				wantA[i*k+j] += wv[i*n+l] * bv[j*n+l]
				wantB[j*n+l] += av[i*k+j] * wv[i*n+l]
			}
		}
	}
	for i, want := range [][]float64{wantA, wantB} {
		if d := relDiff(flat(t, out[i]), want); d > 1e-12 {
			t.Errorf("gradient %d differs from the closed form by %.3g", i, d)
		}
	}
}

// TestDotAxesCheck: axes that don't describe the node are refused, so a GoMLX whose
// internals moved falls back to the stock gradient instead of computing a wrong one.
func TestDotAxesCheck(t *testing.T) {
	var errs []error
	graph.MustNewExec(testBackend(), func(lhs, rhs *graph.Node) *graph.Node {
		y := graph.DotGeneral(lhs, []int{2}, []int{0}, rhs, []int{1}, []int{0})
		for _, a := range []dotAxes{
			{[]int{2}, []int{0}, []int{1}, []int{0}}, // right
			{[]int{1}, []int{0}, []int{1}, []int{0}}, // sizes 3 and 4 contracted
			{[]int{2}, nil, []int{1}, []int{0}},      // unpaired batch
			{[]int{2}, []int{2}, []int{1}, []int{0}}, // axis used twice
			{[]int{5}, []int{0}, []int{1}, []int{0}}, // out of range
			{[]int{2, 1}, []int{0}, []int{1, 2}, []int{0}},
		} {
			errs = append(errs, a.check(y))
		}
		return y
	}).MustExec(randTensor[float32](rand.New(rand.NewPCG(0, 0)), 2, 3, 4), randTensor[float32](rand.New(rand.NewPCG(0, 1)), 2, 4, 5))
	if errs[0] != nil {
		t.Errorf("check refused the node's own axes: %v", errs[0])
	}
	for i, err := range errs[1:] {
		if err == nil {
			t.Errorf("check accepted wrong axes #%d", i+1)
		}
	}
	if _, err := readDotAxes(nil); err == nil {
		t.Error("readDotAxes(nil) returned no error")
	}
}

func axesEqual(a, b dotAxes) bool {
	eq := func(x, y []int) bool { return len(x) == len(y) && (len(x) == 0 || slices.Equal(x, y)) }
	return eq(a.lhsContracting, b.lhsContracting) && eq(a.lhsBatch, b.lhsBatch) &&
		eq(a.rhsContracting, b.rhsContracting) && eq(a.rhsBatch, b.rhsBatch)
}
