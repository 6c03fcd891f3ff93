package av

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pretext-dev/pretext/transforms"
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
// Audio longer than maxSeconds, or of more than r.MaxSamples frames, gives
// ReasonTooLarge: decoding stops soon after the limit, so a long file costs
// little more than the limit. ffmpeg's interleaved output is mixed down as
// it arrives, 64 KiB at a time, so memory is 4 bytes a frame whatever the
// channel count (a crafted FLAC of 8 channels of silence at 655 kHz for
// 600 s is a few MB of file and would be 12.6 GB interleaved). With neither
// limit (0), memory grows with the file. A file without an audio stream
// gives ReasonNoAudioStream.
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
			return nil, 0, transforms.DecodeError(ReasonCorruptMedia, info.badAudio)
		}
		return nil, 0, transforms.DecodeError(ReasonNoAudioStream, base+": no audio stream")
	}
	rate, ch := a.SampleRate, a.Channels
	maxFrames := int64(-1)
	if maxSeconds > 0 {
		maxFrames = int64(math.Ceil(maxSeconds * float64(rate)))
	}
	if r.MaxSamples > 0 && (maxFrames < 0 || r.MaxSamples < maxFrames) {
		maxFrames = r.MaxSamples
	}
	// declared is the frames the header promises, within the cap; -1 when
	// it promises nothing.
	declared := int64(-1)
	if d := a.Duration; d > 0 && d < 24*3600 {
		declared = int64(d*float64(rate)) + maxPadding
		if maxFrames >= 0 {
			declared = min(declared, maxFrames+maxPadding)
		}
	}
	if r.Reserve != nil {
		// What the output will hold: the declared frames, or, without a
		// declaration, the cap.
		frames := declared
		if frames < 0 && maxFrames >= 0 {
			frames = maxFrames + maxPadding
		}
		if err := r.Reserve(max(frames, 0), rate); err != nil {
			return nil, 0, err
		}
	}
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
	var mono []float32
	switch {
	case declared >= 0:
		// One allocation for an honest header. A lying one costs at most
		// what the cap admits anyway, or 64 MiB without a cap.
		if maxFrames < 0 {
			declared = min(declared, 16<<20)
		}
		mono = make([]float32, 0, declared)
	case maxFrames >= 0:
		// No length declared (a FLAC written to a pipe): room for the cap at
		// once rather than a doubling whose outgrown slices stay resident
		// (775 MB peak RSS for one such 600 s 8-channel FLAC, collecting
		// before each large growth). Pages the samples never reach are
		// never touched.
		mono = make([]float32, 0, maxFrames+maxPadding)
	}
	// Room for the padding that trimming below may remove.
	mono, overRead, readErr := readMono(stdout, mono, ch, maxFrames+maxPadding, maxFrames >= 0)
	if overRead || readErr != nil {
		p.kill()
	}
	waitErr := p.wait()
	tooLarge := func() error {
		if r.MaxSamples > 0 && maxFrames == r.MaxSamples {
			return transforms.DecodeError(ReasonTooLarge, fmt.Sprintf("%s: more than %d samples per channel at %d Hz", base, r.MaxSamples, rate))
		}
		return transforms.DecodeError(ReasonTooLarge, fmt.Sprintf("%s: audio longer than %g s", base, maxSeconds))
	}
	if overRead && ctx.Err() == nil {
		return nil, 0, tooLarge()
	}
	if readErr != nil && ctx.Err() == nil { // the pipe failed, not ffmpeg: the machine's problem
		return nil, 0, fmt.Errorf("av: audio: reading ffmpeg's output: %w", readErr)
	}
	if waitErr != nil {
		return nil, 0, waitErr
	}
	n := int64(len(mono))
	if isMOV(info.Format) && a.Duration > 0 {
		if declared := int64(math.Round(a.Duration * float64(rate))); n > declared && n-declared <= maxPadding {
			n = declared
		}
	}
	if n == 0 {
		return nil, 0, transforms.DecodeError(ReasonCorruptMedia, base+": no audio sample could be decoded")
	}
	if maxFrames >= 0 && n > maxFrames {
		return nil, 0, tooLarge()
	}
	return mono[:n], rate, nil
}

// readMono reads interleaved little-endian float32 frames of ch channels
// from r and appends them to mono, mixed down (see mixInto), 64 KiB at a
// time: the interleaved stream is never held. With capped set it stops,
// over = true, as soon as a block would take it past limit frames, and
// mono never grows past limit. A partial frame at the end is dropped.
func readMono(r io.Reader, mono []float32, ch int, limit int64, capped bool) (out []float32, over bool, err error) {
	frame := 4 * ch
	buf := make([]byte, max(64<<10/frame, 1)*frame)
	have := 0 // bytes of buf holding a partial frame from the last read
	for {
		n, rerr := r.Read(buf[have:])
		have += n
		whole := have / frame
		if capped && int64(len(mono)+whole) > limit {
			return mono, true, nil // over: these frames would only be dropped
		}
		if need := len(mono) + whole; need > cap(mono) {
			// Doubling, not append's 1.25×: fewer copies left for the
			// collector, and never past what the cap admits.
			c := max(need, 2*cap(mono), 1<<16)
			if capped {
				c = min(c, int(limit))
			}
			grown := make([]float32, len(mono), c)
			copy(grown, mono)
			mono = grown
		}
		mixInto(mono[len(mono):len(mono)+whole], buf[:whole*frame], ch)
		mono = mono[:len(mono)+whole]
		have = copy(buf, buf[whole*frame:have])
		switch {
		case rerr == io.EOF:
			return mono, false, nil
		case rerr != nil:
			return mono, false, rerr
		}
	}
}

// maxPadding is the most samples of a lossy codec's last-frame padding that
// Audio trims from an MP4 (an AAC frame is 1024 samples; HE-AAC's 2048).
const maxPadding = 2048

// isMOV reports whether ffprobe's format name is the MOV/MP4 demuxer's.
func isMOV(format string) bool { return strings.HasPrefix(format, "mov,mp4,") }

// mixInto averages the len(out) interleaved little-endian float32 frames
// of ch channels in b into out. The sum is float64 in channel order, then
// one division, so the result is the same on every machine and the same
// whichever blocks the frames arrive in.
func mixInto(out []float32, b []byte, ch int) {
	if ch == 1 {
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return
	}
	for i := range out {
		sum := 0.0
		for c := range ch {
			sum += float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*(i*ch+c):])))
		}
		out[i] = float32(sum / float64(ch))
	}
}
