package vision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"time"

	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/vision/jpegscale"
)

// The budget of one input: what decoding and preparing it will hold at its
// peak, judged from its header before any pixel is allocated. The pixel
// cap (image.max_pixels) bounds pixels; the decode cap (image.max_decode_mb)
// bounds bytes, which differ by a factor of 16 between an 8-bit gray PNG
// and a progressive 4:4:4 JPEG of the same size. Both are deterministic:
// whether an input becomes rows depends on its bytes and the config only.
// The worker's memory budget (sinks.Memory) then schedules the decodes a
// process runs at once by the same estimate.

const (
	// fixedDecodeBytes covers a decoder's own state: zlib's window and
	// Huffman tables, a JPEG decoder's tables and buffers, bufio readers.
	fixedDecodeBytes = 256 << 10
	// labelBytesPerPixel bounds what the tasks allocate per output pixel:
	// the quickstart's three tasks (five rows) allocate 8-9 × 4 bytes per
	// pixel of the example (TotalAlloc, 128² and 256²), their pending
	// rows included; twice that leaves room for more variants.
	labelBytesPerPixel = 16 * 4
)

// header is what decode learns of an input before decoding it.
type header struct {
	format string
	// w and h are the full size as stored; sw and sh the size the decoder
	// returns (a JPEG's n/8 scale); both before EXIF orientation.
	w, h, sw, sh int
	// n is a JPEG's scale, n/8; orient its EXIF orientation (1..8).
	n, orient int
	// decodeBytes bounds what the decoder allocates, plus a full-size
	// conversion and turn for an EXIF orientation.
	decodeBytes int64
}

// size is the decoded image's size after EXIF orientation.
func (hd header) size() (w, h int) {
	if hd.orient >= 5 {
		return hd.sh, hd.sw
	}
	return hd.sw, hd.sh
}

// probe reads data's header and judges it against lim's header checks:
// empty or too large a file, unknown format, zero size, pixels, JPEG scans.
// It allocates nothing in proportion to the pixels.
func probe(data []byte, lim DecodeLimits, scale func(w, h int) int) (hd header, err error) {
	switch {
	case len(data) == 0:
		return hd, transforms.DecodeError(ReasonEmptyFile, "0 bytes")
	case lim.MaxBytes > 0 && int64(len(data)) > lim.MaxBytes:
		return hd, transforms.DecodeError(ReasonTooLargeFile, fmt.Sprintf("%d bytes > %d", len(data), lim.MaxBytes))
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return hd, transforms.DecodeError(ReasonUnknownFormat, sniff(data))
		}
		return hd, transforms.DecodeError(ReasonDecodeError, format+" header: "+err.Error())
	}
	hd = header{format: format, w: cfg.Width, h: cfg.Height, sw: cfg.Width, sh: cfg.Height, n: 8, orient: 1}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return hd, transforms.DecodeError(ReasonZeroSize, fmt.Sprintf("%s %dx%d", format, cfg.Width, cfg.Height))
	}
	if px := int64(cfg.Width) * int64(cfg.Height); lim.MaxPixels > 0 && px > lim.MaxPixels {
		return hd, transforms.DecodeError(ReasonPixelLimit, fmt.Sprintf("%s %dx%d = %d pixels > %d", format, cfg.Width, cfg.Height, px, lim.MaxPixels))
	}
	w, h := int64(cfg.Width), int64(cfg.Height)
	switch format {
	case "jpeg":
		info, err := jpegscale.Inspect(data)
		if err != nil {
			return hd, transforms.DecodeError(ReasonDecodeError, "jpeg header: "+err.Error())
		}
		if lim.MaxScans > 0 && info.Scans > lim.MaxScans {
			return hd, transforms.DecodeError(ReasonTooManyScans, fmt.Sprintf("%d scans > %d", info.Scans, lim.MaxScans))
		}
		if scale != nil {
			hd.n = scale(cfg.Width, cfg.Height)
		}
		if info.Components == 4 {
			hd.n = 8 // CMYK decodes at full size
		}
		hd.sw, hd.sh = jpegscale.ScaledSize(cfg.Width, hd.n), jpegscale.ScaledSize(cfg.Height, hd.n)
		hd.decodeBytes = info.DecodeBytes(hd.n)
		if o := exifOrientation(data); o >= 2 && o <= 8 {
			// toNRGBA, then the turned copy.
			hd.orient = o
			hd.decodeBytes += 2 * 4 * int64(hd.sw) * int64(hd.sh)
		}
	case "png":
		hd.decodeBytes = pngDecodeBytes(data, w, h)
	case "gif":
		// One paletted frame within the logical screen, and its copy when
		// interlaced (image/gif's uninterlace).
		hd.decodeBytes = 2*w*h + fixedDecodeBytes
	case "bmp":
		// RGBA (24 and 32 bits) or paletted, and a row.
		hd.decodeBytes = 4*w*h + 4*w + fixedDecodeBytes
	case "tiff":
		// The image, and each strip or tile decompressed whole (read to
		// the end of a growing buffer: up to twice its size).
		bpp := int64(bytesPerPixel(cfg.ColorModel))
		hd.decodeBytes = 3*bpp*w*h + fixedDecodeBytes
	default: // webp: lossy YCbCr(A) at up to 2.5 bytes per pixel; lossless NRGBA and its transforms' copies
		hd.decodeBytes = 12*w*h + fixedDecodeBytes
	}
	return hd, nil
}

