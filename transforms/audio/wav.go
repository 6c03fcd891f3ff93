package audio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/pretext-dev/pretext/transforms"
)

// Limits bound the work DecodeWAV may do on one input. A zero field means
// no limit.
type Limits struct {
	// MaxSamples rejects a clip longer than this many samples per channel,
	// judged from the data chunk's size before any sample is decoded.
	MaxSamples int64 `yaml:"max_samples" json:"max_samples"`
	// MaxSeconds rejects a clip longer than this, judged the same way; it
	// bounds duration where MaxSamples bounds memory.
	MaxSeconds float64 `yaml:"max_seconds" json:"max_seconds"`
	// MaxSampleRate rejects a header claiming a higher rate; the resampler's
	// filter grows with the ratio of the rates.
	MaxSampleRate int `yaml:"max_sample_rate" json:"max_sample_rate"`
}

// DefaultLimits returns ten minutes at 48 kHz (28.8 M samples, 115 MB as
// float32), whatever the rate, and rates up to 768 kHz, the highest in
// common use (DXD ×2); MaxSeconds is left to the run's config.
func DefaultLimits() Limits {
	return Limits{MaxSamples: 10 * 60 * 48000, MaxSampleRate: 768000}
}

// Clip is decoded audio: one channel, samples in [-1, 1].
type Clip struct {
	// SampleRate is the source rate in Hz, always > 0.
	SampleRate int
	// Samples is the mean of the source channels, one value per frame.
	Samples []float32
	// Channels is the source's channel count, always > 0.
	Channels int
	// Format names the source encoding: pcm8, pcm16, pcm24, pcm32, float32
	// or float64 (WAVE_FORMAT_EXTENSIBLE files report their sub-format).
	Format string
}

// Seconds returns the clip's duration.
func (c *Clip) Seconds() float64 { return float64(len(c.Samples)) / float64(c.SampleRate) }

// Reason codes of a decode failure (a transforms.InputError). They are stable: they name Beam counters
// and the reason column of dead letters.
const (
	ReasonEmptyFile         = "empty_file"
	ReasonNotWAV            = "not_wav"
	ReasonTruncated         = "truncated"
	ReasonBadHeader         = "bad_header"
	ReasonNoData            = "no_data"
	ReasonZeroChannels      = "zero_channels"
	ReasonZeroSampleRate    = "zero_sample_rate"
	ReasonUnsupportedRate   = "unsupported_rate"
	ReasonUnsupportedFormat = "unsupported_format"
	ReasonUnsupportedBits   = "unsupported_bits"
	ReasonEmptyAudio        = "empty_audio"
	ReasonTooLong           = "too_long"
	ReasonDecoderPanic      = "decoder_panic"
)

func decodeErr(reason, format string, args ...any) *transforms.InputError {
	return transforms.DecodeError(reason, fmt.Sprintf(format, args...))
}

// WAVE format tags (mmreg.h) and the sub-format GUID tail shared by the
// KSDATAFORMAT_SUBTYPE_* GUIDs of WAVE_FORMAT_EXTENSIBLE.
const (
	tagPCM        = 0x0001
	tagFloat      = 0x0003
	tagExtensible = 0xFFFE
)

var guidTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// wavFormat is the part of a fmt chunk the decoder uses.
type wavFormat struct {
	tag        uint16 // tagPCM or tagFloat once the extensible sub-format is resolved
	channels   int
	sampleRate int
	blockAlign int
	bits       int // container bits per sample
}

// DecodeWAV decodes a RIFF/WAVE file held in memory to a mono Clip: it is
// ReadWAV over the bytes, with the same results.
func DecodeWAV(data []byte, lim Limits) (*Clip, error) {
	return ReadWAV(bytes.NewReader(data), int64(len(data)), lim)
}

// wavBlock is the most bytes of samples ReadWAV reads at once: the read
// buffer, beside the output, is all the memory a decode needs.
const wavBlock = 64 << 10

