package av

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
)

// Audio is Runner{}.Audio.
func Audio(ctx context.Context, path string, maxSeconds float64) (samples []float32, rate int, err error) {
	return Runner{}.Audio(ctx, path, maxSeconds)
}

// Audio decodes the first audio stream of the file at path (WAV, MP3, FLAC,
// Ogg, M4A, or the sound of a video) to mono float32 samples at the
// stream's own sample rate, which it returns. Channels are averaged, as
// librosa and package audio do (not ffmpeg's -ac 1 downmix, which weights
// stereo by 1/√2 and can exceed full scale). Samples are nominally in
// [-1, 1]; lossy decoders may overshoot a little.
//
// In MP4/MOV/M4A files the samples are cut to the duration the track
// declares: ffmpeg 5.1 drops an AAC encoder's priming samples at the start
// as the edit list says, but keeps the padding of the last frame (up to a
// frame, 1024 samples for AAC-LC), so a 4 s clip would decode to 4.032 s at
// 16 kHz. At most maxPadding samples are cut; a bigger excess is kept.
//
// Audio longer than maxSeconds gives ReasonTooLarge: decoding stops soon
// after the limit, so a long file costs little more than the limit (0: no
// limit, and memory grows with the file, 4 bytes per sample and channel).
// A file without an audio stream gives ReasonNoAudioStream.
//
// ffmpeg runs with -cpuflags 0 (no SIMD) so that lossy decoders give the
// same bits on every x86-64 CPU.
func (r Runner) Audio(ctx context.Context, path string, maxSeconds float64) (samples []float32, rate int, err error) {
	if !(maxSeconds >= 0) || math.IsInf(maxSeconds, 0) {
		return nil, 0, fmt.Errorf("av: audio: maxSeconds must be finite and >= 0 (got %g)", maxSeconds)
	}
	if err := r.Validate(); err != nil {
		return nil, 0, err
	}
	url, abs, err := input(path)
	if err != nil {
		return nil, 0, err
	}
	info, err := r.probe(ctx, url, abs)
	if err != nil {
		return nil, 0, err
	}
	base := filepath.Base(abs)
	a := info.Audio
	if a == nil {
		if info.badAudio != "" {
			return nil, 0, &Error{Reason: ReasonCorruptMedia, Detail: info.badAudio}
		}
		return nil, 0, &Error{Reason: ReasonNoAudioStream, Detail: base + ": no audio stream"}
	}
	rate, ch := a.SampleRate, a.Channels
	prog, err := r.ffmpeg()
	if err != nil {
		return nil, 0, err
	}
	args := []string{"-cpuflags", "0", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+warning",
		"-threads", r.threads(), "-filter_threads", r.threads(), "-flags", "+bitexact"}
	args = append(args, r.inputArgs(url)...)
	// -ac and -ar pin the output to the probed layout even if the stream
	// changes midway, so the interleaved samples stay aligned.
	args = append(args, "-map", fmt.Sprintf("0:%d", a.Index), "-vn", "-sn", "-dn",
		"-ac", strconv.Itoa(ch), "-ar", strconv.Itoa(rate), "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1")

	log := newStderrLog(url, abs, nil)
	p := r.command(ctx, prog, args, log)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		p.cancel()
		return nil, 0, fmt.Errorf("av: audio: %w", err)
	}
	if err := p.start(); err != nil {
		return nil, 0, err
	}
	frame := int64(4 * ch) // bytes per sample of every channel
	var (
		src        io.Reader = stdout
		maxSamples int64     = -1
		readLimit  int64     = -1
	)
	if maxSeconds > 0 {
		maxSamples = int64(math.Ceil(maxSeconds * float64(rate)))
		// Room for the padding that trimming below may remove.
		readLimit = (maxSamples + maxPadding) * frame
		src = io.LimitReader(stdout, readLimit+1)
	}
	var out bytes.Buffer
	if d := a.Duration; d > 0 && d < 24*3600 {
		grow := (int64(d*float64(rate)) + maxPadding) * frame
		if readLimit >= 0 {
			grow = min(grow, readLimit+1)
		}
		out.Grow(int(min(grow, 64<<20))) // a header may lie: preallocate at most 64 MiB
	}
	_, readErr := out.ReadFrom(src)
	overRead := readLimit >= 0 && int64(out.Len()) > readLimit
	if overRead || readErr != nil {
		p.kill()
	}
	waitErr := p.wait()
	if overRead && ctx.Err() == nil {
		return nil, 0, &Error{Reason: ReasonTooLarge, Detail: fmt.Sprintf("%s: audio longer than %g s", base, maxSeconds)}
	}
	if readErr != nil && ctx.Err() == nil { // the pipe failed, not ffmpeg: the machine's problem
		return nil, 0, fmt.Errorf("av: audio: reading ffmpeg's output: %w", readErr)
	}
	if waitErr != nil {
		return nil, 0, waitErr
	}
	n := int64(out.Len()) / frame
	if isMOV(info.Format) && a.Duration > 0 {
		if declared := int64(math.Round(a.Duration * float64(rate))); n > declared && n-declared <= maxPadding {
			n = declared
		}
	}
	if n == 0 {
		return nil, 0, &Error{Reason: ReasonCorruptMedia, Detail: base + ": no audio sample could be decoded"}
	}
	if maxSamples >= 0 && n > maxSamples {
		return nil, 0, &Error{Reason: ReasonTooLarge, Detail: fmt.Sprintf("%s: audio longer than %g s", base, maxSeconds)}
	}
	return mixDown(out.Bytes(), int(n), ch), rate, nil
}

// maxPadding is the most samples of a lossy codec's last-frame padding that
// Audio trims from an MP4 (an AAC frame is 1024 samples; HE-AAC's 2048).
const maxPadding = 2048

// isMOV reports whether ffprobe's format name is the MOV/MP4 demuxer's.
func isMOV(format string) bool { return strings.HasPrefix(format, "mov,mp4,") }

// mixDown averages n interleaved little-endian float32 samples of ch
// channels to mono. The sum is float64 in channel order, then one division,
// so the result is the same on every machine.
func mixDown(b []byte, n, ch int) []float32 {
	out := make([]float32, n)
	if ch == 1 {
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	}
	for i := range out {
		sum := 0.0
		for c := range ch {
			sum += float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*(i*ch+c):])))
		}
		out[i] = float32(sum / float64(ch))
	}
	return out
}
