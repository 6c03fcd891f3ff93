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
		return encodeRaw(rgb.Pix, rgb.Stride, rgb.Rect.Dx(), rgb.Rect.Dy(), 3), nil
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
		return encodeRaw(g.Pix, g.Stride, g.Rect.Dx(), g.Rect.Dy(), 1), nil
	}
	return nil, fmt.Errorf("vision: unknown encoding format %q", enc.Format)
}

// encodeRaw packs the w×h image whose row y is pix[y*stride:] into rows of
// w·bpp bytes (bpp 3: RGB from NRGBA pixels; 1: gray).
func encodeRaw(pix []byte, stride, w, h, bpp int) []byte {
	out := make([]byte, w*h*bpp)
	for y := 0; y < h; y++ {
		packRow(out[y*w*bpp:(y+1)*w*bpp], pix[y*stride:], w, bpp)
	}
	return out
}

// packRow writes w pixels of the row src into dst, bpp bytes each: RGB from
// 4-byte NRGBA pixels with the alpha skipped (bpp 3), or gray bytes as they
// are (bpp 1).
func packRow(dst, src []byte, w, bpp int) {
	if bpp == 1 {
		copy(dst, src[:w])
		return
	}
	for x, j := 0, 0; x < w; x, j = x+1, j+3 {
		s := src[4*x : 4*x+3 : 4*x+3]
		dst[j], dst[j+1], dst[j+2] = s[0], s[1], s[2]
	}
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
