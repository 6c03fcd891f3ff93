package backend

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/layers"
)

// convCase is an input and kernel shape and a stride.
type convCase struct {
	x, kernel []int
	stride    int
}

func (c convCase) String() string { return fmt.Sprintf("x%v_k%v_s%d", c.x, c.kernel, c.stride) }

// out returns the dimensions of the convolution's result.
func (c convCase) out() []int {
	return []int{c.x[0], (c.x[1] + c.stride - 1) / c.stride, (c.x[2] + c.stride - 1) / c.stride, c.kernel[3]}
}

var convCases = []convCase{
	{[]int{2, 5, 6, 2}, []int{3, 3, 2, 3}, 1},
	{[]int{2, 5, 6, 2}, []int{3, 3, 2, 3}, 2},
	{[]int{1, 7, 4, 3}, []int{2, 2, 3, 2}, 1}, // even kernel: asymmetric padding
	{[]int{1, 6, 7, 1}, []int{5, 3, 1, 2}, 3},
}

// stockConv is GoMLX's convolution with the padding and stride Convolve2D uses.
func stockConv(x, kernel *graph.Node, stride int) *graph.Node {
	return graph.Convolve(x, kernel).PadSame().Strides(stride).Done()
}

func TestConvolve2DMatchesConvolve(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range convCases {
		t.Run(c.String(), func(t *testing.T) {
			out := graph.MustNewExec(testBackend(), func(x, k *graph.Node) []*graph.Node {
				return []*graph.Node{Convolve2D(x, k, c.stride), stockConv(x, k, c.stride)}
			}).MustExec(randTensor[float64](rng, c.x...), randTensor[float64](rng, c.kernel...))
			if !slices.Equal(out[0].Shape().Dimensions, c.out()) || !out[0].Shape().Equal(out[1].Shape()) {
				t.Fatalf("shape %s, graph.Convolve's %s", out[0].Shape(), out[1].Shape())
			}
			if d := relDiff(flat(t, out[0]), flat(t, out[1])); d > 1e-12 {
				t.Errorf("differs from graph.Convolve by %.3g", d)
			}
		})
	}
}

// TestConvolve2DGradientNumerical compares the gradients of L = Σ W⊙tanh(conv(x, k))
// with central finite differences, in float64.
func TestConvolve2DGradientNumerical(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, c := range convCases[:3] {
		t.Run(c.String(), func(t *testing.T) {
			lossFn := func(x, k, w *graph.Node) *graph.Node {
				return graph.ReduceAllSum(graph.Mul(w, graph.Tanh(Convolve2D(x, k, c.stride))))
			}
			loss := graph.MustNewExec(testBackend(), lossFn)
			grads := graph.MustNewExec(testBackend(), func(x, k, w *graph.Node) []*graph.Node {
				return graph.Gradient(lossFn(x, k, w), x, k)
			})
			x, k := randTensor[float64](rng, c.x...), randTensor[float64](rng, c.kernel...)
			w := randTensor[float64](rng, c.out()...)
			got := grads.MustExec(x, k, w)
			const eps = 1e-5
			for i, name := range []string{"x", "kernel"} {
				in := []*tensors.Tensor{x, k}
				base := flat(t, in[i])
				num := make([]float64, len(base))
				for j := range base {
					at := func(delta float64) float64 {
						p := append([]float64(nil), base...)
						p[j] += delta
						args := []any{x, k, w}
						args[i] = tensors.FromFlatDataAndDimensions(p, in[i].Shape().Dimensions...)
						return flat(t, loss.MustExec(args...)[0])[0]
					}
					num[j] = (at(eps) - at(-eps)) / (2 * eps)
				}
				d := relDiff(flat(t, got[i]), num)
				t.Logf("d%s: max |autodiff - finite difference| (relative) = %.2g", name, d)
				if d > 1e-7 {
					t.Errorf("d%s differs from finite differences by %.3g", name, d)
				}
			}
		})
	}
}

