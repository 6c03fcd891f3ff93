package backend

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX's own gradients of DotGeneral and Dot: correct, and used whenever a node's axes
// cannot be read.
var (
	stockDotGeneralVJP = graph.VJPRegistration[graph.NodeTypeDotGeneral]
	stockDotVJP        = graph.VJPRegistration[graph.NodeTypeDot]
)

// fallbackOnce makes the "using the stock gradient" warning appear once per process.
var fallbackOnce sync.Once

// Gradients are a property of the graph package, not of a backend: these are registered
// for every backend as soon as the trainer imports this package.
func init() {
	graph.VJPRegistration[graph.NodeTypeDotGeneral] = dotGeneralVJP
	graph.VJPRegistration[graph.NodeTypeDot] = dotVJP
}

// dotVJP is the gradient of graph.Dot (used by layers.Dense on rank-2 inputs), whose stock
// version broadcasts [i, j, k] for a matrix product as DotGeneral's does. For a matrix
// product y = a·b with output gradient v: da = v·bᵀ and db = aᵀ·v, as DotGenerals. The
// vector cases are as cheap as they get already and keep the stock gradient.
func dotVJP(node *graph.Node, vjps []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	in := node.Inputs()
	if len(in) != 2 || len(vjps) != 1 || in[0].Rank() != 2 || in[1].Rank() != 2 {
		return stockDotVJP(node, vjps, outputShape)
	}
	a, b, v := in[0], in[1], vjps[0]
	return []*graph.Node{
		graph.DotGeneral(v, []int{1}, nil, b, []int{1}, nil), // [i, k]·[j, k] → [i, j]
		graph.DotGeneral(a, []int{0}, nil, v, []int{0}, nil), // [i, j]·[i, k] → [j, k]
	}
}

// dotAxes are the axes of a DotGeneral node. graph v0.26.0 keeps them unexported, in the
// node's inputs field (a *nodeInputsDotGeneral); readDotAxes reads them by reflection.
type dotAxes struct {
	lhsContracting, lhsBatch, rhsContracting, rhsBatch []int
}

// dotGeneralVJP returns the gradients of a DotGeneral node with respect to its two
// inputs, each as one DotGeneral of the output gradient with the other input followed by
// a transpose: nothing larger than the inputs and the output is materialised. If the
// axes cannot be read or are inconsistent with the shapes (a GoMLX other than v0.26.0),
// it logs once and returns the stock gradient.
func dotGeneralVJP(node *graph.Node, vjps []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	axes, err := readDotAxes(node)
	if err == nil {
		err = axes.check(node)
	}
	if err != nil || len(vjps) != 1 {
		if err == nil {
			err = fmt.Errorf("DotGeneral node with %d output gradients, want 1", len(vjps))
		}
		fallbackOnce.Do(func() {
			slog.Warn("trainer/backend: using GoMLX's stock DotGeneral gradient, which is correct but ~100× slower "+
				"on the go backend; the fast one needs GoMLX v0.26.0 (see go.mod)", "reason", err)
		})
		return stockDotGeneralVJP(node, vjps, outputShape)
	}
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	v := vjps[0]
	return []*graph.Node{
		operandGradient(v, lhs.Rank(), axes.lhsContracting, axes.lhsBatch, true, rhs, axes.rhsContracting, axes.rhsBatch),
		operandGradient(v, rhs.Rank(), axes.rhsContracting, axes.rhsBatch, false, lhs, axes.lhsContracting, axes.lhsBatch),
	}
}

// operandGradient returns the gradient with respect to one operand ("this") of a
// DotGeneral whose output gradient is v, shaped [batch..., lhsCross..., rhsCross...].
// Contracting v's axes that belong to the other operand's cross axes with the other
// operand gives [batch..., thisCross..., otherContracting (in the other's axis order)...];
// a transpose puts each axis back where it is in this operand.
func operandGradient(v *graph.Node, rank int, contracting, batch []int, isLHS bool,
	other *graph.Node, otherContracting, otherBatch []int) *graph.Node {
	cross := crossAxes(rank, contracting, batch)
	otherCross := crossAxes(other.Rank(), otherContracting, otherBatch)
	nb := len(batch)
	vBatch := seq(0, nb)
	// v's axes: batch, then the lhs cross axes, then the rhs cross axes.
	vOtherCross := seq(nb+len(cross), len(otherCross))
	if !isLHS {
		vOtherCross = seq(nb, len(otherCross))
	}
	g := graph.DotGeneral(v, vOtherCross, vBatch, other, otherCross, otherBatch)

	// g's axes: batch, this operand's cross axes, then the other operand's contracting
	// axes in increasing order; this operand's contracting axis k pairs with
	// otherContracting[k].
	// perm[thisAxis] = the axis of g that becomes thisAxis, as TransposeAllAxes wants.
	perm := make([]int, rank)
	for i, a := range batch {
		perm[a] = i
	}
	for i, a := range cross {
		perm[a] = nb + i
	}
	for k, a := range contracting {
		perm[a] = nb + len(cross) + countLess(otherContracting, otherContracting[k])
	}
	if isIdentity(perm) {
		return g
	}
	return graph.TransposeAllAxes(g, perm...)
}

