#!/bin/sh
# Regenerates testdata/bad/: small hostile inputs of every modality that the
# pipelines must turn into dead letters (pipelines/bad_test.go says which
# reason each one gets). Deterministic: running it twice gives the same bytes.
# The 200 MB single-line text file is not here: the test writes it into its
# temporary folder.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/main.go" <<'GO'
package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
)

func write(name string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		panic(err)
	}
}

func read(name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// pngChunk frames a PNG chunk with its length and CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngHeader is a PNG signature and IHDR claiming w×h 8-bit RGB, then an
// IDAT with a few bytes: a decompression bomb's header, without the bomb.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, pngChunk("IHDR", ihdr)...)
	b = append(b, pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00})...)
	return b
}

// jpegHeader is SOI, a JFIF APP0, a baseline SOF0 claiming w×h with 3 components, and
// EOI: enough for a header check, nothing to decode.
func jpegHeader(w, h uint16) []byte {
	sof := []byte{0xFF, 0xC0, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1}
	b := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	b = append(b, sof...)
	return append(b, 0xFF, 0xD9)
}

func gradient(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return img
}

// manyFrames is an animated GIF: a 64×64 first frame and n-1 one-pixel
// frames after it.
func manyFrames(n int) []byte {
	first := image.NewPaletted(image.Rect(0, 0, 64, 64), palette.Plan9)
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			first.SetColorIndex(x, y, uint8((x/8+y/8)*16))
		}
	}
	g := &gif.GIF{Image: []*image.Paletted{first}, Delay: []int{1},
		Config: image.Config{ColorModel: color.Palette(palette.Plan9), Width: 64, Height: 64}}
	for i := 1; i < n; i++ {
		f := image.NewPaletted(image.Rect(i%64, (i/64)%64, i%64+1, (i/64)%64+1), palette.Plan9)
		f.Pix[0] = uint8(i)
		g.Image = append(g.Image, f)
		g.Delay = append(g.Delay, 1)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// wav is a RIFF/WAVE file of 16-bit PCM; claim, when not 0, is the size
// the data chunk's header states.
func wav(channels, rate int, samples []int16, claim uint32) []byte {
	data := new(bytes.Buffer)
	binary.Write(data, binary.LittleEndian, samples)
	size := uint32(data.Len())
	if claim != 0 {
		size = claim
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(channels), uint32(rate),
		uint32(rate * max(channels, 1) * 2), uint16(max(channels, 1) * 2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, size)
	b.Write(data.Bytes())
	return b.Bytes()
}

func tone(n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16((i%40 - 20) * 800)
	}
	return s
}

// box is an ISO BMFF box.
func box(typ string, payload ...[]byte) []byte {
	p := bytes.Join(payload, nil)
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(p)))
	return append(append(b, typ...), p...)
}

// noStreams is a valid MP4 whose movie has a header and no track.
func noStreams() []byte {
	ftyp := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2mp41"))
	mvhd := binary.BigEndian.AppendUint32(nil, 0)                 // version, flags
	mvhd = binary.BigEndian.AppendUint32(mvhd, 0)                 // creation
	mvhd = binary.BigEndian.AppendUint32(mvhd, 0)                 // modification
	mvhd = binary.BigEndian.AppendUint32(mvhd, 1000)              // timescale
	mvhd = binary.BigEndian.AppendUint32(mvhd, 1000)              // duration: 1 s
	mvhd = binary.BigEndian.AppendUint32(mvhd, 0x10000)           // rate
	mvhd = append(binary.BigEndian.AppendUint16(mvhd, 0x100), make([]byte, 10)...) // volume, reserved
	for _, v := range []uint32{0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000} {
		mvhd = binary.BigEndian.AppendUint32(mvhd, v)
	}
	mvhd = append(mvhd, make([]byte, 24)...)
	mvhd = binary.BigEndian.AppendUint32(mvhd, 1) // next track id
	return append(ftyp, box("moov", box("mvhd", mvhd))...)
}

