package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/pretext-dev/pretext/transforms"
)

// refDecodeWAV is DecodeWAV as it was before it streamed (commit aee840a),
// kept as the reference the streaming decoder must match: same reason, same
// detail, same samples bit for bit.
func refDecodeWAV(data []byte, lim Limits) (clip *Clip, err error) {
	defer func() {
		if r := recover(); r != nil {
			clip, err = nil, decodeErr(ReasonDecoderPanic, "%v", r)
		}
	}()
	if len(data) == 0 {
		return nil, transforms.DecodeError(ReasonEmptyFile, "0 bytes")
	}
	if len(data) < 12 {
		if isPrefix(data, "RIFF") {
			return nil, decodeErr(ReasonTruncated, "%d bytes, shorter than the RIFF header", len(data))
		}
		return nil, decodeErr(ReasonNotWAV, "%s", refSniff(data))
	}
	switch id := string(data[0:4]); {
	case (id == "RIFX" || id == "RF64" || id == "BW64") && string(data[8:12]) == "WAVE":
		return nil, decodeErr(ReasonUnsupportedFormat, "%s container (only little-endian RIFF is read)", id)
	case id != "RIFF" || string(data[8:12]) != "WAVE":
		return nil, decodeErr(ReasonNotWAV, "%s", refSniff(data))
	}

	fmtChunk, pcm, err := refFindChunks(data)
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
	frames := int64(len(pcm) / f.blockAlign)
	if frames == 0 {
		return nil, decodeErr(ReasonEmptyAudio, "data chunk of %d bytes, %d-byte frames", len(pcm), f.blockAlign)
	}
	seconds := float64(frames) / float64(f.sampleRate)
	if lim.MaxSamples > 0 && frames > lim.MaxSamples {
		return nil, decodeErr(ReasonTooLong, "%d samples (%.1f s at %d Hz) > %d", frames, seconds, f.sampleRate, lim.MaxSamples)
	}
	if lim.MaxSeconds > 0 && seconds > lim.MaxSeconds {
		return nil, decodeErr(ReasonTooLong, "%.1f s (%d samples at %d Hz) > %g s", seconds, frames, f.sampleRate, lim.MaxSeconds)
	}
	out := make([]float32, frames)
	decodeSamples(out, pcm[:frames*int64(f.blockAlign)], f)
	return &Clip{SampleRate: f.sampleRate, Samples: out, Channels: f.channels, Format: name}, nil
}

// refFindChunks walks the chunks after the RIFF header and returns the body of
// the first fmt chunk and of the first data chunk after it.
func refFindChunks(data []byte) (fmtChunk, pcm []byte, err error) {
	off := 12
	for {
		if len(data)-off < 8 {
			switch {
			case fmtChunk == nil:
				return nil, nil, decodeErr(ReasonBadHeader, "no fmt chunk")
			case len(data) > off:
				return nil, nil, decodeErr(ReasonTruncated, "%d bytes at offset %d, too few for a chunk header", len(data)-off, off)
			default:
				return nil, nil, decodeErr(ReasonNoData, "no data chunk")
			}
		}
		id := string(data[off : off+4])
		size := int64(binary.LittleEndian.Uint32(data[off+4:]))
		body := int64(off + 8)
		if rest := int64(len(data)) - body; size > rest {
			return nil, nil, decodeErr(ReasonTruncated, "%q chunk claims %d bytes, %d remain", id, size, rest)
		}
		switch id {
		case "fmt ":
			if fmtChunk == nil {
				fmtChunk = data[body : body+size]
			}
		case "data":
			if fmtChunk == nil {
				return nil, nil, decodeErr(ReasonBadHeader, "data chunk before fmt chunk")
			}
			return fmtChunk, data[body : body+size], nil
		}
		// Chunks are padded to an even size; the pad byte may be missing
		// at the very end of the file.
		off = int(min(body+size+size&1, int64(len(data))))
	}
}

