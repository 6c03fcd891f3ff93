package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// The image tasks' readers: each views its rows as ImageRows; colorize adds
// its block targets.
func init() {
	Register(vision.TaskColorize, Rows[sinks.ColorizeRow]{
		Key:   func(r *sinks.ColorizeRow) string { return r.Key },
		Split: func(r *sinks.ColorizeRow) string { return r.Split },
		Batcher: ImageBatcher(vision.TaskColorize, func(r *sinks.ColorizeRow) ImageRow {
			return ImageRow{Key: r.Key, Variant: r.Variant, Width: r.Width, Height: r.Height, Encoding: r.Encoding,
				Input: r.Input, Target: r.Target, InputChannels: 1, TargetChannels: 3}
		}, addAB),
	})
	Register(vision.TaskDenoise, Rows[sinks.DenoiseRow]{
		Key:   func(r *sinks.DenoiseRow) string { return r.Key },
		Split: func(r *sinks.DenoiseRow) string { return r.Split },
		Batcher: ImageBatcher(vision.TaskDenoise, func(r *sinks.DenoiseRow) ImageRow {
			return ImageRow{Key: r.Key, Variant: r.Variant, Width: r.Width, Height: r.Height, Encoding: r.Encoding,
				Input: r.Input, Target: r.Target, InputChannels: 3, TargetChannels: 3}
		}, nil),
	})
	Register(vision.TaskInpaint, Rows[sinks.InpaintRow]{
		Key:   func(r *sinks.InpaintRow) string { return r.Key },
		Split: func(r *sinks.InpaintRow) string { return r.Split },
		Batcher: ImageBatcher(vision.TaskInpaint, func(r *sinks.InpaintRow) ImageRow {
			holes := r.Mask
			if holes == nil {
				holes = []byte{} // an empty mask is a decode error, not "no mask"
			}
			return ImageRow{Key: r.Key, Variant: r.Variant, Width: r.Width, Height: r.Height, Encoding: r.Encoding,
				Input: r.Input, Target: r.Target, Mask: holes, InputChannels: 3, TargetChannels: 3}
		}, nil),
	})
}

// ImageBatcher is the Rows.Batcher of an image task whose rows view as
// ImageRows: DecodeImages decodes the views (on Options.Workers
// goroutines), then finish, when not nil, adds to the batch what the task
// has beyond images (colorize's block targets, a classification task's
// Class).
func ImageBatcher[T any](task string, view func(*T) ImageRow, finish func(b *ImageBatch, rows []T) error) func(Info, Options) (Batcher[T], error) {
	return func(_ Info, opts Options) (Batcher[T], error) {
		return func(rows []T, _ int) (Batch, error) {
			views := make([]ImageRow, len(rows))
			for i := range rows {
				views[i] = view(&rows[i])
			}
			b, err := DecodeImages(task, views, opts.Workers)
			if err != nil {
				return nil, err
			}
			if finish != nil {
				if err := finish(b, rows); err != nil {
					return nil, err
				}
			}
			return b, nil
		}, nil
	}
}

// ImageBatch is a batch of an image task. Images are NHWC float32, each byte
// v as v/255 in [0,1]. What a task fills beyond Input depends on its rows:
// a target image (colorize, denoise, inpaint), a hole mask (inpaint), block
// ab targets (colorize), a class per row (a classification task).
type ImageBatch struct {
	// Task is the rows' task.
	Task string
	// Keys and Variants identify the rows.
	Keys     []string
	Variants []int32
	// Width, Height: every image of the batch has this size (a row of
	// another size is an error: write the shards with image.resize
	// center_crop or border to get one size).
	Width, Height int
	// InputChannels is 1 for colorize (the L* channel), 3 otherwise;
	// Channels is the target's: 3, or 0 for a task without a target image.
	InputChannels, Channels int
	// Input is [Len, Height, Width, InputChannels]: the noisy image
	// (denoise), the image with holes (inpaint), or L*/100 (colorize: the
	// input column holds round(L*·2.55), so v/255 is L*/100 to within 0.2%).
	Input []float32
	// Target is [Len, Height, Width, Channels]: the clean RGB image; nil for
	// a task without a target image.
	Target []float32
	// Mask is [Len, Height, Width, 1], 1 where the input has a hole and 0
	// elsewhere (inpaint only; nil otherwise).
	Mask []float32
	// Class is [Len]: each row's class, for a classification task (whose
	// batcher sets it after DecodeImages); nil otherwise.
	Class []int32

	// Colorize only: the target's Lab ab per ABStride×ABStride block.

	// ABHeight, ABWidth are the block grid's size (H/stride, W/stride).
	ABHeight, ABWidth int
	// ABBins is [Len, ABHeight, ABWidth]: the index of the nearest in-gamut
	// ab bin (vision.ABBins; vision.NumABBins() classes), for a
	// classification loss as Zhang et al.'s.
	ABBins []int32
	// AB is [Len, ABHeight, ABWidth, 2]: the blocks' mean Lab a and b
	// divided by 128, in [-1, 1), for a regression loss.
	AB []float32
	// SourceIsGray flags rows whose source had almost no colour (their ab
	// target is near zero); a trainer may weight or skip them.
	SourceIsGray []bool
}

