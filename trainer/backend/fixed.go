package backend

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// fixedBackend is SimpleGo with the ops that training convolutions needs: Reverse and
// Pad emulated with Slice, Concatenate, Reshape and BroadcastInDim, and ConvGeneral's
// optional arguments filled with their defaults. Everything else is SimpleGo's.
type fixedBackend struct {
	backends.Backend
}

// Builder implements backends.Backend.
func (b *fixedBackend) Builder(name string) backends.Builder {
	return &fixedBuilder{Builder: b.Backend.Builder(name)}
}

// Description implements backends.Backend.
func (b *fixedBackend) Description() string {
	return b.Backend.Description() + " (with pretext's training fixes: DotGeneral gradient, Reverse, Pad, conv defaults)"
}

// Capabilities implements backends.Backend: SimpleGo's, plus the emulated ops.
func (b *fixedBackend) Capabilities() backends.Capabilities {
	c := b.Backend.Capabilities().Clone()
	c.Operations[backends.OpTypeReverse] = true
	c.Operations[backends.OpTypePad] = true
	return c
}

// fixedBuilder overrides the three ops of backends.Builder that SimpleGo v0.26.0 lacks
// or gets wrong.
type fixedBuilder struct {
	backends.Builder
}

// Reverse implements backends.Builder by concatenating the size-1 slices of each axis in
// reverse order: one Slice per element of the axis. Training only reverses the spatial
// axes of convolution kernels (a handful of elements), where that is cheap.
func (b *fixedBuilder) Reverse(x backends.Op, axes ...int) (backends.Op, error) {
	shape, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	for _, axis := range axes {
		if axis < 0 || axis >= shape.Rank() {
			return nil, fmt.Errorf("Reverse: axis %d out of range for shape %s", axis, shape)
		}
		n := shape.Dimensions[axis]
		if n <= 1 {
			continue
		}
		parts := make([]backends.Op, n)
		for i := range n {
			starts, limits := make([]int, shape.Rank()), slices.Clone(shape.Dimensions)
			starts[axis], limits[axis] = n-1-i, n-i
			if parts[i], err = b.Slice(x, starts, limits, ones(shape.Rank())); err != nil {
				return nil, fmt.Errorf("Reverse emulation: %w", err)
			}
		}
		if x, err = b.Concatenate(axis, parts...); err != nil {
			return nil, fmt.Errorf("Reverse emulation: %w", err)
		}
	}
	return x, nil
}

// Pad implements backends.Builder with XLA's semantics, one axis at a time: interior
// padding first (each element followed by Interior fill values, by a Concatenate on a new
// axis, a Reshape and a Slice that drops the trailing fill), then the edges: a negative
// Start or End crops, a positive one concatenates fill values. Cropping an axis to
// nothing is an error: SimpleGo has no empty slices.
func (b *fixedBuilder) Pad(x, fill backends.Op, axesConfig ...backends.PadAxis) (backends.Op, error) {
	shape, err := b.OpShape(x)
	if err != nil {
		return nil, err
	}
	if len(axesConfig) > shape.Rank() {
		return nil, fmt.Errorf("Pad: %d axes configured for shape %s", len(axesConfig), shape)
	}
	for axis, p := range axesConfig {
		if p.Interior < 0 {
			return nil, fmt.Errorf("Pad: negative interior padding %d on axis %d", p.Interior, axis)
		}
		if p.Interior > 0 && shape.Dimensions[axis] > 1 {
			if x, err = b.padInterior(x, fill, shape, axis, p.Interior); err != nil {
				return nil, fmt.Errorf("Pad emulation: %w", err)
			}
			if shape, err = b.OpShape(x); err != nil {
				return nil, err
			}
		}
		if p.Start < 0 || p.End < 0 {
			n := shape.Dimensions[axis]
			starts, limits := make([]int, shape.Rank()), slices.Clone(shape.Dimensions)
			starts[axis], limits[axis] = max(0, -p.Start), n-max(0, -p.End)
			if starts[axis] >= limits[axis] {
				// XLA would return an empty axis; SimpleGo's Slice can't.
				return nil, fmt.Errorf("Pad: cropping %d+%d elements leaves nothing of axis %d (size %d)",
					max(0, -p.Start), max(0, -p.End), axis, n)
			}
			if x, err = b.Slice(x, starts, limits, ones(shape.Rank())); err != nil {
				return nil, fmt.Errorf("Pad emulation: %w", err)
			}
			if shape, err = b.OpShape(x); err != nil {
				return nil, err
			}
		}
		parts := make([]backends.Op, 0, 3)
		for i, n := range []int{p.Start, 0, p.End} {
			switch {
			case i == 1:
				parts = append(parts, x)
			case n > 0:
				dims := slices.Clone(shape.Dimensions)
				dims[axis] = n
				f, err := b.BroadcastInDim(fill, shapes.Make(shape.DType, dims...), nil)
				if err != nil {
					return nil, fmt.Errorf("Pad emulation: %w", err)
				}
				parts = append(parts, f)
			}
		}
		if len(parts) > 1 {
			if x, err = b.Concatenate(axis, parts...); err != nil {
				return nil, fmt.Errorf("Pad emulation: %w", err)
			}
			if shape, err = b.OpShape(x); err != nil {
				return nil, err
			}
		}
	}
	return x, nil
}

// padInterior inserts interior fill values after each element of x's axis but the last:
// [..., n, ...] → [..., n, 1+interior, ...] → [..., n*(1+interior), ...] → the first
// n+(n-1)*interior elements.
func (b *fixedBuilder) padInterior(x, fill backends.Op, shape shapes.Shape, axis, interior int) (backends.Op, error) {
	dims := shape.Dimensions
	n := dims[axis]
	expanded := slices.Insert(slices.Clone(dims), axis+1, 1)
	xe, err := b.Reshape(x, expanded...)
	if err != nil {
		return nil, err
	}
	fillDims := slices.Clone(expanded)
	fillDims[axis+1] = interior
	f, err := b.BroadcastInDim(fill, shapes.Make(shape.DType, fillDims...), nil)
	if err != nil {
		return nil, err
	}
	if xe, err = b.Concatenate(axis+1, xe, f); err != nil {
		return nil, err
	}
	flat := slices.Clone(dims)
	flat[axis] = n * (1 + interior)
	if xe, err = b.Reshape(xe, flat...); err != nil {
		return nil, err
	}
	limits := slices.Clone(flat)
	limits[axis] = n + (n-1)*interior
	return b.Slice(xe, make([]int, len(dims)), limits, ones(len(dims)))
}

// ConvGeneral implements backends.Builder. SimpleGo v0.26.0 reads nil strides as stride
// 0, and the convolution gradient passes nil; nil means 1 (and no padding) in XLA.
func (b *fixedBuilder) ConvGeneral(input, kernel backends.Op, axes backends.ConvolveAxesConfig, strides []int,
	paddings [][2]int, inputDilations, kernelDilations []int, channelGroupCount, batchGroupCount int) (backends.Op, error) {
	n := len(axes.InputSpatial)
	if len(strides) == 0 {
		strides = ones(n)
	}
	if len(paddings) == 0 {
		paddings = make([][2]int, n)
	}
	if len(inputDilations) == 0 {
		inputDilations = ones(n)
	}
	if len(kernelDilations) == 0 {
		kernelDilations = ones(n)
	}
	return b.Builder.ConvGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations,
		channelGroupCount, batchGroupCount)
}

// ones returns n ones: unit strides or dilations for n axes.
func ones(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}