func refSniff(data []byte) string {
	n := min(len(data), 12)
	return fmt.Sprintf("%d bytes starting %q", len(data), data[:n])
}

// wavSource is one way a file reaches ReadWAV.
type wavSource struct {
	name string
	r    io.Reader
	size int64
	// exact: the size is known before reading (given, or found by
	// seeking), so the result must be the reference's to the letter.
	exact bool
}

// wavSources are the readers ReadWAV must agree over: seekable or not,
// short reads, size given or not, EOF with the last bytes.
func wavSources(data []byte) []wavSource {
	n := int64(len(data))
	return []wavSource{
		{"seekable", bytes.NewReader(data), n, true},
		{"seekable, size found by seeking", bytes.NewReader(data), -1, true},
		{"one byte a read", iotest.OneByteReader(bytes.NewReader(data)), n, true},
		{"half reads", iotest.HalfReader(bytes.NewReader(data)), n, true},
		{"stream, size unknown", iotest.HalfReader(bytes.NewReader(data)), -1, false},
		{"EOF with data, size unknown", iotest.DataErrReader(iotest.OneByteReader(bytes.NewReader(data))), -1, false},
	}
}

// checkLikeReference decodes data through every wavSource and compares
// with refDecodeWAV. Where the size is unknown a truncated data chunk is
// found while reading, after the format checks, so the reference's
// truncated may read as a format reason there; and not_wav counts the bytes
// read, not the file.
func checkLikeReference(t *testing.T, data []byte, lim Limits) {
	t.Helper()
	want, wantErr := refDecodeWAV(data, lim)
	for _, src := range wavSources(data) {
		got, err := ReadWAV(src.r, src.size, lim)
		if wantErr != nil {
			var de, wde *transforms.InputError
			if !errors.As(err, &de) || !errors.As(wantErr, &wde) {
				t.Fatalf("%s: got %v, %v; want %v", src.name, got, err, wantErr)
			}
			switch {
			case src.exact && err.Error() != wantErr.Error():
				t.Fatalf("%s: got %v, want %v", src.name, err, wantErr)
			case !src.exact && de.Reason != wde.Reason && wde.Reason != ReasonTruncated:
				t.Fatalf("%s: got %v, want %v", src.name, err, wantErr)
			case !src.exact && de.Reason == wde.Reason && de.Reason != ReasonNotWAV && de.Detail != wde.Detail:
				t.Fatalf("%s: got %v, want %v", src.name, err, wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v; the reference decodes it", src.name, err)
		}
		if got.SampleRate != want.SampleRate || got.Channels != want.Channels || got.Format != want.Format || len(got.Samples) != len(want.Samples) {
			t.Fatalf("%s: %d Hz %d ch %s %d samples, want %d Hz %d ch %s %d", src.name,
				got.SampleRate, got.Channels, got.Format, len(got.Samples), want.SampleRate, want.Channels, want.Format, len(want.Samples))
		}
		for i := range want.Samples {
			if math.Float32bits(got.Samples[i]) != math.Float32bits(want.Samples[i]) {
				t.Fatalf("%s: sample %d = %v, want %v", src.name, i, got.Samples[i], want.Samples[i])
			}
		}
	}
}

// TestReadWAVFixtures: every WAV in the repository decodes bit for bit as
// it did in memory.
func TestReadWAVFixtures(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../../testdata", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".wav") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d WAV fixtures under testdata, want the repository's", len(files))
	}
	for _, p := range files {
		t.Run(p, func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			checkLikeReference(t, data, Limits{MaxSamples: 64 << 20, MaxSeconds: 600, MaxSampleRate: 768000})
		})
	}
}