// ReadWAV decodes a RIFF/WAVE file of size bytes (-1 if unknown) from r to
// a mono Clip. It streams: chunk headers are read and bodies skipped (by
// seeking when r is an io.Seeker), the header is judged against lim before
// anything is allocated, and the data chunk is decoded block by block
// straight into the output, so memory is the output (4 bytes a frame,
// bounded by lim.MaxSamples) and a 64 KiB buffer, never the file.
//
// It reads 8-bit unsigned and 16/24/32-bit signed PCM, 32/64-bit IEEE float,
// and WAVE_FORMAT_EXTENSIBLE with a PCM or float sub-format; any channel
// count is mixed down by averaging. Integer samples are scaled by 2^-(bits-1)
// (8-bit after removing the 128 bias), so full scale maps to [-1, 1).
// Extensible samples are read by their container size: the valid bits are
// left-justified, so the scale is the same. Float samples are clamped to
// [-1, 1] and NaN reads as 0, so one bad sample cannot poison a spectrogram.
//
// The RIFF size field is ignored (writers often get it wrong) and chunks are
// walked up to the data chunk. A data chunk claiming more bytes than the
// file holds is an error (truncated), not a partial decode: a cut file is
// usually a failed copy, and silently training on its head would hide that.
// This includes streaming writers that leave the size at 0xFFFFFFFF. With
// the size known (given, or found by seeking r's end) a claim is judged
// before the chunk is read, so a header claiming gigabytes costs nothing;
// otherwise the end of r is found while reading, the same reason with the
// same detail, after the format checks instead of before. A trailing
// partial frame is dropped. A decoder panic is recovered. Every failure
// caused by the input is a *transforms.InputError; an error of r itself (not EOF) is
// returned wrapped, so a caller can tell a bad file from a failing read.
func ReadWAV(r io.Reader, size int64, lim Limits) (clip *Clip, err error) {
	return ReadWAVReserving(r, size, lim, nil)
}

// ReadWAVReserving is ReadWAV calling reserve, when not nil, once the
// header has passed every check and before the output is allocated, with
// the frames to decode and their rate: a worker's memory gate waits there.
// An error from reserve ends the read with it.
func ReadWAVReserving(r io.Reader, size int64, lim Limits, reserve func(frames int64, rate int) error) (clip *Clip, err error) {
	defer func() {
		if r := recover(); r != nil {
			clip, err = nil, decodeErr(ReasonDecoderPanic, "%v", r)
		}
	}()
	w, err := newWAVReader(r, size)
	if err != nil {
		return nil, err
	}
	var head [12]byte
	n, err := w.read(head[:])
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, transforms.DecodeError(ReasonEmptyFile, "0 bytes")
	}
	if n < 12 {
		if isPrefix(head[:n], "RIFF") {
			return nil, decodeErr(ReasonTruncated, "%d bytes, shorter than the RIFF header", n)
		}
		return nil, decodeErr(ReasonNotWAV, "%s", sniff(int64(n), head[:n]))
	}
	switch id := string(head[0:4]); {
	case (id == "RIFX" || id == "RF64" || id == "BW64") && string(head[8:12]) == "WAVE":
		return nil, decodeErr(ReasonUnsupportedFormat, "%s container (only little-endian RIFF is read)", id)
	case id != "RIFF" || string(head[8:12]) != "WAVE":
		return nil, decodeErr(ReasonNotWAV, "%s", sniff(w.size, head[:]))
	}

	fmtChunk, dataSize, err := w.findChunks()
	if err != nil {
		return nil, err
	}
	f, name, err := parseFormat(fmtChunk)
	if err != nil {
		return nil, err
	}
	if lim.MaxSampleRate > 0 && f.sampleRate > lim.MaxSampleRate {
		return nil, decodeErr(ReasonUnsupportedRate, "%d Hz > %d", f.sampleRate, lim.MaxSampleRate)
	}
	frames := dataSize / int64(f.blockAlign)
	if frames == 0 {
		return nil, decodeErr(ReasonEmptyAudio, "data chunk of %d bytes, %d-byte frames", dataSize, f.blockAlign)
	}
	seconds := float64(frames) / float64(f.sampleRate)
	if lim.MaxSamples > 0 && frames > lim.MaxSamples {
		return nil, decodeErr(ReasonTooLong, "%d samples (%.1f s at %d Hz) > %d", frames, seconds, f.sampleRate, lim.MaxSamples)
	}
	if lim.MaxSeconds > 0 && seconds > lim.MaxSeconds {
		return nil, decodeErr(ReasonTooLong, "%.1f s (%d samples at %d Hz) > %g s", seconds, frames, f.sampleRate, lim.MaxSeconds)
	}
	if reserve != nil {
		if err := reserve(frames, f.sampleRate); err != nil {
			return nil, err
		}
	}
	out, err := w.decodeData(frames, dataSize, f)
	if err != nil {
		return nil, err
	}
	return &Clip{SampleRate: f.sampleRate, Samples: out, Channels: f.channels, Format: name}, nil
}

