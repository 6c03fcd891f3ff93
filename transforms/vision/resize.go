package vision

import (
	"image"
	"math"

	"github.com/disintegration/imaging"
)

// ResizeModes are the values of a resize mode, as in img2dataset.
var ResizeModes = []string{"center_crop", "keep_ratio", "border", "no"}

// Filters are the names of the resampling filters Resize accepts.
var Filters = []string{"lanczos", "catmullrom", "linear", "box", "nearest"}

var filters = map[string]imaging.ResampleFilter{
	"lanczos":    imaging.Lanczos,
	"catmullrom": imaging.CatmullRom,
	"linear":     imaging.Linear,
	"box":        imaging.Box,
	"nearest":    imaging.NearestNeighbor,
}

// Resize brings img to size as img2dataset does:
//
//   - "center_crop": scale so the shorter side is size, then keep the central size×size;
//   - "keep_ratio": scale so the shorter side is size, keeping the aspect ratio;
//   - "border": scale so the longer side is size, then centre it on a black size×size canvas;
//   - "no": unchanged.
//
// Images are scaled up as well as down. mode and filter are expected to be
// validated by the config; an unknown mode or a size < 1 returns img, an
// unknown filter means lanczos. The result may be img itself when nothing
// changes: callers must not modify it.
func Resize(img *image.NRGBA, mode string, size int, filter string) *image.NRGBA {
	return resize(img, mode, size, filter)
}

// resize is Resize for img an *image.NRGBA at the origin or a decoder's
// image: imaging reads it through its scanner, converting only the pixels
// it keeps (a centre crop drops a third of a 3:2 photo) — for YCbCr and
// Gray with the arithmetic of toNRGBA's fast paths, for other types as
// toNRGBA's imaging.Clone does — so the result is Resize(toNRGBA(img)),
// without a full-size RGBA copy.
func resize(img image.Image, mode string, size int, filter string) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if size < 1 || w < 1 || h < 1 {
		return toNRGBA(img)
	}
	f, ok := filters[filter]
	if !ok {
		f = imaging.Lanczos
	}
	switch mode {
	case "center_crop":
		if w == size && h == size {
			return toNRGBA(img)
		}
		return fill(img, size, f)
	case "keep_ratio":
		nw, nh := scaleSides(w, h, size, min(w, h))
		return scale(img, nw, nh, f)
	case "border":
		nw, nh := scaleSides(w, h, size, max(w, h))
		if nw == size && nh == size {
			return scale(img, nw, nh, f)
		}
		return pad(scale(img, nw, nh, f), size)
	}
	return toNRGBA(img)
}

// fill is imaging.Fill(img, size, size, imaging.Center, f) without its
// copy of the kept part: from 100 px up Fill crops the centre to a
// square (a whole copy of a square image) and then resizes it; fill
// resizes a sub-image of the same rectangle, read through imaging's
// scanner as the copy would be, so the pixels are Fill's.
func fill(img image.Image, size int, f imaging.ResampleFilter) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if w < 100 || h < 100 || !ok {
		return imaging.Fill(img, size, size, imaging.Center, f)
	}
	// imaging's cropAndResize and CropAnchor(…, imaging.Center), for a
	// square target.
	cw, ch := w, h
	if w < h {
		ch = int(math.Max(1, float64(w)) + 0.5)
	} else {
		cw = int(math.Max(1, float64(h)) + 0.5)
	}
	pt := image.Pt(b.Min.X+(w-cw)/2, b.Min.Y+(h-ch)/2)
	r := image.Rect(0, 0, cw, ch).Add(pt).Intersect(b)
	return imaging.Resize(sub.SubImage(r), size, size, f)
}

// scaleSides returns w×h scaled by size/ref, each side at least 1 pixel.
func scaleSides(w, h, size, ref int) (int, int) {
	s := float64(size) / float64(ref)
	return max(1, int(math.Round(float64(w)*s))), max(1, int(math.Round(float64(h)*s)))
}

func scale(img image.Image, w, h int, f imaging.ResampleFilter) *image.NRGBA {
	if b := img.Bounds(); w == b.Dx() && h == b.Dy() {
		return toNRGBA(img)
	}
	return imaging.Resize(img, w, h, f)
}

// pad centres img on an opaque black size×size canvas.
func pad(img *image.NRGBA, size int) *image.NRGBA {
	dst := image.NewNRGBA(image.Rect(0, 0, size, size))
	for i := 3; i < len(dst.Pix); i += 4 {
		dst.Pix[i] = 255
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	x0, y0 := (size-w)/2, (size-h)/2
	for y := 0; y < h; y++ {
		src := img.Pix[y*img.Stride : y*img.Stride+4*w]
		copy(dst.Pix[(y0+y)*dst.Stride+4*x0:], src)
	}
	return dst
}