func main() {
	const dir = "testdata/bad"
	photo := read("testdata/images/photos/flower.jpg")
	var pngBuf, jpgBuf bytes.Buffer
	png.Encode(&pngBuf, gradient(96, 64))
	jpeg.Encode(&jpgBuf, gradient(96, 64), &jpeg.Options{Quality: 90})
	var gifBuf bytes.Buffer
	gif.Encode(&gifBuf, gradient(96, 64), nil)

	img := filepath.Join(dir, "images")
	write(filepath.Join(img, "empty.png"), nil)
	write(filepath.Join(img, "huge-60000x60000.png"), pngHeader(60000, 60000))
	write(filepath.Join(img, "huge-60000x60000.jpg"), jpegHeader(60000, 60000))
	write(filepath.Join(img, "zero-width.png"), pngHeader(0, 64))
	write(filepath.Join(img, "truncated.png"), pngBuf.Bytes()[:pngBuf.Len()/2])
	write(filepath.Join(img, "truncated.jpg"), photo[:len(photo)/3])
	write(filepath.Join(img, "truncated.gif"), gifBuf.Bytes()[:gifBuf.Len()/2])
	// A JPEG whose quantization table marker is damaged: the header parses,
	// the scan cannot.
	corrupt := bytes.Clone(jpgBuf.Bytes())
	if i := bytes.Index(corrupt, []byte{0xFF, 0xC4}); i > 0 { // first Huffman table
		for k := i + 4; k < i+40 && k < len(corrupt); k++ {
			corrupt[k] = 0xFF
		}
	}
	write(filepath.Join(img, "corrupt-huffman.jpg"), corrupt)
	write(filepath.Join(img, "text.jpg"), []byte("<html><body>404 Not Found</body></html>\n"))
	write(filepath.Join(img, "frames-3000.gif"), manyFrames(3000))
	// Good content under the wrong extension: labeled like any image.
	write(filepath.Join(img, "png-named.jpg"), pngBuf.Bytes())

	txt := filepath.Join(dir, "text")
	write(filepath.Join(txt, "empty.txt"), nil)
	write(filepath.Join(txt, "latin1.txt"), []byte("Caf\xe9 au lait, cr\xe8me br\xfbl\xe9e.\nIt was good.\n"))
	write(filepath.Join(txt, "nul-bytes.txt"), []byte("Call me Ishmael.\x00\x00 Some years ago\x00 never mind how long.\n\x00\x00\x00\n"))
	write(filepath.Join(txt, "only-nul.txt"), bytes.Repeat([]byte{0}, 4096))
	write(filepath.Join(txt, "png-named.txt"), pngBuf.Bytes())

	aud := filepath.Join(dir, "audio")
	write(filepath.Join(aud, "empty.wav"), nil)
	full := wav(1, 16000, tone(16000), 0)
	write(filepath.Join(aud, "claims-more-data.wav"), wav(1, 16000, tone(4000), 16000*2*600))
	write(filepath.Join(aud, "claims-4gib.wav"), wav(1, 16000, tone(4000), 0xFFFFFFF0))
	write(filepath.Join(aud, "zero-channels.wav"), wav(0, 16000, tone(4000), 0))
	write(filepath.Join(aud, "truncated-header.wav"), full[:30])
	write(filepath.Join(aud, "rate-4ghz.wav"), func() []byte {
		b := wav(1, 16000, tone(4000), 0)
		binary.LittleEndian.PutUint32(b[24:], 4_000_000_000)
		return b
	}())
	write(filepath.Join(aud, "text.wav"), []byte("this is not audio at all\n"))
	write(filepath.Join(aud, "png-named.mp3"), pngBuf.Bytes())

	vid := filepath.Join(dir, "video")
	write(filepath.Join(vid, "empty.mp4"), nil)
	write(filepath.Join(vid, "no-streams.mp4"), noStreams())
	clip := read("testdata/video/chelsea-pan.mp4")
	write(filepath.Join(vid, "truncated.mp4"), clip[:len(clip)/4])
	write(filepath.Join(vid, "text.mp4"), []byte("<html><body>403 Forbidden</body></html>\n"))
	write(filepath.Join(vid, "jpeg-named.mp4"), jpgBuf.Bytes())
}
GO
(cd "$tmp" && go mod init badcorpus >/dev/null 2>&1 && go build -o gen .)
rm -rf testdata/bad
"$tmp/gen"
find testdata/bad -type f | sort | xargs ls -l
