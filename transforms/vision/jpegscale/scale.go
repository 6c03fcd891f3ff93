package jpegscale

import (
	"errors"
	"image"
	"io"
	"math"
	"sync"
	"time"
)

// DecodeScaled decodes a JPEG at n/8 of its size, n being 8, 4, 2 or 1 (any
// other n means 8). The image is ceil(width·n/8) × ceil(height·n/8) pixels,
// as libjpeg's. It returns an *image.YCbCr, an *image.Gray, an *image.RGBA
// (Adobe RGB JPEGs) or, at full size only, an *image.CMYK.
func DecodeScaled(r io.Reader, n int) (image.Image, error) {
	return DecodeOptions(r, Options{Scale: n})
}

// Options bound and shape one decode.
type Options struct {
	// Scale is n of a decode at n/8 of the image's size: 8, 4, 2 or 1 (any
	// other value means 8).
	Scale int
	// MaxScans, when > 0, stops the decode at its scan number MaxScans+1
	// with ErrTooManyScans: each scan of a progressive JPEG is a pass over
	// every block of its components, so scans, not bytes, bound its time.
	MaxScans int
	// Deadline, when not zero, is checked before each row of MCUs of a
	// scan and each row of blocks of the final reconstruction; past it the
	// decode stops with ErrDeadline.
	Deadline time.Time
}

// ErrTooManyScans is DecodeOptions' error for a JPEG of more than
// Options.MaxScans scans.
var ErrTooManyScans = errors.New("jpegscale: too many scans")

// ErrDeadline is DecodeOptions' error past Options.Deadline.
var ErrDeadline = errors.New("jpegscale: deadline passed")

// DecodeOptions decodes a JPEG as o asks; see DecodeScaled.
func DecodeOptions(r io.Reader, o Options) (image.Image, error) {
	var d decoder
	switch o.Scale {
	case 1, 2, 4:
		d.n = o.Scale
	default:
		d.n = 8
	}
	d.maxScans, d.deadline = o.MaxScans, o.Deadline
	m, err := d.decode(r, false)
	d.putCoeffs()
	return m, err
}

// coeffPool recycles the coefficient buffers of progressive JPEGs (128
// bytes per 8×8 block: 11.5 MB for a 2560×1600 4:2:0 photo). A fresh one
// per decode cost about a tenth of decoding the bench photos in page
// faults and clearing. Buffers over maxPooledCoeffs are left to the GC, so
// what the pool keeps between decodes stays small beside a worker's
// memory budget, which counts only decodes in flight.
var coeffPool sync.Pool // of *[]coeffBlock

// maxPooledCoeffs is the most blocks a pooled buffer holds: 16 MiB, the Y
// plane of an 8-megapixel photo.
const maxPooledCoeffs = 16 << 20 / (2 * blockSize)

// getCoeffs returns n zeroed blocks.
func getCoeffs(n int) []coeffBlock {
	if p, _ := coeffPool.Get().(*[]coeffBlock); p != nil && cap(*p) >= n {
		c := (*p)[:n]
		clear(c)
		return c
	}
	return make([]coeffBlock, n)
}

// putCoeffs hands d's coefficient buffers back to coeffPool.
func (d *decoder) putCoeffs() {
	for i, c := range d.progCoeffs {
		if c != nil && cap(c) <= maxPooledCoeffs {
			coeffPool.Put(&c)
		}
		d.progCoeffs[i] = nil
	}
}

// ScaledSize is the side a decode at n/8 of a side of v pixels gives.
func ScaledSize(v, n int) int { return scaledSize(v, n) }

func scaledSize(v, n int) int { return (v*n + 7) / 8 }