// bytesPerPixel is the size of a pixel in the image type a decoder
// returns for colour model cm.
func bytesPerPixel(cm color.Model) int {
	switch cm {
	case color.GrayModel:
		return 1
	case color.Gray16Model:
		return 2
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := cm.(color.Palette); ok {
		return 1
	}
	return 4
}

// pngDecodeBytes bounds what image/png allocates for a w×h PNG: the image
// at its type's bytes per pixel (16-bit samples give RGBA64, NRGBA64 or
// Gray16: 8, 8, 2 bytes; a tRNS chunk turns gray and RGB into NRGBA or
// NRGBA64), half as much again for an interlaced image (each of the 7
// passes is decoded into an image of its own and merged into the full one:
// the largest pass, the 7th, is half the rows; the passes together allocate
// as much as the image, but one at a time), and two rows of the stream.
func pngDecodeBytes(data []byte, w, h int64) int64 {
	if len(data) < 33 {
		return 8*w*h + fixedDecodeBytes
	}
	depth, ctype, interlace := data[24], data[25], data[28]
	trns := pngHasChunk(data, "tRNS")
	var bpp int64
	switch ctype {
	case 0: // gray
		bpp = 1
		if depth == 16 {
			bpp = 2
		}
		if trns {
			bpp = 4
			if depth == 16 {
				bpp = 8
			}
		}
	case 3: // paletted
		bpp = 1
	default: // RGB, gray+alpha, RGBA
		bpp = 4
		if depth == 16 {
			bpp = 8
		}
	}
	img := bpp * w * h
	if interlace == 1 {
		img += img / 2
	}
	return img + 2*(1+8*w) + fixedDecodeBytes
}

// pngHasChunk reports whether a chunk of type typ comes before the first
// IDAT chunk.
func pngHasChunk(data []byte, typ string) bool {
	i := 8
	for i+8 <= len(data) {
		n := int64(binary.BigEndian.Uint32(data[i:]))
		t := string(data[i+4 : i+8])
		if t == typ {
			return true
		}
		if t == "IDAT" || n > int64(len(data)) {
			return false
		}
		i += 12 + int(n)
	}
	return false
}

// outputBytes bounds what an input decoded to w×h pixels (after EXIF
// orientation) costs from there on, as im asks: imaging's resize (a
// horizontal pass to the new width at the full height, then the vertical
// pass; its weights and per-goroutine rows), a crop or border canvas, the
// conversion of the whole image where mode is "no", and the tasks' images
// and pending rows at the output size.
func outputBytes(w, h int, im Options) int64 {
	W, H := int64(w), int64(h)
	total := int64(1<<20) + 256*(W+H)
	ow, oh := W, H
	size := int64(im.Size)
	switch {
	case im.Size < 1 || (im.Resize != "center_crop" && im.Resize != "keep_ratio" && im.Resize != "border"):
		total += 4 * W * H
	default:
		ref := min(w, h)
		if im.Resize == "border" {
			ref = max(w, h)
		}
		nw, nh := scaleSides(w, h, im.Size, ref)
		total += 4*int64(nw)*H + 4*int64(nw)*int64(nh)
		ow, oh = int64(nw), int64(nh)
		if im.Resize != "keep_ratio" {
			total += 4 * size * size
			ow, oh = size, size
		}
	}
	return total + labelBytesPerPixel*ow*oh
}

// limitsOf is the DecodeLimits of im.
func limitsOf(im Options) DecodeLimits {
	return DecodeLimits{
		MaxPixels: im.MaxPixels, MaxBytes: im.MaxBytes,
		MaxDecodeBytes: int64(im.MaxDecodeMB) << 20, MaxScans: im.MaxScans,
	}
}

// Plan is one input judged from its header: what Prepare will decode and
// what it will hold at its peak.
type Plan struct {
	hd    header
	im    Options
	bytes int64
}

// Bytes bounds what preparing and labelling the input holds at its peak,
// its encoded bytes not included: what a worker reserves of its memory
// budget before decoding it.
func (p Plan) Bytes() int64 { return p.bytes }

// PlanInput judges the bytes of one input from its header, before anything
// is decoded: every deterministic cap of im (file bytes, pixels, JPEG
// scans, decode bytes) is checked here. A non-empty reason is a dead
// letter of stage sinks.StageDecode.
func PlanInput(data []byte, im Options) (p Plan, reason, detail string) {
	lim := limitsOf(im)
	var scale func(w, h int) int
	if im.JPEGScaling {
		scale = func(w, h int) int { return jpegScale(w, h, im.Resize, im.Size) }
	}
	hd, err := safeProbe(data, lim, scale)
	if err != nil {
		reason, detail = reasonOf(err)
		return p, reason, detail
	}
	w, h := hd.size()
	p = Plan{hd: hd, im: im, bytes: hd.decodeBytes + outputBytes(w, h, im)}
	if lim.MaxDecodeBytes > 0 && p.bytes > lim.MaxDecodeBytes {
		return p, ReasonTooLargeDecode, fmt.Sprintf("%s %dx%d: decoding and preparing it would hold %d MiB > image.max_decode_mb %d",
			hd.format, hd.w, hd.h, (p.bytes+1<<20-1)>>20, im.MaxDecodeMB)
	}
	return p, "", ""
}

// safeProbe is probe with a panic recovered as a decoder_panic.
func safeProbe(data []byte, lim DecodeLimits, scale func(w, h int) int) (hd header, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = transforms.DecodeError(ReasonDecoderPanic, fmt.Sprint(r))
		}
	}()
	return probe(data, lim, scale)
}

// reasonOf is the reason and detail of a decode failure.
func reasonOf(err error) (reason, detail string) {
	var de *transforms.InputError
	if errors.As(err, &de) {
		return de.Reason, de.Detail
	}
	return ReasonDecodeError, err.Error()
}

// errDeadline is what deadlineReader returns past its deadline.
var errDeadline = errors.New("vision: decode deadline passed")

// deadlineReader reads r in pieces of at most 64 KiB and fails once the
// deadline has passed, so a decoder that reads progressively (PNG's zlib
// stream, GIF's LZW blocks, BMP's rows, TIFF's strips) is stopped between
// two reads, on the goroutine that decodes: no goroutine or timer per input.
type deadlineReader struct {
	r        *bytes.Reader
	deadline time.Time
	expired  bool
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if past(d.deadline) {
		d.expired = true
		return 0, errDeadline
	}
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	return d.r.Read(p)
}

// ReadAt serves decoders that read at offsets (TIFF).
func (d *deadlineReader) ReadAt(p []byte, off int64) (int, error) {
	if past(d.deadline) {
		d.expired = true
		return 0, errDeadline
	}
	return d.r.ReadAt(p, off)
}
