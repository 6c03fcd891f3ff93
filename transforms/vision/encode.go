package vision

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"sync"
)

// Encoding says how image columns are written.
type Encoding struct {
	// Format is "png", "jpeg" or "raw" (uint8 pixels, row-major H×W×C, no
	// header: the shape comes from the width and height columns, C from
	// len/(W·H)).
	Format string
	// PNGLevel is "default", "best_speed", "best_compression" or "none"
	// ("" means default).
	PNGLevel string
	// JPEGQuality is 1..100 (0 means jpeg.DefaultQuality).
	JPEGQuality int
}

// Encoding formats and PNG levels Encode accepts.
var (
	EncodingFormats = []string{"png", "jpeg", "raw"}
	PNGLevels       = []string{"default", "best_speed", "best_compression", "none"}
)

// Encode encodes img. An *image.Gray stays one channel (gray PNG, gray JPEG,
// one raw byte per pixel); anything else is written as RGB with its alpha
// dropped (not composited: the colour values are kept as they are). The
// bytes depend only on the pixels and enc.
func Encode(img image.Image, enc Encoding) ([]byte, error) {
	if g, ok := img.(*image.Gray); ok {
		return encodeGray(g, enc)
	}
	var rgb *image.NRGBA
	if n, ok := img.(*image.NRGBA); ok {
		rgb = opaque(n)
	} else {
		rgb = opaque(toNRGBA(img))
	}
	switch enc.Format {
	case "png":
		return encodePNGPix(rgb.Pix, rgb.Stride, rgb.Rect.Dx(), rgb.Rect.Dy(), 3, enc.PNGLevel)
	case "jpeg":
		// An opaque NRGBA has the bytes of an RGBA, for which image/jpeg has
		// a fast path (it has none for NRGBA).
		return encodeJPEG(&image.RGBA{Pix: rgb.Pix, Stride: rgb.Stride, Rect: rgb.Rect}, enc.JPEGQuality)
	case "raw":
		w, h := rgb.Rect.Dx(), rgb.Rect.Dy()
		out := make([]byte, 0, w*h*3)
		for y := 0; y < h; y++ {
			row := rgb.Pix[y*rgb.Stride : y*rgb.Stride+4*w]
			for x := 0; x < len(row); x += 4 {
				out = append(out, row[x], row[x+1], row[x+2])
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("vision: unknown encoding format %q", enc.Format)
}

func encodeGray(g *image.Gray, enc Encoding) ([]byte, error) {
	switch enc.Format {
	case "png":
		return encodePNGPix(g.Pix, g.Stride, g.Rect.Dx(), g.Rect.Dy(), 1, enc.PNGLevel)
	case "jpeg":
		return encodeJPEG(g, enc.JPEGQuality)
	case "raw":
		w, h := g.Rect.Dx(), g.Rect.Dy()
		out := make([]byte, 0, w*h)
		for y := 0; y < h; y++ {
			out = append(out, g.Pix[y*g.Stride:y*g.Stride+w]...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("vision: unknown encoding format %q", enc.Format)
}

// encodeBuffers hold encoded images while they grow: one allocation of the
// final size per image instead of a dozen as a fresh buffer doubles.
var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func encodeJPEG(img image.Image, quality int) ([]byte, error) {
	if quality == 0 {
		quality = jpeg.DefaultQuality
	}
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("vision: JPEG quality %d outside 1..100", quality)
	}
	buf := encodeBuffers.Get().(*bytes.Buffer)
	defer encodeBuffers.Put(buf)
	buf.Reset()
	if err := jpeg.Encode(buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("vision: jpeg: %w", err)
	}
	return bytes.Clone(buf.Bytes()), nil
}

// opaque returns img with every alpha 255: img itself when it already is,
// otherwise a copy (the caller's image is never modified).
func opaque(img *image.NRGBA) *image.NRGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 3; x < len(row); x += 4 {
			if row[x] != 255 {
				return setOpaque(img)
			}
		}
	}
	return img
}

func setOpaque(img *image.NRGBA) *image.NRGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		copy(dst.Pix[y*dst.Stride:], img.Pix[y*img.Stride:y*img.Stride+4*w])
	}
	for i := 3; i < len(dst.Pix); i += 4 {
		dst.Pix[i] = 255
	}
	return dst
}
