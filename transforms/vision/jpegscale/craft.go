package jpegscale

import "encoding/binary"

// FlatProgressive writes a w×h progressive YCbCr JPEG of one flat grey, as
// small as a progressive JPEG can be: a DC scan of zero differences, then
// acScans AC scans (Ss=1, Se=63), taking the three components in turn,
// each covering every block with end-of-band runs (a few bytes per scan
// however large the image). Chroma is 4:2:0 when sub420 is set, else
// 4:4:4. Go has no progressive encoder: this is the fixture of the tests
// and benchmarks of decode budgets (large images, many scans) that would
// otherwise need files committed.
func FlatProgressive(w, h int, sub420 bool, acScans int) []byte {
	hv := byte(0x11)
	hmax := 1
	if sub420 {
		hv, hmax = 0x22, 2
	}
	out := []byte{0xFF, soiMarker}
	seg := func(marker byte, body []byte) {
		out = append(out, 0xFF, marker)
		out = binary.BigEndian.AppendUint16(out, uint16(len(body)+2))
		out = append(out, body...)
	}
	dqt := make([]byte, 65)
	for i := 1; i < 65; i++ {
		dqt[i] = 1
	}
	seg(dqtMarker, dqt)
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3, 1, hv, 0, 2, 0x11, 0, 3, 0x11, 0}
	seg(sof2Marker, sof)
	// DC table 0: one code, "0", for category 0 (a zero difference).
	dht := append([]byte{0x00, 1}, make([]byte, 15)...)
	dht = append(dht, 0)
	// AC table 0: the 15 end-of-band runs EOB0..EOB14 (symbols 0x00..0xE0),
	// 4-bit codes 0..14 in that order.
	dht = append(dht, 0x10, 0, 0, 0, 15)
	dht = append(dht, make([]byte, 12)...)
	for k := 0; k < 15; k++ {
		dht = append(dht, byte(k<<4))
	}
	seg(dhtMarker, dht)

	mcux, mcuy := (w+8*hmax-1)/(8*hmax), (h+8*hmax-1)/(8*hmax)
	// DC scan, interleaved: one 0 bit per block.
	seg(sosMarker, []byte{3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 0, 0})
	var bw bitWriter
	for range mcux * mcuy * (hmax*hmax + 2) {
		bw.put(0, 1)
	}
	out = bw.flush(out)
	// AC scans, one component each: every block in end-of-band runs.
	for s := 0; s < acScans; s++ {
		c := s % 3
		cw, ch := w, h
		if c > 0 {
			cw, ch = (w+hmax-1)/hmax, (h+hmax-1)/hmax
		}
		seg(sosMarker, []byte{1, byte(c + 1), 0x00, 1, 63, 0})
		blocks := ((cw + 7) / 8) * ((ch + 7) / 8)
		for blocks > 0 {
			r := min(blocks, 1<<15-1)
			k := 0
			for 1<<(k+1) <= r {
				k++
			}
			bw.put(uint32(k), 4)
			bw.put(uint32(r-1<<k), k)
			blocks -= r
		}
		out = bw.flush(out)
	}
	return append(out, 0xFF, eoiMarker)
}

// bitWriter packs Huffman codes most significant bit first.
type bitWriter struct {
	buf   []byte
	acc   uint64
	nbits int
}

func (b *bitWriter) put(v uint32, n int) {
	b.acc = b.acc<<n | uint64(v)&(1<<n-1)
	b.nbits += n
	for b.nbits >= 8 {
		x := byte(b.acc >> (b.nbits - 8))
		b.buf = append(b.buf, x)
		if x == 0xFF {
			b.buf = append(b.buf, 0) // byte stuffing
		}
		b.nbits -= 8
	}
}

// flush pads the last byte with 1 bits and appends the scan's data to out.
func (b *bitWriter) flush(out []byte) []byte {
	if b.nbits > 0 {
		b.put(1<<(8-b.nbits)-1, 8-b.nbits)
	}
	out = append(out, b.buf...)
	b.buf, b.acc, b.nbits = b.buf[:0], 0, 0
	return out
}