// readDotAxes reads the axes of a DotGeneral node, returning an error (never panicking)
// if graph's internals are not laid out as in v0.26.0.
func readDotAxes(node *graph.Node) (axes dotAxes, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading DotGeneral axes by reflection: %v", r)
		}
	}()
	if node == nil || node.Type() != graph.NodeTypeDotGeneral {
		return axes, errors.New("not a DotGeneral node")
	}
	inputs := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !inputs.IsValid() || inputs.Kind() != reflect.Interface || inputs.IsNil() {
		return axes, errors.New("graph.Node has no inputs interface field")
	}
	params := inputs.Elem()
	if params.Kind() != reflect.Pointer || params.IsNil() || params.Elem().Kind() != reflect.Struct {
		return axes, fmt.Errorf("graph.Node.inputs holds %s, want a pointer to a struct", params.Type())
	}
	params = params.Elem()
	field := func(name string) ([]int, error) {
		f := params.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Int {
			return nil, fmt.Errorf("%s has no []int field %q", params.Type(), name)
		}
		out := make([]int, f.Len())
		for i := range out {
			out[i] = int(f.Index(i).Int())
		}
		return out, nil
	}
	var errs []error
	for _, f := range []struct {
		name string
		dst  *[]int
	}{
		{"lhsContractingAxes", &axes.lhsContracting},
		{"lhsBatchAxes", &axes.lhsBatch},
		{"rhsContractingAxes", &axes.rhsContracting},
		{"rhsBatchAxes", &axes.rhsBatch},
	} {
		var e error
		*f.dst, e = field(f.name)
		errs = append(errs, e)
	}
	return axes, errors.Join(errs...)
}

// check verifies the axes against the node: each in range and used once per operand,
// paired axes of equal size, and the output shape the one DotGeneral gives for them. It
// is what makes reading unexported fields safe: wrong axes are refused, never used.
func (a dotAxes) check(node *graph.Node) error {
	in := node.Inputs()
	if len(in) != 2 {
		return fmt.Errorf("DotGeneral node with %d inputs, want 2", len(in))
	}
	lhs, rhs := in[0].Shape(), in[1].Shape()
	if len(a.lhsContracting) != len(a.rhsContracting) || len(a.lhsBatch) != len(a.rhsBatch) {
		return fmt.Errorf("unpaired axes %+v", a)
	}
	for _, side := range []struct {
		shape              shapes.Shape
		contracting, batch []int
	}{{lhs, a.lhsContracting, a.lhsBatch}, {rhs, a.rhsContracting, a.rhsBatch}} {
		seen := make([]bool, side.shape.Rank())
		for _, ax := range slices.Concat(side.contracting, side.batch) {
			if ax < 0 || ax >= len(seen) || seen[ax] {
				return fmt.Errorf("axes %+v invalid for shape %s", a, side.shape)
			}
			seen[ax] = true
		}
	}
	for i := range a.lhsContracting {
		if lhs.Dimensions[a.lhsContracting[i]] != rhs.Dimensions[a.rhsContracting[i]] {
			return fmt.Errorf("contracting axes %+v of different sizes in %s and %s", a, lhs, rhs)
		}
	}
	var want []int
	for i := range a.lhsBatch {
		if lhs.Dimensions[a.lhsBatch[i]] != rhs.Dimensions[a.rhsBatch[i]] {
			return fmt.Errorf("batch axes %+v of different sizes in %s and %s", a, lhs, rhs)
		}
		want = append(want, lhs.Dimensions[a.lhsBatch[i]])
	}
	for _, ax := range crossAxes(lhs.Rank(), a.lhsContracting, a.lhsBatch) {
		want = append(want, lhs.Dimensions[ax])
	}
	for _, ax := range crossAxes(rhs.Rank(), a.rhsContracting, a.rhsBatch) {
		want = append(want, rhs.Dimensions[ax])
	}
	if got := node.Shape().Dimensions; !slices.Equal(got, want) {
		return fmt.Errorf("axes %+v give output dimensions %v, but the node's are %v", a, want, got)
	}
	return nil
}

// crossAxes returns, in increasing order, the axes of an operand of the given rank that
// are neither contracted nor batch axes.
func crossAxes(rank int, contracting, batch []int) []int {
	var out []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

// countLess returns how many elements of set are less than x: x's position in sorted set.
func countLess(set []int, x int) int {
	n := 0
	for _, s := range set {
		if s < x {
			n++
		}
	}
	return n
}

// seq returns [start, start+1, ..., start+n-1].
func seq(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

func isIdentity(perm []int) bool {
	for i, p := range perm {
		if i != p {
			return false
		}
	}
	return true
}