// streamCases are crafted layouts: odd chunks and their padding, a missing
// final pad byte, duplicate and oversized fmt chunks, cut files.
func streamCases() map[string][]byte {
	le := binary.LittleEndian
	stereo24 := buildWAV(wavSpec{tag: tagPCM, channels: 2, rate: 8000, bits: 24, before: []string{"LIST", "bext"}, dataSize: -1}, pack(testInts(24, 40), 24))
	oddData := buildWAV(wavSpec{tag: tagPCM, channels: 1, rate: 8000, bits: 8, dataSize: -1}, pack(testInts(8, 40), 8)) // 43 bytes: padded
	fmt16 := func(extra int) []byte {
		f := le.AppendUint16(nil, tagPCM)
		f = le.AppendUint16(f, 1)
		f = le.AppendUint32(f, 8000)
		f = le.AppendUint32(f, 16000)
		f = le.AppendUint16(f, 2)
		f = le.AppendUint16(f, 16)
		return append(f, make([]byte, extra)...)
	}
	chunk := func(id string, body []byte) []byte {
		b := append([]byte(id), le.AppendUint32(nil, uint32(len(body)))...)
		b = append(b, body...)
		if len(body)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	riff := func(chunks ...[]byte) []byte {
		b := []byte("RIFF\x00\x00\x00\x00WAVE")
		for _, c := range chunks {
			b = append(b, c...)
		}
		return b
	}
	samples := pack(testInts(16, 30), 16)
	return map[string][]byte{
		"stereo24 with odd chunks":   stereo24,
		"odd data, padded":           oddData,
		"odd data, pad missing":      oddData[:len(oddData)-1],
		"odd chunk before fmt":       riff(chunk("junk", []byte("abc")), chunk("fmt ", fmt16(0)), chunk("data", samples)),
		"odd chunk at the end":       riff(chunk("fmt ", fmt16(0)), chunk("junk", []byte("abc"))),
		"odd chunk, pad missing":     riff(chunk("fmt ", fmt16(0)), chunk("junk", []byte("abc")))[:12+24+11],
		"fmt of 100 bytes":           riff(chunk("fmt ", fmt16(84)), chunk("data", samples)),
		"fmt of 0 bytes":             riff(chunk("fmt ", nil), chunk("data", samples)),
		"two fmt chunks":             riff(chunk("fmt ", fmt16(0)), chunk("fmt ", []byte("xx")), chunk("data", samples)),
		"data then more chunks":      riff(chunk("fmt ", fmt16(0)), chunk("data", samples), chunk("LIST", []byte("info"))),
		"partial frame":              riff(chunk("fmt ", fmt16(0)), chunk("data", append(samples, 1))),
		"partial frame, cut":         riff(chunk("fmt ", fmt16(0)), chunk("data", append(samples, 1)))[:12+24+8+len(samples)],
		"data claims 0xFFFFFFFF":     buildWAV(wavSpec{tag: tagPCM, channels: 1, rate: 8000, bits: 16, dataSize: 0xFFFFFFFF}, samples),
		"data claims one more frame": buildWAV(wavSpec{tag: tagPCM, channels: 1, rate: 8000, bits: 16, dataSize: int64(len(samples)) + 2}, samples),
		"float64 extensible":         buildWAV(wavSpec{tag: tagExtensible, sub: tagFloat, channels: 3, rate: 22050, bits: 64, dataSize: -1}, make([]byte, 24*7)),
		"bad format, truncated data": buildWAV(wavSpec{tag: tagPCM, channels: 1, rate: 8000, bits: 12, blockAlign: 2, dataSize: 1 << 20}, samples),
		"no fmt":                     riff(chunk("data", samples)),
		"riff header only":           riff(),
		"rf64":                       append([]byte("RF64"), stereo24[4:]...),
		"html":                       []byte("<!DOCTYPE html><html><body>not found</body></html>"),
	}
}

func TestReadWAVLayouts(t *testing.T) {
	for name, data := range streamCases() {
		t.Run(name, func(t *testing.T) {
			checkLikeReference(t, data, DefaultLimits())
			checkLikeReference(t, data, Limits{MaxSamples: 10, MaxSampleRate: 768000})
		})
	}
}

// TestReadWAVEveryCut decodes every prefix of files with odd chunks: each
// cut lands in a different field, and every one must end as it did in
// memory.
func TestReadWAVEveryCut(t *testing.T) {
	for _, name := range []string{"stereo24 with odd chunks", "odd chunk before fmt", "fmt of 100 bytes", "data then more chunks", "partial frame"} {
		data := streamCases()[name]
		for n := range len(data) + 1 {
			checkLikeReference(t, data[:n], DefaultLimits())
		}
	}
}

// FuzzReadWAV checks the streaming decoder against the in-memory reference
// on any input, through every kind of reader.
func FuzzReadWAV(f *testing.F) {
	for _, data := range streamCases() {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLikeReference(t, data, Limits{MaxSamples: 1 << 16, MaxSampleRate: 768000})
	})
}

