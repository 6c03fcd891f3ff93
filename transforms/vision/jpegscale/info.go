package jpegscale

import (
	"encoding/binary"
	"errors"
)

// Info is what a JPEG's markers say about the work of decoding it, read
// without decoding any scan.
type Info struct {
	Width, Height int
	// Components is 1 (gray), 3 (YCbCr or RGB) or 4 (CMYK or YCbCrK).
	Components int
	// H and V are each component's sampling factors, as the decoder
	// normalises them (a gray image's are 1).
	H, V [maxComponents]int
	// Progressive is set for SOF2 JPEGs: their coefficients are held
	// whole between scans.
	Progressive bool
	// Scans counts the SOS markers before EOI (or the end of the data).
	Scans int
	// RGB is set when the decoder returns an *image.RGBA for the three
	// components (Adobe RGB, or components named R, G, B): a copy at 4
	// bytes per pixel beside the planes.
	RGB bool
}

// errNoSOF is Inspect's error for data without a frame header before its
// first scan or its end.
var errNoSOF = errors.New("jpegscale: no SOF marker before the first scan")

// Inspect reads the markers of a JPEG: the frame header and, by a linear
// pass over the entropy-coded data, the number of scans. Inside a scan a
// 0xFF byte is always followed by 0x00 (a stuffed byte) or a restart
// marker, so the next marker is the first 0xFF followed by anything else.
// It allocates nothing and costs one pass over the bytes however many
// scans there are, so a JPEG with thousands of scans is judged before any
// of them is decoded.
func Inspect(data []byte) (Info, error) {
	var in Info
	if len(data) < 4 || data[0] != 0xFF || data[1] != soiMarker {
		return in, FormatError("missing SOI marker")
	}
	var jfif, adobe bool
	var adobeTransform byte
	var ids [maxComponents]byte
	i := 2
	for i+1 < len(data) {
		if data[i] != 0xFF {
			i++ // extraneous data, skipped as the decoder does
			continue
		}
		m := data[i+1]
		switch {
		case m == 0xFF || m == 0x00:
			i++
			continue
		case m == eoiMarker:
			return in, finishInfo(&in, jfif, adobe, adobeTransform, ids)
		case rst0Marker <= m && m <= rst7Marker:
			i += 2
			continue
		}
		if i+4 > len(data) {
			break
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			break
		}
		seg := data[i+4 : i+2+n]
		i += 2 + n
		switch m {
		case sof0Marker, sof1Marker, sof2Marker:
			if in.Components != 0 || len(seg) < 6 {
				return in, FormatError("bad SOF marker")
			}
			in.Progressive = m == sof2Marker
			in.Height = int(seg[1])<<8 | int(seg[2])
			in.Width = int(seg[3])<<8 | int(seg[4])
			nc := int(seg[5])
			if (nc != 1 && nc != 3 && nc != 4) || len(seg) < 6+3*nc {
				return in, UnsupportedError("number of components")
			}
			in.Components = nc
			for k := 0; k < nc; k++ {
				ids[k] = seg[6+3*k]
				in.H[k], in.V[k] = int(seg[7+3*k]>>4), int(seg[7+3*k]&0x0f)
				if in.H[k] < 1 || in.H[k] > 4 || in.V[k] < 1 || in.V[k] > 4 {
					return in, FormatError("luma/chroma subsampling ratio")
				}
			}
			if nc == 1 {
				in.H[0], in.V[0] = 1, 1
			}
		case app0Marker:
			jfif = jfif || len(seg) >= 5 && string(seg[:5]) == "JFIF\x00"
		case app14Marker:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				adobe, adobeTransform = true, seg[11]
			}
		case sosMarker:
			if in.Components == 0 {
				return in, errNoSOF
			}
			in.Scans++
			i = skipEntropyCoded(data, i)
		}
	}
	// Truncated: the decoder will fail on it, at no more than the cost of
	// the scans counted.
	return in, finishInfo(&in, jfif, adobe, adobeTransform, ids)
}

// skipEntropyCoded returns the index of the first marker at or after i
// other than a restart marker.
func skipEntropyCoded(data []byte, i int) int {
	for i+1 < len(data) {
		if data[i] != 0xFF {
			i++
			continue
		}
		if m := data[i+1]; m == 0x00 || m == 0xFF || (rst0Marker <= m && m <= rst7Marker) {
			i++
			continue
		}
		return i
	}
	return len(data)
}

func finishInfo(in *Info, jfif, adobe bool, transform byte, ids [maxComponents]byte) error {
	if in.Components == 0 {
		return errNoSOF
	}
	if in.Components == 3 && !jfif {
		in.RGB = adobe && transform == adobeTransformUnknown || ids[0] == 'R' && ids[1] == 'G' && ids[2] == 'B'
	}
	return nil
}

// DecodeBytes bounds from above what DecodeOptions allocates for this JPEG
// at Scale n: the image planes (at n/8, padded to whole MCUs), a
// progressive JPEG's coefficients (all components at full size, 2 bytes
// per coefficient), a CMYK JPEG's black plane and interleaved copy, an RGB
// JPEG's RGBA copy, and the decoder's fixed state. It is what a worker
// reserves before the decode and what image.max_decode_mb judges.
func (in Info) DecodeBytes(n int) int64 {
	switch n {
	case 1, 2, 4:
	default:
		n = 8
	}
	if in.Components == 4 {
		n = 8
	}
	hmax, vmax := 1, 1
	for k := 0; k < in.Components; k++ {
		hmax, vmax = max(hmax, in.H[k]), max(vmax, in.V[k])
	}
	h0, v0 := max(in.H[0], 1), max(in.V[0], 1)
	mxx := int64((in.Width + 8*h0 - 1) / (8 * h0))
	myy := int64((in.Height + 8*v0 - 1) / (8 * v0))
	// The padded plane of component 0 and the scaled size.
	pw, ph := int64(n*h0)*mxx, int64(n*v0)*myy
	sw, sh := int64(scaledSize(in.Width, n)), int64(scaledSize(in.Height, n))
	const fixed = 256 << 10 // the decoder struct, Huffman tables, buffers
	total := int64(fixed)
	if in.Components == 1 {
		total += pw * ph
	} else {
		// image.NewYCbCr: a luma plane and two chroma planes subsampled
		// by component 1's sampling factors relative to component 0's.
		h1, v1 := int64(max(in.H[1], 1)), int64(max(in.V[1], 1))
		cw := (pw*h1 + int64(h0) - 1) / int64(h0)
		ch := (ph*v1 + int64(v0) - 1) / int64(v0)
		total += pw*ph + 2*cw*ch
	}
	if in.Progressive {
		var blocks int64
		for k := 0; k < in.Components; k++ {
			h, v := int64(in.H[k]), int64(in.V[k])
			if in.Components == 1 {
				h, v = 1, 1
			}
			blocks += mxx * myy * h * v
		}
		total += blocks * 2 * blockSize
	}
	switch {
	case in.Components == 4:
		total += int64(8*hmax)*mxx*int64(8*vmax)*myy + 4*sw*sh // black plane, CMYK or RGBA copy
	case in.Components == 3 && in.RGB:
		total += 4 * sw * sh
	}
	return total
}