// idctTables[n] holds, for a scaled decode to n×n blocks, the Q15
// fixed-point weights w[x][u] = C(u)/2 · mean over j < k of
// cos((2(kx+j)+1)uπ/16), k = 8/n, C(0) = 1/√2, C(u>0) = 1: the 8-point
// inverse DCT averaged over the k pixels that make output pixel x.
//
// An n×n block is then f(y,x) = Σv Σu w[y][v]·w[x][u]·F(v,u) over all 64
// coefficients: exactly the full 8×8 inverse DCT averaged over k×k boxes
// (before rounding and clipping), computed without the full-size block. It
// is what libjpeg's reduced inverse DCTs approximate too.
var idctTables = func() (t [5][4][8]int64) {
	for _, n := range []int{2, 4} {
		k := 8 / n
		for x := 0; x < n; x++ {
			for u := 0; u < 8; u++ {
				c := 1.0
				if u == 0 {
					c = 1 / math.Sqrt2
				}
				var m float64
				for j := 0; j < k; j++ {
					m += math.Cos(float64((2*(k*x+j)+1)*u) * math.Pi / 16)
				}
				w := c / 2 * m / float64(k)
				t[n][x][u] = int64(math.Round(w * (1 << 15)))
			}
		}
	}
	return t
}()

// idctScaled replaces the first n×n entries of b, row-major, by the n×n
// block of b's quantised coefficients (natural order), dequantised by q
// (natural order), without the +128 level shift. Output pixel x and n-1-x
// use the same weights up to the sign of the odd frequencies, so each pair
// is one even and one odd sum; all-zero rows (most high-frequency rows)
// are skipped.
func idctScaled(b *block, n int, q *block) {
	if n == 1 {
		// The mean of the 8×8 block is F(0,0)/8, rounded half up.
		b[0] = (b[0]*q[0] + 4) >> 3
		return
	}
	w := &idctTables[n]
	half := n / 2
	var tmp [8][4]int64 // tmp[v][x]: rows transformed, Q15
	var rows uint8      // bit v: row v has a non-zero coefficient
	for v := 0; v < 8; v++ {
		row := (*[8]int32)(b[8*v : 8*v+8])
		if row[0]|row[1]|row[2]|row[3]|row[4]|row[5]|row[6]|row[7] == 0 {
			continue
		}
		rows |= 1 << v
		qr := (*[8]int32)(q[8*v : 8*v+8])
		f0, f1 := int64(row[0])*int64(qr[0]), int64(row[1])*int64(qr[1])
		f2, f3 := int64(row[2])*int64(qr[2]), int64(row[3])*int64(qr[3])
		f4, f5 := int64(row[4])*int64(qr[4]), int64(row[5])*int64(qr[5])
		f6, f7 := int64(row[6])*int64(qr[6]), int64(row[7])*int64(qr[7])
		for x := 0; x < half; x++ {
			wx := &w[x]
			even := wx[0]*f0 + wx[2]*f2 + wx[4]*f4 + wx[6]*f6
			odd := wx[1]*f1 + wx[3]*f3 + wx[5]*f5 + wx[7]*f7
			tmp[v][x], tmp[v][n-1-x] = even+odd, even-odd
		}
	}
	if rows <= 1 && b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] == 0 {
		// Only the DC coefficient (or none): every output is the same
		// sum the general case would compute, w[0][0]·w[0][0]·F(0,0).
		c := int32((w[0][0]*(w[0][0]*int64(b[0])*int64(q[0])) + 1<<29) >> 30)
		for i := range n * n {
			b[i] = c
		}
		return
	}
	for x := 0; x < n; x++ {
		var c [8]int64
		for v := 0; v < 8; v++ {
			if rows&(1<<v) != 0 {
				c[v] = tmp[v][x]
			}
		}
		for y := 0; y < half; y++ {
			wy := &w[y]
			even := wy[0]*c[0] + wy[2]*c[2] + wy[4]*c[4] + wy[6]*c[6]
			odd := wy[1]*c[1] + wy[3]*c[3] + wy[5]*c[5] + wy[7]*c[7]
			b[y*n+x] = int32((even + odd + 1<<29) >> 30)
			b[(n-1-y)*n+x] = int32((even - odd + 1<<29) >> 30)
		}
	}
}
