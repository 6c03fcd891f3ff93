package backend_test

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/pretext-dev/pretext/trainer/backend"
)

func ExampleNew() {
	b, notice, err := backend.New("go")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s, fell back: %v\n", b, notice != "")

	_, _, err = backend.New("tpu")
	fmt.Println(err != nil)
	// Output:
	// go, fell back: false
	// true
}

func ExampleConv2D() {
	b, _, err := backend.New("go")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.New()
	exec, err := context.NewExecAny(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return backend.Conv2D(ctx.In("encoder"), x, 16, 3, 2)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := exec.Exec(tensors.FromShape(shapes.Make(dtypes.Float32, 4, 28, 28, 1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out[0].Shape())
	// The same variables as layers.Convolution(...).Channels(16).KernelSize(3).PadSame().Strides(2):
	fmt.Println(ctx.GetVariableByScopeAndName("/encoder/conv", "weights").Shape())
	fmt.Println(ctx.GetVariableByScopeAndName("/encoder/conv", "biases").Shape())
	// Output:
	// (Float32)[4 14 14 16]
	// (Float32)[3 3 1 16]
	// (Float32)[16]
}