// wavReader reads a WAV file forward, counting its offset.
type wavReader struct {
	r    *bufio.Reader // small: chunk headers; sample blocks bypass it
	src  io.Reader
	seek io.Seeker // src, when it can seek
	off  int64     // bytes of the file consumed
	size int64     // the file's size, -1 if unknown
}

func newWAVReader(r io.Reader, size int64) (*wavReader, error) {
	w := &wavReader{r: bufio.NewReaderSize(r, 4<<10), src: r, size: size}
	if s, ok := r.(io.Seeker); ok {
		w.seek = s
		if size < 0 {
			// The end of a seekable file is its size: knowing it judges
			// every chunk's claim before reading the chunk.
			start, err := s.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, fmt.Errorf("audio: reading WAV: %w", err)
			}
			end, err := s.Seek(0, io.SeekEnd)
			if err != nil {
				return nil, fmt.Errorf("audio: reading WAV: %w", err)
			}
			if _, err := s.Seek(start, io.SeekStart); err != nil {
				return nil, fmt.Errorf("audio: reading WAV: %w", err)
			}
			w.size = end - start
		}
	}
	return w, nil
}

// read fills p as far as the file goes: n < len(p) only at its end. err is
// a failure of the reader, never EOF.
func (w *wavReader) read(p []byte) (int, error) {
	n, err := io.ReadFull(w.r, p)
	w.off += int64(n)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	if err != nil {
		return n, fmt.Errorf("audio: reading WAV at offset %d: %w", w.off, err)
	}
	return n, nil
}

// skip moves n bytes forward, seeking past what the buffer does not hold
// when it can. It returns how many bytes were skipped: fewer than n only
// at the end of a file that cannot seek (a seek past the end is not seen
// until the next read, so a seekable file's claims are judged by its size).
func (w *wavReader) skip(n int64) (int64, error) {
	if buf := int64(w.r.Buffered()); n > buf && w.seek != nil {
		// The source is Buffered() bytes past w.off.
		if _, err := w.seek.Seek(n-buf, io.SeekCurrent); err != nil {
			return 0, fmt.Errorf("audio: reading WAV at offset %d: %w", w.off, err)
		}
		w.r.Reset(w.src)
		w.off += n
		return n, nil
	}
	var done int64
	for done < n {
		// Discard takes an int: step in 1 GiB pieces.
		m, err := w.r.Discard(int(min(n-done, 1<<30)))
		done += int64(m)
		w.off += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return done, fmt.Errorf("audio: reading WAV at offset %d: %w", w.off, err)
		}
	}
	return done, nil
}

// fmtKeep is how much of a fmt chunk parseFormat reads: the extensible
// format's 40 bytes. parseFormat judges a shorter chunk by its length, so
// keeping at most this much of a longer one gives the same result, and a
// header claiming a huge fmt chunk allocates nothing.
const fmtKeep = 40

// findChunks walks the chunks after the RIFF header and returns the body of
// the first fmt chunk (its first fmtKeep bytes) and the size the first data
// chunk after it claims, leaving w at the data chunk's body.
func (w *wavReader) findChunks() (fmtChunk []byte, dataSize int64, err error) {
	haveFmt := false
	for {
		var hdr [8]byte
		var avail int64
		start := w.off
		if w.size >= 0 && w.size-w.off < 8 {
			avail = max(w.size-w.off, 0)
		} else {
			n, err := w.read(hdr[:])
			if err != nil {
				return nil, 0, err
			}
			avail = int64(n)
		}
		if avail < 8 {
			switch {
			case !haveFmt:
				return nil, 0, decodeErr(ReasonBadHeader, "no fmt chunk")
			case avail > 0:
				return nil, 0, decodeErr(ReasonTruncated, "%d bytes at offset %d, too few for a chunk header", avail, start)
			default:
				return nil, 0, decodeErr(ReasonNoData, "no data chunk")
			}
		}
		id := string(hdr[0:4])
		size := int64(binary.LittleEndian.Uint32(hdr[4:]))
		body := w.off
		if w.size >= 0 {
			if rest := w.size - body; size > rest {
				return nil, 0, decodeErr(ReasonTruncated, "%q chunk claims %d bytes, %d remain", id, size, rest)
			}
		}
		var got int64 // bytes of the body consumed
		switch id {
		case "fmt ":
			if !haveFmt {
				haveFmt = true
				fmtChunk = make([]byte, min(size, fmtKeep))
				n, err := w.read(fmtChunk)
				if err != nil {
					return nil, 0, err
				}
				got = int64(n)
				if got < int64(len(fmtChunk)) {
					return nil, 0, decodeErr(ReasonTruncated, "%q chunk claims %d bytes, %d remain", id, size, got)
				}
			}
		case "data":
			if !haveFmt {
				return nil, 0, decodeErr(ReasonBadHeader, "data chunk before fmt chunk")
			}
			return fmtChunk, size, nil
		}
		// Chunks are padded to an even size; the pad byte may be missing
		// at the very end of the file.
		next := body + size + size&1
		if w.size >= 0 {
			next = min(next, w.size)
		}
		n, err := w.skip(next - body - got)
		if err != nil {
			return nil, 0, err
		}
		if got += n; got < size {
			return nil, 0, decodeErr(ReasonTruncated, "%q chunk claims %d bytes, %d remain", id, size, got)
		}
	}
}

