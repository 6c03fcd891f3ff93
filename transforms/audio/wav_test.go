package audio

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	goaudio "github.com/go-audio/audio"
	"github.com/go-audio/wav"
	"github.com/pretext-dev/pretext/transforms"
)

// wavSpec describes a WAV file for buildWAV.
type wavSpec struct {
	tag        uint16 // fmt tag; tagExtensible adds the extension
	sub        uint16 // extensible sub-format tag
	validBits  int    // extensible valid bits (0: bits)
	channels   int
	rate       int
	bits       int
	blockAlign int      // 0: channels·bits/8
	before     []string // chunk IDs of small chunks written before fmt
	dataSize   int64    // -1: len(payload)
}

// buildWAV writes a RIFF/WAVE file around payload, the raw data chunk.
func buildWAV(s wavSpec, payload []byte) []byte {
	le := binary.LittleEndian
	chunk := func(b []byte, id string, body []byte, size int64) []byte {
		b = append(b, id...)
		b = le.AppendUint32(b, uint32(size))
		b = append(b, body...)
		if len(body)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	ba := s.blockAlign
	if ba == 0 {
		ba = s.channels * s.bits / 8
	}
	var f []byte
	f = le.AppendUint16(f, s.tag)
	f = le.AppendUint16(f, uint16(s.channels))
	f = le.AppendUint32(f, uint32(s.rate))
	f = le.AppendUint32(f, uint32(s.rate*ba))
	f = le.AppendUint16(f, uint16(ba))
	f = le.AppendUint16(f, uint16(s.bits))
	if s.tag == tagExtensible {
		valid := s.validBits
		if valid == 0 {
			valid = s.bits
		}
		f = le.AppendUint16(f, 22)
		f = le.AppendUint16(f, uint16(valid))
		f = le.AppendUint32(f, 0x3) // front left | front right
		f = le.AppendUint16(f, s.sub)
		f = append(f, guidTail[:]...)
	}
	b := []byte("RIFF\x00\x00\x00\x00WAVE")
	for _, id := range s.before {
		b = chunk(b, id, []byte("odd"), 3) // odd size: exercises the pad byte
	}
	b = chunk(b, "fmt ", f, int64(len(f)))
	size := s.dataSize
	if size < 0 {
		size = int64(len(payload))
	}
	b = chunk(b, "data", payload, size)
	le.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// testInts is a 440 Hz sine at 0.8 of full scale for bits-bit samples,
// followed by the extremes and zero.
func testInts(bits, n int) []int64 {
	full := int64(1) << (bits - 1)
	v := make([]int64, 0, n+3)
	for i := range n {
		v = append(v, int64(math.Round(0.8*float64(full)*math.Sin(2*math.Pi*440*float64(i)/48000))))
	}
	return append(v, -full, full-1, 0)
}

// pack writes samples as little-endian bits-bit integers (8-bit unsigned).
func pack(v []int64, bits int) []byte {
	var b []byte
	for _, s := range v {
		switch bits {
		case 8:
			b = append(b, byte(s+128))
		case 16:
			b = binary.LittleEndian.AppendUint16(b, uint16(s))
		case 24:
			b = append(b, byte(s), byte(s>>8), byte(s>>16))
		case 32:
			b = binary.LittleEndian.AppendUint32(b, uint32(s))
		}
	}
	return b
}

func TestDecodeWAVIntegerPCM(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bits   int
		ext    bool
		format string
	}{
		{"pcm8", 8, false, "pcm8"},
		{"pcm16", 16, false, "pcm16"},
		{"pcm24", 24, false, "pcm24"},
		{"pcm32", 32, false, "pcm32"},
		{"extensible pcm16", 16, true, "pcm16"},
		{"extensible pcm24", 24, true, "pcm24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := testInts(tc.bits, 1000)
			s := wavSpec{tag: tagPCM, channels: 1, rate: 48000, bits: tc.bits, dataSize: -1}
			if tc.ext {
				s.tag, s.sub = tagExtensible, tagPCM
			}
			clip, err := DecodeWAV(buildWAV(s, pack(v, tc.bits)), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if clip.SampleRate != 48000 || clip.Channels != 1 || clip.Format != tc.format || len(clip.Samples) != len(v) {
				t.Fatalf("got rate %d channels %d format %q len %d", clip.SampleRate, clip.Channels, clip.Format, len(clip.Samples))
			}
			scale := math.Ldexp(1, tc.bits-1)
			// One LSB of the source, or of float32 for 32-bit samples.
			lsb := max(1/scale, 0x1p-24)
			for i, s := range v {
				want := float32(float64(s) / scale)
				if got := clip.Samples[i]; got != want {
					t.Fatalf("sample %d: got %v, want %v (raw %d)", i, got, want, s)
				}
				if i < 1000 {
					sine := 0.8 * math.Sin(2*math.Pi*440*float64(i)/48000)
					if d := math.Abs(float64(clip.Samples[i]) - sine); d > lsb {
						t.Fatalf("sample %d: %v is %g from the sine, over 1 LSB", i, clip.Samples[i], d)
					}
				}
			}
			if clip.Samples[len(v)-3] != -1 {
				t.Errorf("negative full scale decoded as %v, want -1", clip.Samples[len(v)-3])
			}
		})
	}
}

func TestDecodeWAVExtensibleLeftJustified(t *testing.T) {
	// 24 valid bits in a 32-bit container are stored shifted left by 8.
	v := testInts(24, 200)
	shifted := make([]int64, len(v))
	for i, s := range v {
		shifted[i] = s << 8
	}
	s := wavSpec{tag: tagExtensible, sub: tagPCM, validBits: 24, channels: 1, rate: 44100, bits: 32, dataSize: -1}
	clip, err := DecodeWAV(buildWAV(s, pack(shifted, 32)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range v {
		if want := float32(float64(s) / (1 << 23)); clip.Samples[i] != want {
			t.Fatalf("sample %d: got %v, want %v", i, clip.Samples[i], want)
		}
	}
}

func TestDecodeWAVFloat(t *testing.T) {
	vals := []float64{0, 0.5, -0.25, 1, -1, 0.123456789, 3, -7, math.NaN(), math.Inf(1)}
	want := []float32{0, 0.5, -0.25, 1, -1, float32(0.123456789), 1, -1, 0, 1}
	for _, tc := range []struct {
		name string
		bits int
		ext  bool
	}{{"float32", 32, false}, {"float64", 64, false}, {"extensible float32", 32, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var payload []byte
			for _, v := range vals {
				if tc.bits == 32 {
					payload = binary.LittleEndian.AppendUint32(payload, math.Float32bits(float32(v)))
				} else {
					payload = binary.LittleEndian.AppendUint64(payload, math.Float64bits(v))
				}
			}
			s := wavSpec{tag: tagFloat, channels: 1, rate: 16000, bits: tc.bits, dataSize: -1}
			if tc.ext {
				s.tag, s.sub = tagExtensible, tagFloat
			}
			clip, err := DecodeWAV(buildWAV(s, payload), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if wantFmt := "float" + strconv.Itoa(tc.bits); clip.Format != wantFmt {
				t.Errorf("format %q, want %q", clip.Format, wantFmt)
			}
			for i := range want {
				if clip.Samples[i] != want[i] {
					t.Errorf("sample %d (%v): got %v, want %v", i, vals[i], clip.Samples[i], want[i])
				}
			}
		})
	}
}

func TestDecodeWAVMixdown(t *testing.T) {
	// Stereo 16-bit: left a sine, right minus half of it; the mean of the
	// two is exact in float32.
	left := testInts(16, 500)
	var payload []byte
	want := make([]float32, len(left))
	for i, l := range left {
		r := -l / 2
		payload = binary.LittleEndian.AppendUint16(payload, uint16(l))
		payload = binary.LittleEndian.AppendUint16(payload, uint16(r))
		want[i] = float32(float64(l+r) / 32768 / 2)
	}
	clip, err := DecodeWAV(buildWAV(wavSpec{tag: tagPCM, channels: 2, rate: 22050, bits: 16, dataSize: -1}, payload), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if clip.Channels != 2 || len(clip.Samples) != len(left) {
		t.Fatalf("channels %d len %d", clip.Channels, len(clip.Samples))
	}
	for i := range want {
		if clip.Samples[i] != want[i] {
			t.Fatalf("frame %d: got %v, want %v", i, clip.Samples[i], want[i])
		}
	}

	// Six channels of 24-bit, channel c holding c·1000: mean 2500.
	var six []int64
	for range 10 {
		for c := range int64(6) {
			six = append(six, c*1000)
		}
	}
	clip, err = DecodeWAV(buildWAV(wavSpec{tag: tagPCM, channels: 6, rate: 48000, bits: 24, dataSize: -1}, pack(six, 24)), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range clip.Samples {
		if want := float32(2500.0 / (1 << 23)); math.Abs(float64(got-want)) > 1.0/(1<<23) {
			t.Fatalf("frame %d: got %v, want %v", i, got, want)
		}
	}
}

func TestDecodeWAVChunkLayout(t *testing.T) {
	// Odd-sized chunks before fmt, and a partial trailing frame.
	v := testInts(16, 100)
	payload := append(pack(v, 16), 0x7f) // one stray byte
	s := wavSpec{tag: tagPCM, channels: 1, rate: 8000, bits: 16, before: []string{"LIST", "bext"}, dataSize: -1}
	clip, err := DecodeWAV(buildWAV(s, payload), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(clip.Samples) != len(v) {
		t.Fatalf("got %d samples, want %d (partial frame dropped)", len(clip.Samples), len(v))
	}
	if got := clip.Seconds(); got != float64(len(v))/8000 {
		t.Errorf("Seconds() = %v", got)
	}
}

// TestDecodeWAVGoAudioEncoder reads a file written by go-audio/wav, an
// encoder this package does not share code with, including the LIST chunk
// it appends after the data.
func TestDecodeWAVGoAudioEncoder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	enc := wav.NewEncoder(f, 44100, 16, 2, 1)
	enc.Metadata = &wav.Metadata{Title: "test"}
	v := testInts(16, 300)
	data := make([]int, 0, 2*len(v))
	for _, s := range v {
		data = append(data, int(s), int(s))
	}
	buf := &goaudio.IntBuffer{Data: data, Format: &goaudio.Format{NumChannels: 2, SampleRate: 44100}, SourceBitDepth: 16}
	if err := enc.Write(buf); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clip, err := DecodeWAV(b, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if clip.SampleRate != 44100 || clip.Channels != 2 || len(clip.Samples) != len(v) {
		t.Fatalf("rate %d channels %d len %d", clip.SampleRate, clip.Channels, len(clip.Samples))
	}
	for i, s := range v {
		if want := float32(float64(s) / 32768); clip.Samples[i] != want {
			t.Fatalf("frame %d: got %v, want %v", i, clip.Samples[i], want)
		}
	}
}

func TestDecodeWAVErrors(t *testing.T) {
	pcm16 := wavSpec{tag: tagPCM, channels: 1, rate: 16000, bits: 16, dataSize: -1}
	good := pack(testInts(16, 100), 16)
	with := func(f func(*wavSpec)) []byte {
		s := pcm16
		f(&s)
		return buildWAV(s, good)
	}
	noData := buildWAV(pcm16, nil)[:36] // header and fmt chunk only
	noFmt := []byte("RIFF\x00\x00\x00\x00WAVEdata\x02\x00\x00\x00\x00\x00")
	for _, tc := range []struct {
		name   string
		data   []byte
		lim    Limits
		reason string
	}{
		{"empty file", nil, DefaultLimits(), ReasonEmptyFile},
		{"mp3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90"), DefaultLimits(), ReasonNotWAV},
		{"html", []byte("<!DOCTYPE html><html>"), DefaultLimits(), ReasonNotWAV},
		{"riff avi", []byte("RIFF\x00\x00\x00\x00AVI LIST"), DefaultLimits(), ReasonNotWAV},
		{"cut in riff header", []byte("RIFF\x10\x00\x00"), DefaultLimits(), ReasonTruncated},
		{"data claims more", with(func(s *wavSpec) { s.dataSize = 1 << 20 }), DefaultLimits(), ReasonTruncated},
		{"streaming size", with(func(s *wavSpec) { s.dataSize = 0xFFFFFFFF }), DefaultLimits(), ReasonTruncated},
		{"cut in chunk header", append(noData, 'd', 'a', 't'), DefaultLimits(), ReasonTruncated},
		{"no fmt", noFmt, DefaultLimits(), ReasonBadHeader},
		{"fmt under 16 bytes", []byte("RIFF\x00\x00\x00\x00WAVEfmt \x04\x00\x00\x00\x01\x00\x01\x00data\x00\x00\x00\x00"), DefaultLimits(), ReasonBadHeader},
		{"block align", with(func(s *wavSpec) { s.blockAlign = 3 }), DefaultLimits(), ReasonBadHeader},
		{"no data", noData, DefaultLimits(), ReasonNoData},
		{"zero channels", with(func(s *wavSpec) { s.channels = 0 }), DefaultLimits(), ReasonZeroChannels},
		{"zero rate", with(func(s *wavSpec) { s.rate = 0 }), DefaultLimits(), ReasonZeroSampleRate},
		{"rate over limit", with(func(s *wavSpec) { s.rate = 1 << 22 }), DefaultLimits(), ReasonUnsupportedRate},
		{"a-law", with(func(s *wavSpec) { s.tag = 6; s.bits = 8; s.blockAlign = 1 }), DefaultLimits(), ReasonUnsupportedFormat},
		{"extensible adpcm", with(func(s *wavSpec) { s.tag, s.sub = tagExtensible, 2 }), DefaultLimits(), ReasonUnsupportedFormat},
		{"rifx", append([]byte("RIFX"), with(func(*wavSpec) {})[4:]...), DefaultLimits(), ReasonUnsupportedFormat},
		{"12-bit pcm", with(func(s *wavSpec) { s.bits = 12; s.blockAlign = 2 }), DefaultLimits(), ReasonUnsupportedBits},
		{"16-bit float", with(func(s *wavSpec) { s.tag = tagFloat }), DefaultLimits(), ReasonUnsupportedBits},
		{"empty audio", buildWAV(pcm16, nil), DefaultLimits(), ReasonEmptyAudio},
		{"too long", with(func(*wavSpec) {}), Limits{MaxSamples: 99}, ReasonTooLong},
		{"too many seconds", with(func(*wavSpec) {}), Limits{MaxSeconds: 0.005}, ReasonTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clip, err := DecodeWAV(tc.data, tc.lim)
			var de *transforms.InputError
			if !errors.As(err, &de) {
				t.Fatalf("got clip %v, error %v; want a *transforms.InputError", clip, err)
			}
			if de.Reason != tc.reason {
				t.Errorf("reason %q (%v), want %q", de.Reason, err, tc.reason)
			}
			if clip != nil {
				t.Errorf("clip %v returned with an error", clip)
			}
		})
	}
	// At exactly the limit the clip decodes.
	if _, err := DecodeWAV(with(func(*wavSpec) {}), Limits{MaxSamples: 103, MaxSeconds: 103.0 / 16000}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
}

// FuzzDecodeWAV checks that no input panics (a recovered panic would show
// as decoder_panic) and that every decoded sample is in [-1, 1].
func FuzzDecodeWAV(f *testing.F) {
	f.Add(buildWAV(wavSpec{tag: tagPCM, channels: 2, rate: 8000, bits: 24, dataSize: -1}, pack(testInts(24, 20), 24)))
	f.Add(buildWAV(wavSpec{tag: tagExtensible, sub: tagFloat, channels: 1, rate: 8000, bits: 32, dataSize: -1}, make([]byte, 16)))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, data []byte) {
		clip, err := DecodeWAV(data, Limits{MaxSamples: 1 << 16, MaxSampleRate: 768000})
		var de *transforms.InputError
		switch {
		case errors.As(err, &de) && de.Reason == ReasonDecoderPanic:
			t.Fatalf("decoder panicked: %v", err)
		case err != nil:
			return
		}
		if clip.SampleRate <= 0 || clip.Channels <= 0 || len(clip.Samples) == 0 {
			t.Fatalf("bad clip: rate %d channels %d len %d", clip.SampleRate, clip.Channels, len(clip.Samples))
		}
		for i, v := range clip.Samples {
			if !(v >= -1 && v <= 1) {
				t.Fatalf("sample %d = %v outside [-1, 1]", i, v)
			}
		}
	})
}
