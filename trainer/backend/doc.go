// Package backend gives the trainer a GoMLX backend that trains at a useful speed.
//
// GoMLX v0.26.0's pure-Go backend, SimpleGo ("go"), builds without cgo and needs no
// downloaded binary, but it cannot train as shipped (see ../../docs/trainer.md). This
// package fixes the three problems measured on this project's machines:
//
//   - Matmul gradients: GoMLX's stock gradients of DotGeneral and Dot are a broadcast
//     multiply and a reduction that materialise a [batch, M, N, K] tensor, which XLA fuses
//     away but SimpleGo executes literally (10–100× slower, gigabytes of memory).
//     Importing this package registers gradients built from DotGenerals and transposes
//     instead, for every backend.
//   - Convolution gradients: SimpleGo lacks Reverse and Pad, which the gradients of
//     ConvGeneral and Slice need, and the convolution gradient passes nil strides that
//     SimpleGo reads as stride 0. [NewGo] wraps SimpleGo with emulations of both ops
//     and fills the defaults. [Conv2D] is an im2col convolution (strided slices and one
//     matmul) that trains about 3× faster on SimpleGo and shares its variables with
//     layers.Convolution, so a checkpoint trained with one loads into the other.
//   - Deadlock on 2 vCPUs: SimpleGo's default parallel op scheduling can deadlock when
//     nested matmul tasks wait on each other, and races; [NewGo] runs ops sequentially
//     unless asked otherwise (each matmul still uses every core).
//
// [New] selects the backend by name ("go", "xla:cpu", "xla:cuda", "xla:/path/plugin.so")
// or from $GOMLX_BACKEND. XLA needs cgo and is compiled in only with `-tags xla`, so the
// default binary stays pure Go; when XLA is asked for but is missing or fails to start,
// New falls back to the pure-Go backend and says why and how to enable XLA.
package backend