// countingFile counts the bytes read from a file, and keeps its Seek.
type countingFile struct {
	*os.File
	read int64
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.File.Read(p)
	c.read += int64(n)
	return n, err
}

// sparseWAV writes a file of size bytes, zeros but for head at its start
// and tail at offset at; holes take no disk.
func sparseWAV(t *testing.T, size int64, head []byte, at int64, tail []byte) *countingFile {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "sparse.wav"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(head); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(tail, at); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return &countingFile{File: f}
}

// wavHeader is a 16-bit mono 16 kHz header whose data chunk claims n bytes.
func wavHeader(n int64) []byte {
	return buildWAV(wavSpec{tag: tagPCM, channels: 1, rate: 16000, bits: 16, dataSize: n}, nil)
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadWAVJudgesHeaderBeforeReading: a 400 MB sparse WAV (inside
// audio.max_bytes) whose data chunk holds 200 M samples, over
// audio.max_samples, is too_long from its header: 4 KiB read, nothing
// allocated for samples. In memory it cost the file (400 MB) before it was
// judged.
func TestReadWAVJudgesHeaderBeforeReading(t *testing.T) {
	const size = 400_000_000
	f := sparseWAV(t, size, wavHeader(size-44), 0, nil)
	var err error
	alloc := allocated(func() {
		_, err = ReadWAV(f, size, Limits{MaxSamples: 64 << 20, MaxSeconds: 600, MaxSampleRate: 768000})
	})
	var de *transforms.InputError
	if !errors.As(err, &de) || de.Reason != ReasonTooLong {
		t.Fatalf("got %v, want too_long", err)
	}
	if f.read > 8<<10 || alloc > 1<<20 {
		t.Errorf("read %d bytes and allocated %d to judge a header; want at most 8 KiB and 1 MiB", f.read, alloc)
	}
	t.Logf("%v: read %d bytes, allocated %d", err, f.read, alloc)
}

// TestReadWAVClaimOverFile: a data chunk claiming 4 GiB in a 400 MB file is
// truncated from the header and the size, before a sample is read.
func TestReadWAVClaimOverFile(t *testing.T) {
	const size = 400_000_000
	f := sparseWAV(t, size, wavHeader(0xFFFFFFF0), 0, nil)
	var err error
	alloc := allocated(func() { _, err = ReadWAV(f, -1, DefaultLimits()) }) // size found by seeking
	var de *transforms.InputError
	if !errors.As(err, &de) || de.Reason != ReasonTruncated {
		t.Fatalf("got %v, want truncated", err)
	}
	if f.read > 8<<10 || alloc > 1<<20 {
		t.Errorf("read %d bytes and allocated %d; want at most 8 KiB and 1 MiB", f.read, alloc)
	}
}

// TestReadWAVSeeksPastChunks: a 300 MB chunk before fmt is skipped by
// seeking, not read.
func TestReadWAVSeeksPastChunks(t *testing.T) {
	const junk = 300_000_000
	head := append([]byte("RIFF\x00\x00\x00\x00WAVEjunk"), binary.LittleEndian.AppendUint32(nil, junk)...)
	good := buildWAV(wavSpec{tag: tagPCM, channels: 1, rate: 8000, bits: 16, dataSize: -1}, pack(testInts(16, 100), 16))
	f := sparseWAV(t, 20+junk+int64(len(good)-12), head, 20+junk, good[12:])
	clip, err := ReadWAV(f, -1, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want, err := DecodeWAV(good, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(clip.Samples) != len(want.Samples) || f.read > 16<<10 {
		t.Errorf("%d samples, want %d; read %d bytes, want at most 16 KiB", len(clip.Samples), len(want.Samples), f.read)
	}
}

// TestReadWAVStreamsData: a 40 MB WAV decodes with its output (4 bytes a
// frame) and a small buffer: the file's 40 MB are never held.
func TestReadWAVStreamsData(t *testing.T) {
	const size = 40_000_044
	f := sparseWAV(t, size, wavHeader(size-44), 0, nil)
	var clip *Clip
	var err error
	alloc := allocated(func() { clip, err = ReadWAV(f, size, Limits{MaxSamples: 64 << 20, MaxSampleRate: 768000}) })
	if err != nil {
		t.Fatal(err)
	}
	out := uint64(len(clip.Samples)) * 4
	if len(clip.Samples) != (size-44)/2 || alloc > out+1<<20 {
		t.Errorf("%d samples, allocated %d bytes; want %d samples and at most %d bytes", len(clip.Samples), alloc, (size-44)/2, out+1<<20)
	}
}

// failingReader fails after its data, as a dropped network read would.
type failingReader struct{ r io.Reader }

var errDropped = errors.New("connection reset")

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errDropped
	}
	return n, err
}

// TestReadWAVReadError: a failing read is the machine's error, wrapped, not
// a DecodeError: the caller tells it from a bad file.
func TestReadWAVReadError(t *testing.T) {
	data := streamCases()["stereo24 with odd chunks"]
	for _, cut := range []int{0, 6, 30, len(data) - 10} {
		_, err := ReadWAV(failingReader{bytes.NewReader(data[:cut])}, int64(len(data)), DefaultLimits())
		var de *transforms.InputError
		if !errors.Is(err, errDropped) || errors.As(err, &de) {
			t.Errorf("cut at %d: got %v, want the reader's error", cut, err)
		}
	}
}

// ReadWAVReserving tells reserve the frames and rate once the header has
// passed its checks, before the samples are allocated; its error ends the
// read, and a header that fails a check never reaches it.
func TestReadWAVReserving(t *testing.T) {
	wav := func(rate, frames int) []byte {
		b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00")
		b = binary.LittleEndian.AppendUint32(b, uint32(rate))
		b = binary.LittleEndian.AppendUint32(b, uint32(2*rate))
		b = append(b, 2, 0, 16, 0)
		b = append(b, "data"...)
		b = binary.LittleEndian.AppendUint32(b, uint32(2*frames))
		return append(b, make([]byte, 2*frames)...)
	}
	data := wav(8000, 4000)
	var frames int64
	var rate int
	clip, err := ReadWAVReserving(bytes.NewReader(data), int64(len(data)), Limits{}, func(f int64, r int) error { frames, rate = f, r; return nil })
	if err != nil || len(clip.Samples) != 4000 || frames != 4000 || rate != 8000 {
		t.Fatalf("clip %v, err %v, reserve(%d, %d)", clip, err, frames, rate)
	}
	stop := errors.New("no memory")
	if _, err := ReadWAVReserving(bytes.NewReader(data), int64(len(data)), Limits{}, func(int64, int) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("reserve's error: got %v", err)
	}
	called := false
	_, err = ReadWAVReserving(bytes.NewReader(data), int64(len(data)), Limits{MaxSamples: 100}, func(int64, int) error { called = true; return nil })
	var de *transforms.InputError
	if !errors.As(err, &de) || de.Reason != ReasonTooLong || called {
		t.Errorf("over max_samples: err %v, reserve called %v", err, called)
	}
}