// decodeData decodes the frames of a data chunk of dataSize bytes, w at its
// body, block by block into the output.
func (w *wavReader) decodeData(frames, dataSize int64, f wavFormat) ([]float32, error) {
	ba := int64(f.blockAlign)
	step := max(wavBlock/ba, 1) // frames a block
	block := make([]byte, min(frames, step)*ba)
	var out []float32
	if w.size >= 0 {
		// The claim was judged against the size: allocate it at once.
		out = make([]float32, frames)
	} else {
		// The claim is unproven until read: grow with what is read.
		out = make([]float32, 0, min(frames, 1<<20))
	}
	for i := int64(0); i < frames; {
		k := min(frames-i, step)
		b := block[:k*ba]
		n, err := w.read(b)
		if err != nil {
			return nil, err
		}
		if n < len(b) {
			return nil, decodeErr(ReasonTruncated, "%q chunk claims %d bytes, %d remain", "data", dataSize, i*ba+int64(n))
		}
		if int64(len(out)) < i+k {
			out = slices.Grow(out, int(k))[:i+k]
		}
		decodeSamples(out[i:i+k], b, f)
		i += k
	}
	if w.size < 0 {
		// The bytes of a trailing partial frame must be there too.
		rest := dataSize - frames*ba
		if n, err := w.skip(rest); err != nil {
			return nil, err
		} else if n < rest {
			return nil, decodeErr(ReasonTruncated, "%q chunk claims %d bytes, %d remain", "data", dataSize, frames*ba+n)
		}
	}
	return out, nil
}

// parseFormat validates a fmt chunk and names its sample encoding.
func parseFormat(c []byte) (wavFormat, string, error) {
	if len(c) < 16 {
		return wavFormat{}, "", decodeErr(ReasonBadHeader, "fmt chunk of %d bytes < 16", len(c))
	}
	le := binary.LittleEndian
	f := wavFormat{
		tag:        le.Uint16(c[0:]),
		channels:   int(le.Uint16(c[2:])),
		sampleRate: int(le.Uint32(c[4:])),
		blockAlign: int(le.Uint16(c[12:])),
		bits:       int(le.Uint16(c[14:])),
	}
	if f.tag == tagExtensible {
		// cbSize(2) validBits(2) channelMask(4) subFormat GUID(16).
		if len(c) < 40 || le.Uint16(c[16:]) < 22 {
			return wavFormat{}, "", decodeErr(ReasonBadHeader, "WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes < 40", len(c))
		}
		sub := c[24:40]
		if [14]byte(sub[2:]) != guidTail {
			return wavFormat{}, "", decodeErr(ReasonUnsupportedFormat, "extensible sub-format GUID % x", sub)
		}
		f.tag = le.Uint16(sub)
		if valid := int(le.Uint16(c[18:])); valid > f.bits {
			return wavFormat{}, "", decodeErr(ReasonBadHeader, "%d valid bits in a %d-bit container", valid, f.bits)
		}
	}
	if f.channels == 0 {
		return wavFormat{}, "", decodeErr(ReasonZeroChannels, "format tag 0x%04x", f.tag)
	}
	if f.sampleRate == 0 {
		return wavFormat{}, "", decodeErr(ReasonZeroSampleRate, "%d channels", f.channels)
	}
	var name string
	switch f.tag {
	case tagPCM:
		if f.bits != 8 && f.bits != 16 && f.bits != 24 && f.bits != 32 {
			return wavFormat{}, "", decodeErr(ReasonUnsupportedBits, "%d-bit PCM (want 8, 16, 24 or 32)", f.bits)
		}
		name = fmt.Sprintf("pcm%d", f.bits)
	case tagFloat:
		if f.bits != 32 && f.bits != 64 {
			return wavFormat{}, "", decodeErr(ReasonUnsupportedBits, "%d-bit float (want 32 or 64)", f.bits)
		}
		name = fmt.Sprintf("float%d", f.bits)
	default:
		return wavFormat{}, "", decodeErr(ReasonUnsupportedFormat, "format tag 0x%04x (want PCM 0x0001 or float 0x0003)", f.tag)
	}
	if want := f.channels * f.bits / 8; f.blockAlign != want {
		return wavFormat{}, "", decodeErr(ReasonBadHeader, "block align %d, want %d for %d channels of %d bits", f.blockAlign, want, f.channels, f.bits)
	}
	return f, name, nil
}

