// Package jpegscale decodes baseline and progressive JPEGs at full size or
// at 1/2, 1/4 or 1/8 of it, as libjpeg's DCT scaling (scale_num/scale_denom)
// and Pillow's draft mode do: each 8×8 block of DCT coefficients becomes an
// n×n block of pixels through an n-point inverse DCT of its n×n
// lowest-frequency coefficients, so neither the full-size inverse DCT nor the
// colour conversion and resampling of full-size pixels is paid for when the
// image is to be made much smaller anyway.
//
// It is a fork of Go's image/jpeg decoder (BSD-licensed, see LICENSE); at
// full size its output is that of image/jpeg, pixel for pixel. The scaled
// inverse DCT is integer fixed-point arithmetic, so the pixels are the same
// on every architecture. CMYK and YCbCrK JPEGs are always decoded at full
// size.
package jpegscale
