// Package vision makes the pseudo-labels of the image pretext tasks:
// colorization (Zhang et al. 2016), denoising (Vincent et al. 2008) and
// inpainting (Pathak et al. 2016; Yu et al. 2019; He et al. 2022).
//
// The label logic is plain functions on plain values: Decode turns file bytes
// into an *image.NRGBA (or a *transforms.InputError, which the pipeline turns into a
// dead letter), Resize brings it to the configured size, Colorize, Denoise and
// Inpaint make one variant's input and label from it, and Encode writes the
// image columns. Every random choice comes from the *rand.Rand the caller
// passes in (seeded per element by package seeding), so the same image and
// seed give byte-identical rows on any machine; floating-point expressions
// that shape a label are written so the compiler cannot fuse them into FMA
// instructions, which would change results between architectures.
//
// The thin Beam DoFns around these functions live in label.go and register.go.
package vision