// decodeSamples mixes the frames of pcm down into out. Each encoding has its
// own loop over the whole buffer, so the inner loop is a plain load and add.
// Integer sums are exact in float64; each frame is scaled once.
func decodeSamples(out []float32, pcm []byte, f wavFormat) {
	ba := f.blockAlign
	inv := 1 / float64(f.channels)
	le := binary.LittleEndian
	switch {
	case f.tag == tagPCM && f.bits == 8:
		for i := range out {
			var sum int
			for _, b := range pcm[i*ba : i*ba+ba] {
				sum += int(b) - 128
			}
			out[i] = float32(float64(float64(sum)*(1.0/128)) * inv)
		}
	case f.tag == tagPCM && f.bits == 16:
		for i := range out {
			fr := pcm[i*ba : i*ba+ba]
			var sum int
			for c := 0; c < len(fr); c += 2 {
				sum += int(int16(le.Uint16(fr[c:])))
			}
			out[i] = float32(float64(float64(sum)*(1.0/32768)) * inv)
		}
	case f.tag == tagPCM && f.bits == 24:
		for i := range out {
			fr := pcm[i*ba : i*ba+ba]
			var sum int
			for c := 0; c < len(fr); c += 3 {
				sum += int(int32(uint32(fr[c])<<8|uint32(fr[c+1])<<16|uint32(fr[c+2])<<24) >> 8)
			}
			out[i] = float32(float64(float64(sum)*(1.0/8388608)) * inv)
		}
	case f.tag == tagPCM && f.bits == 32:
		for i := range out {
			fr := pcm[i*ba : i*ba+ba]
			var sum int
			for c := 0; c < len(fr); c += 4 {
				sum += int(int32(le.Uint32(fr[c:])))
			}
			out[i] = float32(float64(float64(sum)*(1.0/2147483648)) * inv)
		}
	case f.tag == tagFloat && f.bits == 32:
		for i := range out {
			fr := pcm[i*ba : i*ba+ba]
			var sum float64
			for c := 0; c < len(fr); c += 4 {
				sum += clampUnit(float64(math.Float32frombits(le.Uint32(fr[c:]))))
			}
			out[i] = float32(sum * inv)
		}
	case f.tag == tagFloat && f.bits == 64:
		for i := range out {
			fr := pcm[i*ba : i*ba+ba]
			var sum float64
			for c := 0; c < len(fr); c += 8 {
				sum += clampUnit(math.Float64frombits(le.Uint64(fr[c:])))
			}
			out[i] = float32(sum * inv)
		}
	}
}

// clampUnit clamps v to [-1, 1] and maps NaN to 0.
func clampUnit(v float64) float64 {
	switch {
	case v > 1:
		return 1
	case v < -1:
		return -1
	case v != v:
		return 0
	}
	return v
}

func isPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// sniff describes the first bytes of an input that is not a WAV file, so a
// dead letter says what it was instead (an HTML error page, an MP3).
// size is the file's (-1 if unknown: then the bytes read are counted).
func sniff(size int64, head []byte) string {
	if size < 0 {
		size = int64(len(head))
	}
	return fmt.Sprintf("%d bytes starting %q", size, head)
}
