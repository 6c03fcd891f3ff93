package av

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/pretext-dev/pretext/transforms"
)

// maxFramePixels bounds the frame size even when the caller sets no limit:
// ffmpeg refuses frames of 2^28 pixels or more (av_image_check_size), and a
// header that claims one must not make Frames allocate its buffer.
const maxFramePixels = 1<<28 - 1

// Frame is one video frame sampled by Frames.
type Frame struct {
	// Time is the frame's presentation time in seconds on the file's
	// timeline (ffmpeg shifts the file's earliest stream start to 0).
	Time float64
	// Image is the frame as shown: rotated as the file asks, at the
	// stream's stored pixel size (no aspect-ratio correction), opaque.
	Image *image.NRGBA
}

// Frames is Runner{}.Frames.
func Frames(ctx context.Context, path string, fps float64, maxFrames, maxPixels int) ([]Frame, error) {
	return Runner{}.Frames(ctx, path, fps, maxFrames, maxPixels)
}

// Frames decodes the first video stream of the file at path and samples it
// at fps frames per second, returning each sample with its time. fps 0
// returns every decoded frame at its own time.
//
// Sampling is ffmpeg's fps filter: output frame n has time n/fps, for n from
// the first frame's time rounded to that grid, and shows the last input
// frame whose time, rounded to the nearest grid point, is at or before it
// (so at most half a period from the frame on screen at n/fps). A 4 s clip
// gives times 0, 1, 2, 3 at fps 1 and 0, 0.5, …, 3.5 at fps 2.
//
// How times are known: the raw pipe carries pixels only, so a showinfo
// filter, last in the chain, logs each frame's integer pts and the chain's
// output time base (1/fps as a rational, e.g. 100/2997 for 29.97) on
// stderr, and Time is pts×num/den. ffmpeg writes frames to the pipe in the
// order showinfo logs them (-fps_mode passthrough: no frame is duplicated
// or dropped after the filter), so the i-th logged time is the i-th
// frame's. This is the exact rational time, not showinfo's printed
// pts_time, which has six significant digits.
//
// Bounds: a stream whose frames (as shown) have more than maxPixels pixels
// is rejected from Probe's numbers before anything is decoded, and a file
// that would give more than maxFrames frames is stopped at the frame after
// the last allowed one; both give ReasonTooLarge. 0 disables a bound (then
// memory grows with the clip: 4 bytes per pixel per frame; frames of 2^28
// pixels or more, which ffmpeg cannot make, are too large whatever the
// bound). A file without a
// video stream gives ReasonNoVideoStream.
func (r Runner) Frames(ctx context.Context, path string, fps float64, maxFrames, maxPixels int) ([]Frame, error) {
	var frames []Frame
	err := r.EachFrame(ctx, path, fps, maxFrames, maxPixels, func(f Frame) error {
		frames = append(frames, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return frames, nil
}

// EachFrame is Frames without holding the frames: it calls fn with each
// frame as soon as it is decoded, so memory does not grow with the clip.
// Frames already passed to fn are not taken back when a later error (a
// corrupt tail, too many frames) ends the call: a caller that must not use
// part of a clip keeps what fn saw aside until EachFrame returns nil. An error
// returned by fn stops ffmpeg and is returned as is.
func (r Runner) EachFrame(ctx context.Context, path string, fps float64, maxFrames, maxPixels int, fn func(Frame) error) error {
	switch {
	case !(fps >= 0) || math.IsInf(fps, 0):
		return fmt.Errorf("av: frames: fps must be finite and >= 0 (got %g)", fps)
	case maxFrames < 0:
		return fmt.Errorf("av: frames: maxFrames must be >= 0 (got %d)", maxFrames)
	case maxPixels < 0:
		return fmt.Errorf("av: frames: maxPixels must be >= 0 (got %d)", maxPixels)
	}
	if err := r.Validate(); err != nil {
		return err
	}
	url, abs, err := input(path)
	if err != nil {
		return err
	}
	info, err := r.probe(ctx, url, abs)
	if err != nil {
		return err
	}
	base := filepath.Base(abs)
	v := info.Video
	if v == nil {
		if info.badVideo != "" {
			return transforms.DecodeError(ReasonCorruptMedia, info.badVideo)
		}
		return transforms.DecodeError(ReasonNoVideoStream, base+": no video stream")
	}
	w, h := v.Width, v.Height
	if maxPixels <= 0 || maxPixels > maxFramePixels {
		maxPixels = maxFramePixels
	}
	if int64(w)*int64(h) > int64(maxPixels) {
		return transforms.DecodeError(ReasonTooLarge, fmt.Sprintf("%s: %dx%d frames have %d pixels, over the limit of %d",
			base, w, h, int64(w)*int64(h), maxPixels))
	}
	prog, err := r.ffmpeg()
	if err != nil {
		return err
	}

	// The scale filter pins every frame to w×h, so that a stream whose size
	// changes midway cannot misalign the raw pipe; its flags make the
	// YUV-to-RGB conversion bit-exact with and without SIMD.
	vf := fmt.Sprintf("scale=w=%d:h=%d:flags=bicubic+accurate_rnd+full_chroma_int+bitexact,format=rgb24,showinfo", w, h)
	if fps > 0 {
		vf = "fps=fps=" + strconv.FormatFloat(fps, 'g', -1, 64) + "," + vf
	}
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info",
		"-threads", r.threads(), "-filter_threads", r.threads(), "-flags", "+bitexact"}
	args = append(args, r.inputArgs(url)...)
	args = append(args, "-map", fmt.Sprintf("0:%d", v.Index), "-an", "-sn", "-dn",
		"-vf", vf, "-fps_mode", "passthrough")
	if maxFrames > 0 {
		args = append(args, "-frames:v", strconv.Itoa(maxFrames+1))
	}
	args = append(args, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")

	st := showinfo{ready: make(chan struct{}, 1)}
	log := newStderrLog(url, abs, st.line)
	p := r.command(ctx, prog, args, log)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		p.cancel()
		return fmt.Errorf("av: frames: %w", err)
	}
	if err := p.start(); err != nil {
		return err
	}
	buf := make([]byte, w*h*3)
	var (
		n       int
		tooMany bool
		partial bool
		readErr error
		fnErr   error
		timeErr error
	)
	for {
		_, err := io.ReadFull(stdout, buf)
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
			case errors.Is(err, io.ErrUnexpectedEOF):
				partial = true
			default:
				readErr = err
			}
			break
		}
		if maxFrames > 0 && n == maxFrames {
			tooMany = true
			break
		}
		// ffmpeg logs a frame's time before it writes the frame, so the
		// time is on its way through the stderr pipe.
		t, err := st.wait(ctx, n)
		if err != nil {
			timeErr = err
			break
		}
		if err := fn(Frame{Time: t, Image: rgbToNRGBA(buf, w, h)}); err != nil {
			fnErr = err
			break
		}
		n++
	}
	if tooMany || partial || readErr != nil || fnErr != nil || timeErr != nil {
		p.kill()
	}
	waitErr := p.wait()
	if tooMany && ctx.Err() == nil {
		return transforms.DecodeError(ReasonTooLarge, fmt.Sprintf("%s: more than %d frames at %g fps", base, maxFrames, fps))
	}
	if readErr != nil && ctx.Err() == nil { // the pipe failed, not ffmpeg: the machine's problem
		return fmt.Errorf("av: frames: reading ffmpeg's output: %w", readErr)
	}
	if fnErr != nil {
		return fnErr
	}
	if waitErr != nil {
		return waitErr
	}
	switch {
	case partial:
		return transforms.DecodeError(ReasonCorruptMedia, base+": ffmpeg's output ended inside a frame")
	case n == 0:
		return transforms.DecodeError(ReasonCorruptMedia, base+": no frame could be decoded")
	case timeErr != nil:
		return timeErr
	}
	return nil
}

