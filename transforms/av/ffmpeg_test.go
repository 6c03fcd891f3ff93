package av

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/disintegration/imaging"
	"github.com/pretext-dev/pretext/transforms"
)

// Fixtures: testdata/LICENSE-audio.md says where each comes from and
// scripts/make-av-fixtures.sh rebuilds them.
var (
	audioDir = filepath.Join("..", "..", "testdata", "audio")
	videoDir = filepath.Join("..", "..", "testdata", "video")
	imageDir = filepath.Join("..", "..", "testdata", "images")
)

// needFFmpeg skips the test when ffmpeg or ffprobe is not installed. CI
// installs them, so there the tests run.
func needFFmpeg(t testing.TB) {
	t.Helper()
	if err := Check(); err != nil {
		var e *transforms.InputError
		if errors.As(err, &e) && e.Reason == ReasonFFmpegMissing {
			t.Skipf("skipping: ffmpeg/ffprobe are not installed (%v); apt-get install ffmpeg to run this test", err)
		}
		t.Fatal(err)
	}
}

// reasonOf is the Reason of a *transforms.InputError in err's chain, or "".
func reasonOf(err error) string {
	var e *transforms.InputError
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func TestCheck(t *testing.T) {
	needFFmpeg(t)
	if err := (Runner{Timeout: 30 * time.Second, Threads: 2}).Check(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckMissing(t *testing.T) {
	// Resolve the real programs, if any, before PATH is emptied.
	realFFmpeg, _ := exec.LookPath("ffmpeg")
	realFFprobe, _ := exec.LookPath("ffprobe")
	t.Setenv(EnvFFmpeg, "")
	t.Setenv(EnvFFprobe, "")
	t.Setenv("PATH", "")

	const want = "ffmpeg not found on PATH: install it (apt-get install ffmpeg) or ship the pretext SDK container image"
	err := Check()
	if reasonOf(err) != ReasonFFmpegMissing || !strings.Contains(err.Error(), want) {
		t.Fatalf("Check with an empty PATH = %v, want %s with %q", err, ReasonFFmpegMissing, want)
	}
	if err.Error() != "decode: ffmpeg_missing: "+want {
		t.Errorf("Error() = %q", err.Error())
	}
	missing := filepath.Join(t.TempDir(), "no-such-ffmpeg")
	if err := (Runner{FFmpeg: missing}).Check(); reasonOf(err) != ReasonFFmpegMissing || !strings.Contains(err.Error(), missing) {
		t.Errorf("Check with Runner.FFmpeg missing = %v", err)
	}
	t.Setenv(EnvFFmpeg, missing)
	if err := Check(); reasonOf(err) != ReasonFFmpegMissing || !strings.Contains(err.Error(), "$"+EnvFFmpeg) {
		t.Errorf("Check with $%s missing = %v", EnvFFmpeg, err)
	}
	// Every entry point reports the missing program, not a data error.
	if _, err := Probe(context.Background(), filepath.Join(audioDir, "one.wav")); reasonOf(err) != ReasonFFmpegMissing {
		t.Errorf("Probe without ffprobe = %v", err)
	}
	if realFFmpeg == "" || realFFprobe == "" {
		return
	}
	// The environment variables override PATH.
	t.Setenv(EnvFFmpeg, realFFmpeg)
	if err := Check(); reasonOf(err) != ReasonFFmpegMissing || !strings.Contains(err.Error(), "ffprobe not found on PATH") {
		t.Errorf("Check with only $%s = %v, want ffprobe missing", EnvFFmpeg, err)
	}
	t.Setenv(EnvFFprobe, realFFprobe)
	if err := Check(); err != nil {
		t.Errorf("Check with both variables and an empty PATH = %v", err)
	}
	// A program that is not ffmpeg fails Check.
	if runtime.GOOS != "windows" {
		if err := (Runner{FFmpeg: "/bin/false"}).Check(); reasonOf(err) != ReasonFFmpegMissing {
			t.Errorf("Check with /bin/false as ffmpeg = %v", err)
		}
	}
}

func TestValidate(t *testing.T) {
	err := Runner{Timeout: -time.Second, Threads: -1, Demuxers: "mp4, wav"}.Validate()
	for _, field := range []string{"timeout:", "threads:", "demuxers:"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want it to name %s", err, field)
		}
	}
	if err := (Runner{}).Validate(); err != nil {
		t.Errorf("zero Runner: %v", err)
	}
}

func TestProbe(t *testing.T) {
	needFFmpeg(t)
	type vid struct {
		codec         string
		width, height int
		rotation      int
		fps           float64
	}
	type aud struct {
		codec    string
		rate, ch int
	}
	tests := []struct {
		file     string
		format   string
		duration float64
		video    *vid
		audio    *aud
	}{
		{"video/chelsea-pan.mp4", "mov,mp4,m4a,3gp,3g2,mj2", 4, &vid{"h264", 160, 120, 0, 10}, &aud{"aac", 16000, 1}},
		{"video/coffee-pan.mp4", "mov,mp4,m4a,3gp,3g2,mj2", 5, &vid{"h264", 320, 240, 0, 25}, &aud{"aac", 22050, 2}},
		{"video/astronaut-pan.webm", "matroska,webm", 3.008, &vid{"vp9", 160, 120, 0, 15}, &aud{"opus", 48000, 1}},
		{"video/rotated.mp4", "mov,mp4,m4a,3gp,3g2,mj2", 1, &vid{"h264", 120, 160, 90, 10}, nil},
		{"video/bad/noaudio.mp4", "mov,mp4,m4a,3gp,3g2,mj2", 2, &vid{"h264", 160, 120, 0, 10}, nil},
		{"video/bad/audioonly.m4a", "mov,mp4,m4a,3gp,3g2,mj2", 2, nil, &aud{"aac", 16000, 1}},
		{"audio/one.wav", "wav", 0.91125, nil, &aud{"pcm_s16le", 8000, 1}},
		{"audio/alsa-front-center.wav", "wav", 1.428021, nil, &aud{"pcm_s16le", 48000, 1}},
		{"audio/formats/hello-world-u8.wav", "wav", 1.40425, nil, &aud{"pcm_u8", 8000, 1}},
		{"audio/formats/hello-world-s24.wav", "wav", 1.40425, nil, &aud{"pcm_s24le", 8000, 1}},
		{"audio/formats/hello-world-s32.wav", "wav", 1.40425, nil, &aud{"pcm_s32le", 8000, 1}},
		{"audio/formats/hello-world-f32.wav", "wav", 1.40425, nil, &aud{"pcm_f32le", 8000, 1}},
		{"audio/formats/hello-world-stereo-44k.wav", "wav", 1.404263, nil, &aud{"pcm_s16le", 44100, 2}},
		{"audio/formats/hello-world.flac", "flac", 1.40425, nil, &aud{"flac", 8000, 1}},
		{"audio/formats/hello-world.mp3", "mp3", 0, nil, &aud{"mp3", 8000, 1}},
		{"audio/formats/hello-world.ogg", "ogg", 1.40425, nil, &aud{"vorbis", 16000, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			info, err := Probe(context.Background(), filepath.Join("..", "..", "testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != tt.format {
				t.Errorf("Format = %q, want %q", info.Format, tt.format)
			}
			// MP3's container duration is estimated from the bit rate.
			if tt.duration > 0 && math.Abs(info.Duration-tt.duration) > 1e-6 {
				t.Errorf("Duration = %g, want %g", info.Duration, tt.duration)
			}
			switch v := info.Video; {
			case tt.video == nil && v != nil:
				t.Errorf("Video = %+v, want none", *v)
			case tt.video != nil && v == nil:
				t.Errorf("Video = nil, want %+v", *tt.video)
			case tt.video != nil:
				got := vid{v.Codec, v.Width, v.Height, v.Rotation, v.FPS}
				if got != *tt.video {
					t.Errorf("Video = %+v, want %+v", got, *tt.video)
				}
			}
			switch a := info.Audio; {
			case tt.audio == nil && a != nil:
				t.Errorf("Audio = %+v, want none", *a)
			case tt.audio != nil && a == nil:
				t.Errorf("Audio = nil, want %+v", *tt.audio)
			case tt.audio != nil:
				got := aud{a.Codec, a.SampleRate, a.Channels}
				if got != *tt.audio {
					t.Errorf("Audio = %+v, want %+v", got, *tt.audio)
				}
			}
		})
	}
}

func TestFramesTimes(t *testing.T) {
	needFFmpeg(t)
	tests := []struct {
		file string
		fps  float64
		n    int     // frames expected
		step float64 // seconds between frames
		w, h int
	}{
		{"chelsea-pan.mp4", 1, 4, 1, 160, 120},
		{"chelsea-pan.mp4", 2, 8, 0.5, 160, 120},
		{"chelsea-pan.mp4", 3, 12, 1.0 / 3, 160, 120},
		{"chelsea-pan.mp4", 0.5, 2, 2, 160, 120},
		{"chelsea-pan.mp4", 0, 40, 0.1, 160, 120}, // every frame, at 10 fps
		{"coffee-pan.mp4", 2, 10, 0.5, 320, 240},
		{"coffee-pan.mp4", 0, 125, 0.04, 320, 240},
		{"astronaut-pan.webm", 5, 15, 0.2, 160, 120},
		{"rotated.mp4", 4, 4, 0.25, 120, 160}, // shown rotated: 120 wide
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/fps=%g", tt.file, tt.fps), func(t *testing.T) {
			t.Parallel()
			frames, err := Frames(context.Background(), filepath.Join(videoDir, tt.file), tt.fps, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != tt.n {
				t.Fatalf("got %d frames, want %d", len(frames), tt.n)
			}
			for i, f := range frames {
				// Times are exact rationals; a frame period is the test's
				// promise, 1e-9 what the implementation gives.
				if want := float64(i) * tt.step; math.Abs(f.Time-want) > 1e-9 {
					t.Errorf("frame %d: Time = %.12g, want %.12g", i, f.Time, want)
				}
				if b := f.Image.Bounds(); b != image.Rect(0, 0, tt.w, tt.h) {
					t.Errorf("frame %d: bounds %v, want %dx%d", i, b, tt.w, tt.h)
				}
			}
		})
	}
}

// TestFramesContent checks the pixels are the photo's: the first frame of
// chelsea-pan.mp4 is the 160×120 crop at (0, 46) of chelsea.jpg scaled to
// 320 wide, so its channel means must match that crop's, and the frames
// must change as the crop pans.
func TestFramesContent(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	frames, err := Frames(context.Background(), filepath.Join(videoDir, "chelsea-pan.mp4"), 1, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	photo, err := imaging.Open(filepath.Join(imageDir, "chelsea.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	scaled := imaging.Resize(photo, 320, 0, imaging.CatmullRom)
	want := imaging.Crop(scaled, image.Rect(0, 46, 160, 166))
	gm, wm := means(frames[0].Image), means(want)
	for c := range 3 {
		if math.Abs(gm[c]-wm[c]) > 6 {
			t.Errorf("channel %d: frame mean %.1f, photo crop mean %.1f", c, gm[c], wm[c])
		}
	}
	for i, f := range frames {
		for j := 3; j < len(f.Image.Pix); j += 4 {
			if f.Image.Pix[j] != 0xff {
				t.Fatalf("frame %d: alpha %d at byte %d, want opaque", i, f.Image.Pix[j], j)
			}
		}
		if i > 0 && bytes.Equal(f.Image.Pix, frames[i-1].Image.Pix) {
			t.Errorf("frames %d and %d are identical; the crop pans", i-1, i)
		}
	}
}

func means(img *image.NRGBA) [3]float64 {
	var s [3]float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			o := img.PixOffset(x, y)
			for c := range 3 {
				s[c] += float64(img.Pix[o+c])
			}
		}
	}
	n := float64(b.Dx() * b.Dy())
	return [3]float64{s[0] / n, s[1] / n, s[2] / n}
}

// TestFramesDeterministic: the same file gives the same bytes, whatever the
// number of decoder threads.
func TestFramesDeterministic(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	for _, file := range []string{"coffee-pan.mp4", "astronaut-pan.webm"} {
		path := filepath.Join(videoDir, file)
		a, err := Frames(context.Background(), path, 5, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Runner{Threads: 4}.Frames(context.Background(), path, 5, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) {
			t.Fatalf("%s: %d frames, then %d", file, len(a), len(b))
		}
		for i := range a {
			if a[i].Time != b[i].Time || !bytes.Equal(a[i].Image.Pix, b[i].Image.Pix) {
				t.Errorf("%s: frame %d differs between runs", file, i)
			}
		}
	}
}

func TestAudio(t *testing.T) {
	needFFmpeg(t)
	ref, refRate, err := Audio(context.Background(), filepath.Join(audioDir, "hello-world.wav"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if refRate != 8000 || len(ref) != 11234 {
		t.Fatalf("hello-world.wav: %d samples at %d Hz, want 11234 at 8000", len(ref), refRate)
	}
	tests := []struct {
		file    string
		rate    int
		seconds float64
		tol     float64 // seconds
		// maxDiff, if >= 0, bounds |sample - hello-world.wav's sample|.
		maxDiff float64
	}{
		{"audio/one.wav", 8000, 7290.0 / 8000, 0, -1},
		{"audio/alsa-front-center.wav", 48000, 1.428021, 1.0 / 48000, -1},
		{"audio/formats/hello-world-u8.wav", 8000, 1.40425, 0, 1.0 / 128},
		{"audio/formats/hello-world-s24.wav", 8000, 1.40425, 0, 0},
		{"audio/formats/hello-world-s32.wav", 8000, 1.40425, 0, 0},
		{"audio/formats/hello-world-f32.wav", 8000, 1.40425, 0, 0},
		{"audio/formats/hello-world.flac", 8000, 1.40425, 0, 0}, // lossless
		{"audio/formats/hello-world-stereo-44k.wav", 44100, 1.40425, 0.001, -1},
		{"audio/formats/hello-world.mp3", 8000, 1.40425, 0.05, -1},
		{"audio/formats/hello-world.ogg", 16000, 1.40425, 0.01, -1},
		{"video/chelsea-pan.mp4", 16000, 4, 0, -1},
		{"video/coffee-pan.mp4", 22050, 5, 0, -1},
		{"video/astronaut-pan.webm", 48000, 3, 0.01, -1},
		{"video/bad/audioonly.m4a", 16000, 2, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			samples, rate, err := Audio(context.Background(), filepath.Join("..", "..", "testdata", tt.file), 60)
			if err != nil {
				t.Fatal(err)
			}
			if rate != tt.rate {
				t.Errorf("rate = %d, want %d", rate, tt.rate)
			}
			if got := float64(len(samples)) / float64(rate); math.Abs(got-tt.seconds) > tt.tol+1e-9 {
				t.Errorf("%d samples = %.6f s, want %.6f ± %g", len(samples), got, tt.seconds, tt.tol)
			}
			peak := 0.0
			for _, s := range samples {
				peak = max(peak, math.Abs(float64(s)))
			}
			if !(peak > 0.05 && peak <= 1.1) {
				t.Errorf("peak |sample| = %g: not speech at a sane level", peak)
			}
			if tt.maxDiff < 0 {
				return
			}
			if len(samples) != len(ref) {
				t.Fatalf("%d samples, hello-world.wav has %d", len(samples), len(ref))
			}
			worst := 0.0
			for i := range samples {
				worst = max(worst, math.Abs(float64(samples[i]-ref[i])))
			}
			if worst > tt.maxDiff {
				t.Errorf("differs from hello-world.wav by up to %g, want <= %g", worst, tt.maxDiff)
			}
		})
	}
}

// TestAudioDownmix: hello-world-stereo-44k.wav has the voice on the left
// and the voice at half level on the right, so its mono mix peaks at 3/4
// of the left channel, which peaks like hello-world.wav.
func TestAudioDownmix(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	ref, _, err := Audio(context.Background(), filepath.Join(audioDir, "hello-world.wav"), 0)
	if err != nil {
		t.Fatal(err)
	}
	mix, _, err := Audio(context.Background(), filepath.Join(audioDir, "formats", "hello-world-stereo-44k.wav"), 0)
	if err != nil {
		t.Fatal(err)
	}
	peak := func(s []float32) float64 {
		p := 0.0
		for _, v := range s {
			p = max(p, math.Abs(float64(v)))
		}
		return p
	}
	if r := peak(mix) / peak(ref); math.Abs(r-0.75) > 0.05 {
		t.Errorf("mono mix peaks at %.3f of the original, want 0.75", r)
	}
}

func TestAudioDeterministic(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	for _, file := range []string{"video/chelsea-pan.mp4", "video/astronaut-pan.webm", "audio/formats/hello-world.mp3"} {
		path := filepath.Join("..", "..", "testdata", file)
		a, _, err := Audio(context.Background(), path, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := Runner{Threads: 3}.Audio(context.Background(), path, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != len(b) {
			t.Fatalf("%s: %d samples, then %d", file, len(a), len(b))
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s: sample %d differs between runs: %g, %g", file, i, a[i], b[i])
			}
		}
	}
}

// TestBadInputs: every bad fixture gives its Reason, with a Detail that
// names the file by its base name only.
func TestBadInputs(t *testing.T) {
	needFFmpeg(t)
	tests := []struct {
		file   string
		op     string // "probe", "frames" or "audio"
		reason string
		detail string // a substring of Detail
	}{
		{"audio/bad/0-byte.wav", "probe", ReasonCorruptMedia, "0-byte.wav: empty file"},
		{"audio/bad/0-byte.wav", "audio", ReasonCorruptMedia, "empty file"},
		{"audio/bad/truncated.wav", "audio", ReasonCorruptMedia, "truncated WAV: the data chunk is 12624 bytes short"},
		{"audio/bad/zero-channels.wav", "audio", ReasonCorruptMedia, "channel"},
		{"audio/bad/not-audio.wav", "audio", ReasonCorruptMedia, "not-audio.wav: Invalid data"},
		{"audio/one.wav", "frames", ReasonNoVideoStream, "one.wav: no video stream"},
		{"video/bad/empty.mp4", "frames", ReasonCorruptMedia, "empty file"},
		{"video/bad/corrupt.mp4", "frames", ReasonCorruptMedia, "moov atom not found"},
		{"video/bad/corrupt.mp4", "audio", ReasonCorruptMedia, "moov atom not found"},
		{"video/bad/noaudio.mp4", "audio", ReasonNoAudioStream, "noaudio.mp4: no audio stream"},
		{"video/bad/audioonly.m4a", "frames", ReasonNoVideoStream, "audioonly.m4a: no video stream"},
	}
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.op+"/"+tt.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("..", "..", "testdata", tt.file)
			var err error
			switch tt.op {
			case "probe":
				_, err = Probe(context.Background(), path)
			case "frames":
				_, err = Frames(context.Background(), path, 1, 0, 0)
			case "audio":
				_, _, err = Audio(context.Background(), path, 0)
			}
			var e *transforms.InputError
			if !errors.As(err, &e) || e.Reason != tt.reason {
				t.Fatalf("err = %v, want Reason %s", err, tt.reason)
			}
			if !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("Detail = %q, want it to contain %q", e.Detail, tt.detail)
			}
			if strings.Contains(e.Detail, abs) || strings.Contains(e.Detail, " @ 0x") {
				t.Errorf("Detail = %q holds a path or an address: not reproducible", e.Detail)
			}
		})
	}
	// A missing file is the caller's problem, not a dead letter.
	if _, err := Probe(context.Background(), filepath.Join(videoDir, "no-such.mp4")); err == nil || reasonOf(err) != "" ||
		!errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want a plain not-exist error", err)
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	ctx := context.Background()
	clip := filepath.Join(videoDir, "chelsea-pan.mp4") // 160×120, 4 s
	if _, err := Frames(ctx, clip, 1, 0, 160*120-1); reasonOf(err) != ReasonTooLarge {
		t.Errorf("maxPixels below the frame size: err = %v", err)
	}
	if _, err := Frames(ctx, clip, 1, 0, 160*120); err != nil {
		t.Errorf("maxPixels at the frame size: %v", err)
	}
	if _, err := Frames(ctx, clip, 1, 3, 0); reasonOf(err) != ReasonTooLarge {
		t.Errorf("4 frames with maxFrames 3: err = %v", err)
	}
	if f, err := Frames(ctx, clip, 1, 4, 0); err != nil || len(f) != 4 {
		t.Errorf("4 frames with maxFrames 4: %d frames, %v", len(f), err)
	}
	if _, _, err := Audio(ctx, clip, 3.9); reasonOf(err) != ReasonTooLarge {
		t.Errorf("4 s of audio with maxSeconds 3.9: err = %v", err)
	}
	if s, _, err := Audio(ctx, clip, 4); err != nil || len(s) != 64000 {
		t.Errorf("4 s of audio with maxSeconds 4: %d samples, %v", len(s), err)
	}
	for _, bad := range []func() error{
		func() error { _, err := Frames(ctx, clip, -1, 0, 0); return err },
		func() error { _, err := Frames(ctx, clip, math.NaN(), 0, 0); return err },
		func() error { _, err := Frames(ctx, clip, 1, -1, 0); return err },
		func() error { _, _, err := Audio(ctx, clip, math.Inf(1)); return err },
	} {
		if err := bad(); err == nil || reasonOf(err) != "" {
			t.Errorf("bad argument: err = %v, want a plain error", err)
		}
	}
}

// sleeper writes a stand-in for ffmpeg/ffprobe that never finishes.
func sleeper(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs a shell script as a stand-in program")
	}
	path := filepath.Join(t.TempDir(), "sleeper")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTimeout(t *testing.T) {
	needFFmpeg(t)
	clip := filepath.Join(videoDir, "coffee-pan.mp4")
	// A deadline too short for anything to start.
	if _, err := (Runner{Timeout: time.Nanosecond}).Frames(context.Background(), clip, 0, 0, 0); reasonOf(err) != ReasonTimeout {
		t.Errorf("Timeout 1ns: err = %v, want %s", err, ReasonTimeout)
	}
	// A process that hangs is killed at the deadline.
	start := time.Now()
	_, err := Runner{FFprobe: sleeper(t), Timeout: 200 * time.Millisecond}.Probe(context.Background(), clip)
	if reasonOf(err) != ReasonTimeout {
		t.Errorf("hanging ffprobe: err = %v, want %s", err, ReasonTimeout)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("hanging ffprobe took %s to be stopped", d)
	}
	noChildren(t)
}

func TestCancel(t *testing.T) {
	needFFmpeg(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := Runner{FFprobe: sleeper(t)}.Probe(ctx, filepath.Join(videoDir, "coffee-pan.mp4"))
	if !errors.Is(err, context.Canceled) || reasonOf(err) != "" {
		t.Errorf("cancelled: err = %v, want context.Canceled and no Reason", err)
	}
	noChildren(t)
}

// noChildren fails if this process has a child left (running or a zombie);
// Linux only, where /proc lists them.
func noChildren(t *testing.T) {
	t.Helper()
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", os.Getpid()))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			t.Errorf("child processes left behind: %s", b)
		}
	}
}

func TestWAVShortfall(t *testing.T) {
	wav := func(chunks ...[]byte) []byte {
		b := []byte("RIFF\x00\x00\x00\x00WAVE")
		for _, c := range chunks {
			b = append(b, c...)
		}
		return b
	}
	chunk := func(id string, size uint32, body int) []byte {
		b := append([]byte(id), byte(size), byte(size>>8), byte(size>>16), byte(size>>24))
		return append(b, make([]byte, body)...)
	}
	fmtChunk := chunk("fmt ", 16, 16)
	tests := []struct {
		name string
		data []byte
		want int64
	}{
		{"complete", wav(fmtChunk, chunk("data", 100, 100)), 0},
		{"cut short", wav(fmtChunk, chunk("data", 100, 40)), 60},
		{"missing pad byte only", wav(fmtChunk, chunk("data", 101, 100)), 0},
		{"LIST before data", wav(fmtChunk, chunk("LIST", 5, 6), chunk("data", 10, 2)), 8},
		{"streaming size", wav(fmtChunk, chunk("data", 0xFFFFFFFF, 10)), 0},
		{"zero size", wav(fmtChunk, chunk("data", 0, 10)), 0},
		{"no data chunk", wav(fmtChunk), 0},
		{"not RIFF", []byte("ID3\x03 an mp3, say"), 0},
		{"tiny", []byte("RI"), 0},
	}
	for _, tt := range tests {
		got, err := wavShortfall(bytes.NewReader(tt.data), int64(len(tt.data)))
		if err != nil || got != tt.want {
			t.Errorf("%s: wavShortfall = %d, %v; want %d", tt.name, got, err, tt.want)
		}
	}
}

func TestStderrLog(t *testing.T) {
	var seen []string
	l := newStderrLog("file:/data/in/clip.mp4", "/data/in/clip.mp4", func(s string) { seen = append(seen, s) })
	fmt.Fprint(l, "[info] Input #0, from 'file:/data/in/clip.mp4':\n[mov,mp4 @ 0x55d1c0] [war")
	fmt.Fprint(l, "ning] stream 1: odd\r\n")
	for i := range 10 {
		fmt.Fprintf(l, "[error] file:/data/in/clip.mp4: bad packet %d\n", i)
	}
	fmt.Fprint(l, "[fatal] no newline at the end")
	got := l.Tail()
	want := "[error] clip.mp4: bad packet 5; [error] clip.mp4: bad packet 6; [error] clip.mp4: bad packet 7; " +
		"[error] clip.mp4: bad packet 8; [error] clip.mp4: bad packet 9; [fatal] no newline at the end"
	if got != want {
		t.Errorf("Tail() =\n%q\nwant\n%q", got, want)
	}
	if len(seen) != 13 || seen[1] != "[mov,mp4 @ 0x55d1c0] [warning] stream 1: odd" {
		t.Errorf("onLine saw %d lines: %q", len(seen), seen)
	}
	if got := cut("héllo", 2, false); got != "h…" {
		t.Errorf("cut on a rune boundary = %q", got)
	}
}

func TestShowinfo(t *testing.T) {
	s := showinfo{ready: make(chan struct{}, 1)}
	for _, l := range []string{
		"[Parsed_showinfo_3 @ 0x5] [info] config in time_base: 100/2997, frame_rate: 2997/100",
		"[Parsed_showinfo_3 @ 0x5] [info] config out time_base: 0/0, frame_rate: 0/0",
		"[Parsed_showinfo_3 @ 0x5] [info] n:   0 pts:      0 pts_time:0       pos: 1 fmt:rgb24",
		"[Parsed_showinfo_3 @ 0x5] [info] n:   1 pts:      1 pts_time:0.0333667 pos: 2 fmt:rgb24",
		"[Parsed_showinfo_3 @ 0x5] [info]   color_range:tv",
		"[Parsed_showinfo_3 @ 0x5] [info] config in time_base: 1/2, frame_rate: 2/1",
		"[Parsed_showinfo_3 @ 0x5] [info] n:   0 pts:      7 pts_time:3.5     pos: 3 fmt:rgb24",
	} {
		s.line(l)
	}
	times, err := s.times, s.err
	want := []float64{0, 100.0 / 2997, 3.5}
	if err != nil || fmt.Sprint(times) != fmt.Sprint(want) {
		t.Errorf("times = %v, %v; want %v", times, err, want)
	}
	s.line("[Parsed_showinfo_3 @ 0x5] [info] n:   1 pts:   NOPTS pts_time:NOPTS   pos: 3 fmt:rgb24")
	if _, err := s.wait(context.Background(), 3); err == nil {
		t.Error("a frame without pts: no error")
	}
}

func TestParseProbe(t *testing.T) {
	const js = `{"streams":[
	 {"index":0,"codec_type":"audio","codec_name":"mp3","sample_rate":"0","channels":0},
	 {"index":1,"codec_type":"video","codec_name":"mjpeg","width":600,"height":600,"disposition":{"attached_pic":1}},
	 {"index":2,"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"avg_frame_rate":"30000/1001",
	  "duration":"N/A","nb_frames":"300","side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]},
	 {"index":3,"codec_type":"audio","codec_name":"aac","sample_rate":"44100","channels":2,"duration":"10.0"}],
	 "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"10.010000"}}`
	info, err := parseProbe([]byte(js), "x.mp4")
	if err != nil {
		t.Fatal(err)
	}
	wantV := VideoStream{Index: 2, Codec: "h264", Width: 1080, Height: 1920, Rotation: 270, FPS: 30000.0 / 1001, Frames: 300}
	if info.Video == nil || *info.Video != wantV {
		t.Errorf("Video = %+v, want %+v (cover art skipped, rotation applied)", info.Video, wantV)
	}
	wantA := AudioStream{Index: 3, Codec: "aac", SampleRate: 44100, Channels: 2, Duration: 10}
	if info.Audio == nil || *info.Audio != wantA || info.badAudio == "" {
		t.Errorf("Audio = %+v (bad: %q), want %+v and the unusable stream 0 noted", info.Audio, info.badAudio, wantA)
	}
	if info.Duration != 10.01 {
		t.Errorf("Duration = %g", info.Duration)
	}
	if _, err := parseProbe([]byte("{"), "x.mp4"); reasonOf(err) != ReasonCorruptMedia {
		t.Errorf("truncated JSON: err = %v", err)
	}
}

// TestFetchedClips runs over the larger set scripts/fetch-av.sh builds, when
// it has been built: every clip is 320×240 with 4-8 s of sound, and Frames
// at fps 1 and Audio agree with its duration.
func TestFetchedClips(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	clips, _ := filepath.Glob(filepath.Join("..", "..", ".cache", "av", "clips", "*.mp4"))
	if len(clips) == 0 {
		t.Skip("skipping: no clips in .cache/av/clips; run scripts/fetch-av.sh")
	}
	for _, clip := range clips {
		t.Run(filepath.Base(clip), func(t *testing.T) {
			t.Parallel()
			info, err := Probe(context.Background(), clip)
			if err != nil {
				t.Fatal(err)
			}
			d := info.Duration
			if info.Video == nil || info.Video.Width != 320 || info.Video.Height != 240 || d < 4 || d > 8 {
				t.Fatalf("Probe = %+v, video %+v: want 320x240, 4-8 s", info, info.Video)
			}
			frames, err := Frames(context.Background(), clip, 1, 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := int(math.Round(d)); len(frames) != want {
				t.Errorf("%d frames at fps 1, want %d", len(frames), want)
			}
			samples, rate, err := Audio(context.Background(), clip, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := float64(len(samples)) / float64(rate); math.Abs(got-d) > 1e-6 {
				t.Errorf("audio lasts %g s, the clip %g s", got, d)
			}
		})
	}
}

func BenchmarkFrames(b *testing.B) {
	needFFmpeg(b)
	path := filepath.Join(videoDir, "coffee-pan.mp4")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Frames(context.Background(), path, 5, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAudio(b *testing.B) {
	needFFmpeg(b)
	path := filepath.Join(videoDir, "coffee-pan.mp4")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Audio(context.Background(), path, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// A DoFn calls Check once in Setup and Frames per element; a *transforms.InputError is a
// dead letter, keyed by its Reason.
func ExampleFrames() {
	if err := Check(); err != nil {
		fmt.Println(err) // the worker cannot run av tasks: fail the job
		return
	}
	frames, err := Frames(context.Background(), "clip.mp4", 2, 600, 1920*1080)
	var bad *transforms.InputError
	switch {
	case errors.As(err, &bad) && bad.Reason != ReasonFFmpegMissing:
		fmt.Println("dead letter:", bad.Reason)
	case err != nil:
		fmt.Println("fail the bundle:", err)
	default:
		for _, f := range frames {
			fmt.Printf("%.1f s: %v\n", f.Time, f.Image.Bounds().Size())
		}
	}
}

// ffmpeg's interleaved output is mixed down as it arrives: 8 channels of
// 60 s at 192 kHz (a 1 MB FLAC of silence, 369 MB interleaved) cost about
// the mono samples alone, and Runner.MaxSamples stops a decode over it
// early, whatever maxSeconds allows.
func TestAudioStreamsAndCapsSamples(t *testing.T) {
	needFFmpeg(t)
	flac := filepath.Join(t.TempDir(), "silence-8ch.flac")
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=192000:cl=7.1", "-t", "60", "-c:a", "flac", flac)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("making the FLAC: %v\n%s", err, out)
	}
	ctx := context.Background()
	alloc := func(run func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		run()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	var s []float32
	var err error
	got := alloc(func() { s, _, err = Runner{}.Audio(ctx, flac, 600) })
	if err != nil || len(s) != 60*192000 {
		t.Fatalf("whole decode: %d samples, %v", len(s), err)
	}
	if mono := uint64(4 * len(s)); got > 2*mono {
		t.Errorf("decoding allocated %d bytes for %d bytes of mono samples: the interleaved stream was held", got, mono)
	}
	got = alloc(func() { _, _, err = Runner{MaxSamples: 1 << 20}.Audio(ctx, flac, 600) })
	if reasonOf(err) != ReasonTooLarge || !strings.Contains(err.Error(), "more than 1048576 samples per channel") {
		t.Errorf("MaxSamples 1 Mi: err = %v", err)
	}
	if got > 16<<20 {
		t.Errorf("a decode capped at 1 Mi samples allocated %d bytes", got)
	}

	// Reserve hears the declared length before ffmpeg starts, and its
	// error ends the decode.
	var frames int64
	var rate int
	r := Runner{MaxSamples: 1 << 24, Reserve: func(f int64, r int) error { frames, rate = f, r; return nil }}
	if _, _, err := r.Audio(ctx, flac, 600); err != nil {
		t.Fatal(err)
	}
	if want := int64(60*192000 + maxPadding); frames != want || rate != 192000 {
		t.Errorf("Reserve(%d, %d), want (%d, 192000)", frames, rate, want)
	}
	stop := errors.New("no memory")
	r.Reserve = func(int64, int) error { return stop }
	if _, _, err := r.Audio(ctx, flac, 600); !errors.Is(err, stop) {
		t.Errorf("Reserve's error: got %v", err)
	}
}
