package backend

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchmarkConvAutoencoder trains benchAutoencoder (batch 32, 32×32×1) on the pure-Go
// backend with GoMLX's convolution and with Conv2D. The first step, which compiles the
// graph, is not timed.
func BenchmarkConvAutoencoder(b *testing.B) {
	const batch = 32
	for _, conv := range []struct {
		name  string
		layer convLayer
	}{{"stock", stockConvLayer}, {"im2col", Conv2D}} {
		b.Run(conv.name, func(b *testing.B) {
			b.ReportAllocs()
			trainer := newAutoencoderTrainer(testBackend(), benchAutoencoder(conv.layer), 1e-3)
			x := []*tensors.Tensor{randomImages(rand.New(rand.NewPCG(1, 2)), batch, 32)}
			if _, err := trainer.TrainStep(nil, x, x); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := trainer.TrainStep(nil, x, x); err != nil {
					b.Fatal(err)
				}
			}
			stepsPerSec := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(stepsPerSec, "steps/s")
			b.ReportMetric(stepsPerSec*batch, "img/s")
		})
	}
}

// BenchmarkMatMul multiplies two 512×512 float32 matrices on the pure-Go backend.
func BenchmarkMatMul(b *testing.B) {
	const n = 512
	rng := rand.New(rand.NewPCG(3, 4))
	x, y := randTensor[float32](rng, n, n), randTensor[float32](rng, n, n)
	exec := graph.MustNewExec(testBackend(), graph.Dot)
	exec.MustExec(x, y)
	for b.Loop() {
		exec.MustExec(x, y)[0].FinalizeAll()
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkDotGeneralVJP computes the gradients of attention scores, q·kᵀ over [batch 8,
// heads 4, seq 128, dim 32], with this package's DotGeneral gradient and with the stock
// one.
func BenchmarkDotGeneralVJP(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	q, k := randTensor[float32](rng, 8, 4, 128, 32), randTensor[float32](rng, 8, 4, 128, 32)
	for _, c := range []struct {
		name string
		vjp  graph.VJP
	}{{"fast", dotGeneralVJP}, {"stock", stockDotGeneralVJP}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			exec := graph.MustNewExec(testBackend(), func(q, k *graph.Node) []*graph.Node {
				y := graph.DotGeneral(q, []int{3}, []int{0, 1}, k, []int{3}, []int{0, 1})
				return c.vjp(y, []*graph.Node{upstream(y)}, y.Shape())
			})
			exec.MustExec(q, k)
			for b.Loop() {
				for _, t := range exec.MustExec(q, k) {
					t.FinalizeAll()
				}
			}
		})
	}
}