// TestStockConvGradientMatchesIm2col: layers.Convolution's gradient needs Reverse,
// interior Pad and ConvGeneral with nil strides, the ops NewGo fixes; it must equal the
// im2col one.
//
// Kernels of even size are left out: GoMLX v0.26.0's convolution gradient with respect
// to the input pads the reversed convolution by 2*((k-1)/2)-p instead of k-1-p, which
// is wrong for even k on every backend (Convolve2D's gradient, checked against finite
// differences above, is right).
func TestStockConvGradientMatchesIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range convCases {
		if c.kernel[0]%2 == 0 || c.kernel[1]%2 == 0 {
			continue
		}
		t.Run(c.String(), func(t *testing.T) {
			grad := func(conv func(x, k *graph.Node, stride int) *graph.Node) func(x, k, w *graph.Node) []*graph.Node {
				return func(x, k, w *graph.Node) []*graph.Node {
					return graph.Gradient(graph.ReduceAllSum(graph.Mul(w, conv(x, k, c.stride))), x, k)
				}
			}
			x, k := randTensor[float32](rng, c.x...), randTensor[float32](rng, c.kernel...)
			w := randTensor[float32](rng, c.out()...)
			im2col := graph.MustNewExec(testBackend(), grad(Convolve2D)).MustExec(x, k, w)
			stock := graph.MustNewExec(testBackend(), grad(stockConv)).MustExec(x, k, w)
			for i, name := range []string{"x", "kernel"} {
				d := relDiff(flat(t, stock[i]), flat(t, im2col[i]))
				t.Logf("d%s: max |stock - im2col| (relative) = %.2g", name, d)
				if d > 1e-5 {
					t.Errorf("d%s: stock convolution's gradient differs from im2col's by %.3g", name, d)
				}
			}
		})
	}
}

// TestConv2DSharesVariablesWithConvolution: a context built by Conv2D runs unchanged with
// layers.Convolution (and so loads into a model using it) and gives the same output.
func TestConv2DSharesVariablesWithConvolution(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	ctx := context.New()
	x := randTensor[float32](rng, 2, 8, 8, 3)
	im2col, err := context.NewExecAny(testBackend(), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return Conv2D(ctx.In("layer"), x, 4, 3, 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := im2col.Exec(x)
	if err != nil {
		t.Fatal(err)
	}
	// A non-zero bias, so that its layout is checked too.
	bias := ctx.GetVariableByScopeAndName("/layer/conv", "biases")
	if bias == nil {
		t.Fatal(`Conv2D created no "/layer/conv/biases"`)
	}
	if err := bias.SetValue(tensors.FromValue([]float32{0.5, -1, 2, 0.25})); err != nil {
		t.Fatal(err)
	}
	if got, err = im2col.Exec(x); err != nil {
		t.Fatal(err)
	}
	stock, err := context.NewExecAny(testBackend(), ctx.Reuse(), func(ctx *context.Context, x *graph.Node) *graph.Node {
		return layers.Convolution(ctx.In("layer"), x).Channels(4).KernelSize(3).PadSame().Strides(2).Done()
	})
	if err != nil {
		t.Fatal(err)
	}
	want, err := stock.Exec(x)
	if err != nil {
		t.Fatalf("layers.Convolution on Conv2D's variables: %v", err)
	}
	if d := relDiff(flat(t, got[0]), flat(t, want[0])); d > 1e-5 {
		t.Errorf("Conv2D and layers.Convolution differ by %.3g on the same variables", d)
	}
	if w := ctx.GetVariableByScopeAndName("/layer/conv", "weights"); w == nil || !slices.Equal(w.Shape().Dimensions, []int{3, 3, 3, 4}) {
		t.Errorf(`"/layer/conv/weights" = %v, want shape [3 3 3 4]`, w)
	}
}

func TestConv2DBadShapesAreErrors(t *testing.T) {
	ctx := context.New()
	for name, fn := range map[string]func(ctx *context.Context, x *graph.Node) *graph.Node{
		"rank 3 input": func(ctx *context.Context, x *graph.Node) *graph.Node {
			return Conv2D(ctx, graph.Reshape(x, 4, 4, 2), 2, 3, 1)
		},
		"zero stride": func(ctx *context.Context, x *graph.Node) *graph.Node { return Conv2D(ctx, x, 2, 3, 0) },
	} {
		exec, err := context.NewExecAny(testBackend(), ctx, fn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := exec.Exec(randTensor[float32](rand.New(rand.NewPCG(0, 0)), 1, 4, 4, 2)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