// rgbToNRGBA copies one packed rgb24 frame into a new opaque NRGBA image.
func rgbToNRGBA(rgb []byte, w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	pix := img.Pix
	for i, j := 0, 0; i < len(rgb); i, j = i+3, j+4 {
		pix[j], pix[j+1], pix[j+2], pix[j+3] = rgb[i], rgb[i+1], rgb[i+2], 0xff
	}
	return img
}

// showinfo collects frame times from the showinfo filter's log lines:
//
//	[Parsed_showinfo_3 @ 0x…] [info] config in time_base: 1/2, frame_rate: 2/1
//	[Parsed_showinfo_3 @ 0x…] [info] n:   1 pts:      1 pts_time:0.5 …
//
// A time is pts×num/den with the time base of the latest "config in" line
// (the filter graph is configured again if the stream changes size).
type showinfo struct {
	mu       sync.Mutex
	num, den int64
	times    []float64
	err      error
	// ready is signalled (without blocking) after each logged time.
	ready chan struct{}
}

// frameTimeWait bounds how long the reader of frame i waits for its logged
// time; ffmpeg wrote it before the frame, so only a change in its log format
// makes this wait run out.
const frameTimeWait = 30 * time.Second

// wait returns frame i's time once the log has it.
func (s *showinfo) wait(ctx context.Context, i int) (float64, error) {
	timer := time.NewTimer(frameTimeWait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return 0, transforms.DecodeError(ReasonCorruptMedia, err.Error())
		}
		if i < len(s.times) {
			t := s.times[i]
			s.mu.Unlock()
			return t, nil
		}
		s.mu.Unlock()
		select {
		case <-s.ready:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timer.C:
			return 0, fmt.Errorf("av: frames: ffmpeg logged no time for frame %d within %s: is it ffmpeg 5.1 or newer?", i, frameTimeWait)
		}
	}
}

var (
	showinfoTB  = regexp.MustCompile(`^\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] config in time_base: (\d+)/(\d+),`)
	showinfoPTS = regexp.MustCompile(`^\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] n:\s*\d+ pts:\s*(\S+) `)
)

// line is a stderrLog.onLine callback; stderrLog serialises the calls.
func (s *showinfo) line(l string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}()
	if s.err != nil {
		return
	}
	if m := showinfoTB.FindStringSubmatch(l); m != nil {
		s.num, _ = strconv.ParseInt(m[1], 10, 64)
		s.den, _ = strconv.ParseInt(m[2], 10, 64)
		return
	}
	m := showinfoPTS.FindStringSubmatch(l)
	if m == nil {
		return
	}
	pts, err := strconv.ParseInt(m[1], 10, 64)
	switch {
	case err != nil:
		s.err = fmt.Errorf("frame %d has no timestamp (pts %s)", len(s.times), m[1])
	case s.num <= 0 || s.den <= 0:
		s.err = fmt.Errorf("frame %d: no time base logged before it", len(s.times))
	default:
		// pts×num is exact in float64 up to 2^53; the one division rounds.
		s.times = append(s.times, float64(pts*s.num)/float64(s.den))
	}
}
