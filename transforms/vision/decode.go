package vision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	_ "image/jpeg" // registers JPEG for image.DecodeConfig
	"image/png"
	"io"
	"time"

	"github.com/disintegration/imaging"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/vision/jpegscale"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// DecodeLimits bound the work Decode may do on one input.
type DecodeLimits struct {
	// MaxPixels rejects an image whose header claims more than width×height
	// pixels, before any pixel is decoded (decompression bombs). 0: no limit.
	MaxPixels int64
	// MaxBytes rejects encoded input longer than this. 0: no limit.
	MaxBytes int64
	// MaxDecodeBytes rejects an image whose decode would allocate more
	// than this (the decoder's image and buffers, judged from the header;
	// see PlanInput), before anything is allocated. 0: no limit.
	MaxDecodeBytes int64
	// MaxScans rejects a JPEG of more scans before decoding any. 0: no limit.
	MaxScans int
	// Deadline, when not zero, stops a decode past it (ReasonTimeout).
	Deadline time.Time
}

// Reason codes of a decode failure (a transforms.InputError). They are stable: they name Beam counters
// and the reason column of dead letters.
const (
	ReasonEmptyFile     = "empty_file"
	ReasonTooLargeFile  = "too_large_file"
	ReasonUnknownFormat = "unknown_format"
	ReasonPixelLimit    = "pixel_limit"
	ReasonDecodeError   = "decode_error"
	ReasonDecoderPanic  = "decoder_panic"
	ReasonZeroSize      = "zero_size"
	// ReasonTooLargeDecode: the decode would hold more than
	// image.max_decode_mb, judged from the header.
	ReasonTooLargeDecode = "too_large_decode"
	// ReasonTooManyScans: a JPEG of more scans than image.max_scans.
	ReasonTooManyScans = "too_many_scans"
	// ReasonTimeout: the decode or labelling ran past image.timeout_s.
	ReasonTimeout = "timeout"
)

// Decode decodes a JPEG, PNG, GIF (first frame only), BMP, TIFF or WebP image
// and returns it as *image.NRGBA with its origin at (0,0), together with the
// format's name ("jpeg", "png", "gif", "bmp", "tiff", "webp").
//
// The header is read first and an image over lim.MaxPixels is rejected
// before its pixels are allocated. A JPEG's EXIF orientation (tag 0x0112,
// values 2..8) is applied, so width and height are those a viewer shows.
// A decoder panic is recovered. Every failure caused by the input is a
// *transforms.InputError.
func Decode(data []byte, lim DecodeLimits) (img *image.NRGBA, format string, err error) {
	m, format, _, _, err := decode(data, lim, nil)
	if err != nil {
		return nil, format, err
	}
	return toNRGBA(m), format, nil
}

// DecodeForResize is Decode for an image that Resize(img, mode, size, _)
// makes smaller next: a JPEG is decoded at the smallest of 1/8, 1/4 and 1/2
// of its size that still leaves the side Resize scales to (the shorter side
// for center_crop and keep_ratio, the longer for border) at least size
// pixels, by DCT scaling as libjpeg and Pillow's draft mode do (package
// jpegscale). That skips most of the inverse DCT, colour conversion and
// resampling of a large photo. Other formats, and JPEGs too small to scale,
// decode as Decode does.
//
// w and h are the image's full size from its header, after EXIF
// orientation: the size filters must judge, whatever the scale decoded.
func DecodeForResize(data []byte, lim DecodeLimits, mode string, size int) (img *image.NRGBA, format string, w, h int, err error) {
	m, format, w, h, err := decodeForResize(data, lim, mode, size)
	if err != nil {
		return nil, format, 0, 0, err
	}
	return toNRGBA(m), format, w, h, nil
}

// decodeForResize is DecodeForResize leaving a JPEG as its decoder's image
// (see decode), for resize to convert.
func decodeForResize(data []byte, lim DecodeLimits, mode string, size int) (m image.Image, format string, w, h int, err error) {
	return decode(data, lim, func(w, h int) int { return jpegScale(w, h, mode, size) })
}

// jpegScale is the smallest n in 1, 2, 4 for which a decode at n/8 of w×h
// keeps the side Resize scales to at least size pixels, or 8.
func jpegScale(w, h int, mode string, size int) int {
	if mode != "center_crop" && mode != "keep_ratio" && mode != "border" {
		return 8
	}
	for _, n := range []int{1, 2, 4} {
		sw, sh := jpegscale.ScaledSize(w, n), jpegscale.ScaledSize(h, n)
		side := min(sw, sh)
		if mode == "border" {
			side = max(sw, sh)
		}
		if side >= size {
			return n
		}
	}
	return 8
}

// decode is Decode; scale, when not nil, picks the n/8 scale of a JPEG from
// its full width and height. The image is the decoder's own (an
// *image.YCbCr, *image.Gray, *image.NRGBA64, *image.Paletted...: toNRGBA
// or resize convert it — resize only the pixels it keeps, without a
// full-size copy), except for a JPEG turned by its EXIF orientation: that
// is an *image.NRGBA at the origin. lim.MaxDecodeBytes judges the
// decoder's bytes and a conversion of the result to NRGBA.
func decode(data []byte, lim DecodeLimits, scale func(w, h int) int) (img image.Image, format string, w, h int, err error) {
	hd, err := safeProbe(data, lim, scale)
	if err != nil {
		return nil, hd.format, 0, 0, err
	}
	if need := hd.decodeBytes + 4*int64(hd.sw)*int64(hd.sh); lim.MaxDecodeBytes > 0 && need > lim.MaxDecodeBytes {
		return nil, hd.format, 0, 0, transforms.DecodeError(ReasonTooLargeDecode, fmt.Sprintf("%s %dx%d: decoding it would hold %d bytes > %d", hd.format, hd.w, hd.h, need, lim.MaxDecodeBytes))
	}
	return decodeProbed(data, hd, lim)
}

