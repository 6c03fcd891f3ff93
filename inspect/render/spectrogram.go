package render

import (
	"image"
	"image/color"
	"math"
)

// maxPixels bounds the images drawn from a row's stated shape, so that a
// corrupt mel_frames or width cannot ask for gigabytes.
const maxPixels = 1 << 24

// missing is the colour of cells a buffer shorter than its shape lacks, and
// of values that are not finite.
var missing = color.NRGBA{0x80, 0x80, 0x80, 0xff}

// viridis is matplotlib's viridis colour map sampled at nine evenly spaced
// points; its lightness rises steadily from dark purple to yellow, so
// brightness reads as value, also in greyscale and for colour-blind readers.
var viridis = [...][3]float64{
	{0x44, 0x01, 0x54},
	{0x47, 0x2c, 0x7a},
	{0x3b, 0x51, 0x8b},
	{0x2c, 0x71, 0x8e},
	{0x21, 0x90, 0x8d},
	{0x27, 0xad, 0x81},
	{0x5c, 0xc8, 0x63},
	{0xaa, 0xdc, 0x32},
	{0xfd, 0xe7, 0x25},
}

// colour maps t in [0, 1] onto viridis, interpolating between its samples.
func colour(t float64) color.NRGBA {
	t = min(max(t, 0), 1) * float64(len(viridis)-1)
	i := min(int(t), len(viridis)-2)
	f := t - float64(i)
	var c [3]uint8
	for k := range c {
		c[k] = uint8(viridis[i][k]*(1-f) + viridis[i+1][k]*f + 0.5)
	}
	return color.NRGBA{c[0], c[1], c[2], 0xff}
}

// Spectrogram draws a log-mel [frames][bins] (row-major: logMel[f*bins+b]) as
// a heat map frames wide and bins tall: time runs left to right and low
// frequencies are at the bottom, as in a spectrogram plot. Values are mapped
// onto a viridis colour map between lo and hi when lo < hi (values outside
// are clamped), otherwise between the smallest and largest finite value of
// the data; data that is all one value is drawn in the map's middle colour.
// Cells past the end of logMel and values that are NaN or infinite are grey.
// frames or bins < 1, or a shape of more than 16M cells, gives an empty image.
func Spectrogram(logMel []float32, frames, bins int, lo, hi float32) image.Image {
	if !shapeOK(frames, bins) {
		return image.NewNRGBA(image.Rectangle{})
	}
	n := min(len(logMel), frames*bins)
	low, high := float64(lo), float64(hi)
	if !(lo < hi) {
		low, high = math.Inf(1), math.Inf(-1)
		for _, v := range logMel[:n] {
			if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
				low, high = min(low, f), max(high, f)
			}
		}
	}
	img := image.NewNRGBA(image.Rect(0, 0, frames, bins))
	for f := range frames {
		for b := range bins {
			c := missing
			if i := f*bins + b; i < n {
				if v := float64(logMel[i]); !math.IsNaN(v) && !math.IsInf(v, 0) {
					t := 0.5
					if high > low {
						t = (v - low) / (high - low)
					}
					c = colour(t)
				}
			}
			img.SetNRGBA(f, bins-1-b, c)
		}
	}
	return img
}

// MaskImage draws a mask of w×h bytes (row-major, nonzero = masked or hole)
// as white on black. Cells past the end of mask are grey; w or h < 1, or more
// than 16M cells, gives an empty image.
func MaskImage(mask []byte, w, h int) image.Image {
	if !shapeOK(w, h) {
		return image.NewGray(image.Rectangle{})
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = cell(mask, i)
	}
	return img
}

// GridMask draws a [frames][bins] mask (row-major, nonzero = masked) in the
// orientation of Spectrogram, so that it lines up with the spectrogram of
// the same row: white where masked, black elsewhere, grey past the end of
// mask; frames or bins < 1, or more than 16M cells, gives an empty image.
func GridMask(mask []byte, frames, bins int) image.Image {
	if !shapeOK(frames, bins) {
		return image.NewGray(image.Rectangle{})
	}
	img := image.NewGray(image.Rect(0, 0, frames, bins))
	for f := range frames {
		for b := range bins {
			img.Pix[(bins-1-b)*img.Stride+f] = cell(mask, f*bins+b)
		}
	}
	return img
}

// cell is the grey level of mask cell i.
func cell(mask []byte, i int) uint8 {
	switch {
	case i >= len(mask):
		return missing.R
	case mask[i] != 0:
		return 0xff
	}
	return 0
}

// shapeOK reports whether a w×h image is worth drawing.
func shapeOK(w, h int) bool {
	return w >= 1 && h >= 1 && int64(w)*int64(h) <= maxPixels
}