// Len is the number of rows.
func (b *ImageBatch) Len() int { return len(b.Keys) }

// RowKeys are the rows' keys.
func (b *ImageBatch) RowKeys() []string { return b.Keys }

// ImageRow is what an image row has in common with the others, whatever its
// task's row type: an image task's batcher views its rows as ImageRows and
// DecodeImages decodes them.
type ImageRow struct {
	Key           string
	Variant       int32
	Width, Height int32
	// Encoding is the images' encoding: png, jpeg or raw.
	Encoding string
	// Input is decoded to InputChannels channels (1 or 3).
	Input         []byte
	InputChannels int
	// Target is decoded to TargetChannels channels (1 or 3); with
	// TargetChannels 0 the task has no target image and Target is ignored.
	Target         []byte
	TargetChannels int
	// Mask is the hole mask (255 in a hole), decoded when the batch's first
	// row has one (not nil): then every row must.
	Mask []byte
}

// DecodeImages decodes an image task's rows into a batch of task: every row
// of one size, the batch's channels the first row's. An error caused by one
// row is a *RowError.
func DecodeImages(task string, rows []ImageRow, workers int) (*ImageBatch, error) {
	n := len(rows)
	b := &ImageBatch{Task: task, Keys: make([]string, n), Variants: make([]int32, n)}
	if n == 0 {
		return b, nil
	}
	b.Width, b.Height = int(rows[0].Width), int(rows[0].Height)
	b.InputChannels, b.Channels = rows[0].InputChannels, rows[0].TargetChannels
	for i, r := range rows {
		if int(r.Width) != b.Width || int(r.Height) != b.Height {
			return nil, &RowError{i, fmt.Errorf("a %d×%d image in a batch of %d×%d images: the loader needs one size (write the shards with image.resize center_crop or border)", r.Width, r.Height, b.Width, b.Height)}
		}
		if r.Width <= 0 || r.Height <= 0 {
			return nil, &RowError{i, fmt.Errorf("image of %d×%d pixels", r.Width, r.Height)}
		}
		b.Keys[i], b.Variants[i] = r.Key, r.Variant
	}
	px := b.Width * b.Height
	b.Input = make([]float32, n*px*b.InputChannels)
	if b.Channels > 0 {
		b.Target = make([]float32, n*px*b.Channels)
	}
	if rows[0].Mask != nil {
		b.Mask = make([]float32, n*px)
	}
	err := parallel(n, workers, func(i int) error {
		r := rows[i]
		if err := decodeInto(b.Input[i*px*b.InputChannels:(i+1)*px*b.InputChannels], r.Input, r.Encoding, b.Width, b.Height, b.InputChannels); err != nil {
			return &RowError{i, fmt.Errorf("input: %w", err)}
		}
		if b.Target != nil {
			if err := decodeInto(b.Target[i*px*b.Channels:(i+1)*px*b.Channels], r.Target, r.Encoding, b.Width, b.Height, b.Channels); err != nil {
				return &RowError{i, fmt.Errorf("target: %w", err)}
			}
		}
		if b.Mask != nil {
			m := b.Mask[i*px : (i+1)*px]
			if err := decodeInto(m, r.Mask, r.Encoding, b.Width, b.Height, 1); err != nil {
				return &RowError{i, fmt.Errorf("mask: %w", err)}
			}
			// 255 is a hole; a JPEG mask is thresholded at half.
			for j, v := range m {
				if v >= 0.5 {
					m[j] = 1
				} else {
					m[j] = 0
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// addAB adds colorize's block targets.
func addAB(b *ImageBatch, rows []sinks.ColorizeRow) error {
	n := len(rows)
	if n == 0 {
		return nil
	}
	b.ABHeight, b.ABWidth = int(rows[0].ABHeight), int(rows[0].ABWidth)
	cells := b.ABHeight * b.ABWidth
	b.ABBins = make([]int32, n*cells)
	b.AB = make([]float32, 2*n*cells)
	b.SourceIsGray = make([]bool, n)
	for i := range rows {
		r := &rows[i]
		if int(r.ABHeight) != b.ABHeight || int(r.ABWidth) != b.ABWidth {
			return &RowError{i, fmt.Errorf("ab grid of %d×%d blocks in a batch of %d×%d", r.ABHeight, r.ABWidth, b.ABHeight, b.ABWidth)}
		}
		if len(r.ABBins) != cells || len(r.TargetAB) != 2*cells {
			return &RowError{i, fmt.Errorf("%d ab bins and %d ab values for %d×%d blocks", len(r.ABBins), len(r.TargetAB), r.ABHeight, r.ABWidth)}
		}
		for j, v := range r.ABBins {
			b.ABBins[i*cells+j] = int32(v)
		}
		for j, v := range r.TargetAB {
			b.AB[2*i*cells+j] = float32(v) / 128
		}
		b.SourceIsGray[i] = r.SourceIsGray
	}
	return nil
}

// unit maps a byte to [0,1].
var unit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// decodeInto decodes an image of the row's encoding ("png", "jpeg" or "raw")
// into dst, [h, w, c] in [0,1]. A gray image fills 3 channels by repeating
// its value; a colour image asked for 1 channel gives its luma as Go's
// color.GrayModel computes it.
func decodeInto(dst []float32, data []byte, encoding string, w, h, c int) error {
	var img image.Image
	var err error
	switch encoding {
	case "raw":
		return rawInto(dst, data, w, h, c)
	case "png":
		img, err = png.Decode(bytes.NewReader(data))
	case "jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	default:
		return fmt.Errorf("unknown image encoding %q (want png, jpeg or raw)", encoding)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", encoding, err)
	}
	if r := img.Bounds(); r.Dx() != w || r.Dy() != h {
		return fmt.Errorf("%s image of %d×%d pixels, the row says %d×%d", encoding, r.Dx(), r.Dy(), w, h)
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			put(dst[y*w*c:], m.Pix[y*m.Stride:y*m.Stride+w], 1, c)
		}
	case *image.RGBA: // opaque: what PNG decodes an RGB image to
		for y := 0; y < h; y++ {
			put(dst[y*w*c:], m.Pix[y*m.Stride:y*m.Stride+4*w], 4, c)
		}
	case *image.NRGBA: // colour values as stored, alpha dropped, as pretext encodes
		for y := 0; y < h; y++ {
			put(dst[y*w*c:], m.Pix[y*m.Stride:y*m.Stride+4*w], 4, c)
		}
	case *image.YCbCr:
		b := m.Bounds()
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				px(dst[(y*w+x)*c:], r, g, bb, c)
			}
		}
	default:
		b := m.Bounds()
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				n := color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				px(dst[(y*w+x)*c:], n.R, n.G, n.B, c)
			}
		}
	}
	return nil
}

// put converts one row of pixels of srcC bytes each (1: gray, 3: RGB, 4:
// RGBA) to c floats each.
func put(dst []float32, src []byte, srcC, c int) {
	n := len(src) / srcC
	switch {
	case srcC == c:
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = unit[v]
		}
	case srcC == 1: // to RGB
		dst = dst[:3*n]
		for x, v := range src {
			f := unit[v]
			dst[3*x], dst[3*x+1], dst[3*x+2] = f, f, f
		}
	case c == 3: // RGBA to RGB
		dst, src = dst[:3*n], src[:4*n]
		for x := range n {
			dst[3*x], dst[3*x+1], dst[3*x+2] = unit[src[4*x]], unit[src[4*x+1]], unit[src[4*x+2]]
		}
	default: // colour to gray
		for x := range n {
			p := src[x*srcC:]
			dst[x] = unit[luma(p[0], p[1], p[2])]
		}
	}
}

// px writes one RGB pixel as c floats.
func px(dst []float32, r, g, b uint8, c int) {
	if c == 1 {
		dst[0] = unit[luma(r, g, b)]
		return
	}
	dst[0], dst[1], dst[2] = unit[r], unit[g], unit[b]
}

// luma is color.GrayModel's conversion of an 8-bit RGB colour.
func luma(r, g, b uint8) uint8 {
	r16, g16, b16 := uint32(r)*0x101, uint32(g)*0x101, uint32(b)*0x101
	return uint8((19595*r16 + 38470*g16 + 7471*b16 + 1<<15) >> 24)
}

// rawInto converts raw pixels (row-major, 1 or 3 bytes per pixel; the
// count comes from the length) to c channels.
func rawInto(dst []float32, data []byte, w, h, c int) error {
	n := w * h
	if n == 0 || len(data)%n != 0 || (len(data)/n != 1 && len(data)/n != 3) {
		return fmt.Errorf("raw image of %d bytes is not %d×%d pixels of 1 or 3 channels", len(data), w, h)
	}
	put(dst, data, len(data)/n, c)
	return nil
}