// decodeProbed decodes data as probe judged it. w and h are the full size
// from the header, after EXIF orientation.
func decodeProbed(data []byte, hd header, lim DecodeLimits) (img image.Image, format string, w, h int, err error) {
	format = hd.format
	defer func() {
		if r := recover(); r != nil {
			img, w, h, err = nil, 0, 0, transforms.DecodeError(ReasonDecoderPanic, fmt.Sprint(r))
		}
	}()
	var m image.Image
	var dr *deadlineReader
	if format == "jpeg" {
		// jpegscale at full size decodes exactly as image/jpeg (its tests
		// check), with a faster entropy decoder.
		m, err = jpegscale.DecodeOptions(bytes.NewReader(data), jpegscale.Options{Scale: hd.n, MaxScans: lim.MaxScans, Deadline: lim.Deadline})
	} else {
		var r io.Reader = bytes.NewReader(data)
		if !lim.Deadline.IsZero() {
			dr = &deadlineReader{r: bytes.NewReader(data), deadline: lim.Deadline}
			r = dr
		}
		m, err = decoders[format](r)
	}
	switch {
	case errors.Is(err, jpegscale.ErrDeadline), errors.Is(err, errDeadline), dr != nil && dr.expired:
		return nil, format, 0, 0, transforms.DecodeError(ReasonTimeout, fmt.Sprintf("%s %dx%d: decode past its deadline (image.timeout_s)", format, hd.w, hd.h))
	case errors.Is(err, jpegscale.ErrTooManyScans):
		return nil, format, 0, 0, transforms.DecodeError(ReasonTooManyScans, fmt.Sprintf("more than %d scans", lim.MaxScans))
	case err != nil:
		return nil, format, 0, 0, transforms.DecodeError(ReasonDecodeError, format+": "+err.Error())
	}
	if b := m.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, format, 0, 0, transforms.DecodeError(ReasonZeroSize, fmt.Sprintf("%s %dx%d", format, b.Dx(), b.Dy()))
	}
	w, h = hd.w, hd.h
	if hd.orient < 2 {
		return m, format, w, h, nil
	}
	if hd.orient >= 5 { // the transposing orientations swap the sides
		w, h = h, w
	}
	return orient(toNRGBA(m), hd.orient), format, w, h, nil
}

// decoders decode the formats image.DecodeConfig recognises, called by
// name so that TIFF's decoder reads through deadlineReader's ReadAt rather
// than a copy of the input (image.Decode would wrap it in a bufio.Reader).
var decoders = map[string]func(io.Reader) (image.Image, error){
	"png": png.Decode,
	"gif": gif.Decode, // the first frame only
	"bmp": bmp.Decode, "tiff": tiff.Decode, "webp": webp.Decode,
}

// sniff describes the first bytes of an input of unknown format, so a dead
// letter says what the file was instead (an HTML error page, a text file).
func sniff(data []byte) string {
	n := min(len(data), 8)
	return fmt.Sprintf("%d bytes starting %q", len(data), data[:n])
}

// toNRGBA converts m to a fresh *image.NRGBA at the origin. An *image.NRGBA
// at the origin is returned as is: the decoders return fresh images.
func toNRGBA(m image.Image) *image.NRGBA {
	b := m.Bounds()
	switch src := m.(type) {
	case *image.NRGBA:
		if b.Min == (image.Point{}) {
			return src
		}
	case *image.YCbCr:
		// YCbCr is opaque, so its RGBA and NRGBA bytes agree, and image/draw
		// has a fast YCbCr→RGBA path.
		dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(dst, dst.Rect, src, b.Min, draw.Src)
		return &image.NRGBA{Pix: dst.Pix, Stride: dst.Stride, Rect: dst.Rect}
	case *image.Gray:
		dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+b.Dx()]
			out := dst.Pix[y*dst.Stride : y*dst.Stride+4*b.Dx()]
			for x, v := range row {
				out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = v, v, v, 255
			}
		}
		return dst
	}
	return imaging.Clone(m) // RGBA (un-premultiplied), paletted, 16-bit, CMYK...
}

// orient applies an EXIF orientation: the transform that makes the stored
// pixels look as the camera saw them.
func orient(img *image.NRGBA, o int) *image.NRGBA {
	switch o {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img) // 90° clockwise
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img) // 90° counter-clockwise
	}
	return img
}

// exifOrientation returns the orientation tag (1..8) of a JPEG's EXIF APP1
// segment, or 1 when there is none or it is malformed. It reads only inside
// data with checked offsets and every loop advances, so garbage can neither
// panic nor loop.
func exifOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return 1
		}
		m := data[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0x01 || (m >= 0xD0 && m <= 0xD8): // markers without a length
			i += 2
			continue
		case m == 0xDA || m == 0xD9: // start of scan, end of image: no EXIF before
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 1
		}
		seg := data[i+4 : i+2+n]
		if m == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			if o := tiffOrientation(seg[6:]); o != 0 {
				return o
			}
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF structure, or 0.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 0
	}
	n := int64(bo.Uint16(t[off:]))
	for k := int64(0); k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > int64(len(t)) {
			return 0
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		if typ := bo.Uint16(t[e+2:]); typ != 3 || bo.Uint32(t[e+4:]) < 1 { // SHORT, count >= 1
			return 0
		}
		if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 0
	}
	return 0
}
