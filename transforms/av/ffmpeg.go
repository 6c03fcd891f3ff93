package av

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pretext-dev/pretext/transforms"
)

// DefaultTimeout is how long one ffmpeg or ffprobe process may run when
// Runner.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// DefaultDemuxers are the ffmpeg demuxers a Runner opens inputs with when
// Runner.Demuxers is empty: the common video and audio containers. Playlist
// and concatenation demuxers (hls, concat, ...) are left out on purpose:
// they open other files or URLs named inside the input.
const DefaultDemuxers = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,flv,asf," +
	"ogg,wav,w64,aiff,caf,au,mp3,flac,aac,amr,wv"

// Environment variables naming the programs when Runner.FFmpeg or
// Runner.FFprobe is empty. Unset, the programs are looked up on PATH.
const (
	EnvFFmpeg  = "PRETEXT_FFMPEG"
	EnvFFprobe = "PRETEXT_FFPROBE"
)

// Reason codes of an Error. They are stable: they name Beam counters and the
// reason column of dead letters.
const (
	// ReasonFFmpegMissing: ffmpeg or ffprobe cannot be found or run. A
	// failure of the machine, not of the input: return it, do not
	// dead-letter it.
	ReasonFFmpegMissing = "ffmpeg_missing"
	// ReasonNoVideoStream: Frames was asked for a file with no video stream
	// (cover art attached to an audio file does not count).
	ReasonNoVideoStream = "no_video_stream"
	// ReasonNoAudioStream: Audio was asked for a file with no audio stream.
	ReasonNoAudioStream = "no_audio_stream"
	// ReasonCorruptMedia: empty file, unknown or damaged container, a stream
	// ffprobe or ffmpeg cannot read, a WAV cut short, or no frame or sample
	// decoded.
	ReasonCorruptMedia = "corrupt_media"
	// ReasonTooLarge: over a bound the caller set: pixels per frame, number
	// of frames, seconds of audio.
	ReasonTooLarge = "too_large"
	// ReasonTimeout: a process ran longer than Runner.Timeout.
	ReasonTimeout = "timeout"
)

// Runner runs ffmpeg and ffprobe. Its fields are plain values, so a DoFn
// can hold one as configuration; the zero value uses the defaults.
type Runner struct {
	// FFmpeg is the ffmpeg program, a path or a name looked up on PATH.
	// Empty: $PRETEXT_FFMPEG, or else "ffmpeg".
	FFmpeg string
	// FFprobe is the ffprobe program. Empty: $PRETEXT_FFPROBE, or else
	// "ffprobe".
	FFprobe string
	// Timeout bounds each process's wall-clock time; one that runs longer
	// is killed and gives ReasonTimeout. 0: DefaultTimeout.
	Timeout time.Duration
	// Threads is the number of decoder and filter threads of each ffmpeg
	// process. 0: 1, which keeps one element on one core; a Beam worker
	// gets its parallelism from running many elements at once.
	Threads int
	// Demuxers is the comma-separated list of ffmpeg demuxers inputs may
	// be opened with; a file in another format gives ReasonCorruptMedia.
	// Empty: DefaultDemuxers.
	Demuxers string
	// MaxSamples caps the frames Audio decodes (per channel): it bounds
	// memory, 4 bytes a frame, where a duration does not (a high rate).
	// 0: no cap beyond the duration.
	MaxSamples int64
	// Reserve, when set, is called by Audio once the stream is probed and
	// before ffmpeg starts, with the frames its output may hold (what the
	// header declares, within the caps; without a declaration the cap) and
	// the rate: a worker's memory gate waits there. An error ends Audio
	// with it.
	Reserve func(frames int64, rate int) error
}

// Validate reports every bad field of r.
func (r Runner) Validate() error {
	var errs []error
	if r.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must be >= 0 (got %s)", r.Timeout))
	}
	if r.MaxSamples < 0 {
		errs = append(errs, fmt.Errorf("max samples: must be >= 0 (got %d)", r.MaxSamples))
	}
	if r.Threads < 0 {
		errs = append(errs, fmt.Errorf("threads: must be >= 0 (got %d)", r.Threads))
	}
	if strings.ContainsAny(r.Demuxers, " \t\n") {
		errs = append(errs, fmt.Errorf("demuxers: must be a comma-separated list without spaces (got %q)", r.Demuxers))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("av: runner: %w", err)
	}
	return nil
}

func (r Runner) timeout() time.Duration {
	if r.Timeout == 0 {
		return DefaultTimeout
	}
	return r.Timeout
}

func (r Runner) threads() string {
	if r.Threads == 0 {
		return "1"
	}
	return fmt.Sprint(r.Threads)
}

func (r Runner) demuxers() string {
	if r.Demuxers == "" {
		return DefaultDemuxers
	}
	return r.Demuxers
}

// program resolves ffmpeg (name "ffmpeg") or ffprobe to a path.
func program(field, env, name string) (string, error) {
	p, from := field, ""
	if p == "" && os.Getenv(env) != "" {
		p, from = os.Getenv(env), "$"+env+"="
	}
	if p == "" {
		p = name
	}
	path, err := exec.LookPath(p)
	if err == nil {
		return path, nil
	}
	if p == name {
		return "", transforms.DecodeError(ReasonFFmpegMissing, name+
			" not found on PATH: install it (apt-get install ffmpeg) or ship the pretext SDK container image")
	}
	return "", transforms.DecodeError(ReasonFFmpegMissing, fmt.Sprintf(
		"%s not found at %s%q: install it (apt-get install ffmpeg) or ship the pretext SDK container image", name, from, p))
}

func (r Runner) ffmpeg() (string, error)  { return program(r.FFmpeg, EnvFFmpeg, "ffmpeg") }
func (r Runner) ffprobe() (string, error) { return program(r.FFprobe, EnvFFprobe, "ffprobe") }

// Check is Runner{}.Check.
func Check() error { return Runner{}.Check() }

// Check finds ffmpeg and ffprobe and runs each with -version. It is meant
// for a DoFn's Setup: a worker without ffmpeg fails there, with one error
// that says how to install it, instead of failing every element. Any
// failure is a *transforms.InputError with ReasonFFmpegMissing (or a Validate error).
func (r Runner) Check() error {
	if err := r.Validate(); err != nil {
		return err
	}
	for _, resolve := range []func() (string, error){r.ffmpeg, r.ffprobe} {
		prog, err := resolve()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout())
		cmd := exec.CommandContext(ctx, prog, "-version")
		cmd.WaitDelay = time.Second
		var stderr bytes.Buffer
		cmd.Stderr = &limitedBuffer{buf: &stderr, max: 4 << 10}
		out, err := cmd.Output()
		cancel()
		if err != nil {
			return transforms.DecodeError(ReasonFFmpegMissing, fmt.Sprintf("%s -version failed: %v: %s",
				prog, err, strings.TrimSpace(stderr.String())))
		}
		if !bytes.Contains(out, []byte("version")) {
			return transforms.DecodeError(ReasonFFmpegMissing, fmt.Sprintf("%s -version printed no version: is it ffmpeg?", prog))
		}
	}
	return nil
}

// input checks that path names a non-empty regular file and returns the
// file: URL to give ffmpeg and the file's absolute path. A missing or unreadable file is the caller's or the machine's problem and
// returns a plain error; an empty one is corrupt media.
func input(path string) (url, abs string, err error) {
	abs, err = filepath.Abs(path)
	if err != nil {
		return "", "", fmt.Errorf("av: %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", "", fmt.Errorf("av: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("av: %s: not a regular file", path)
	}
	if fi.Size() == 0 {
		return "", "", transforms.DecodeError(ReasonCorruptMedia, filepath.Base(abs)+": empty file (0 bytes)")
	}
	// "file:" stops ffmpeg reading a name with a colon as a protocol.
	return "file:" + abs, abs, nil
}

// inputArgs are the options every process opens its input with.
func (r Runner) inputArgs(url string) []string {
	return []string{"-protocol_whitelist", "file", "-format_whitelist", r.demuxers(), "-i", url}
}

// process is one running ffmpeg or ffprobe.
type process struct {
	cmd     *exec.Cmd
	name    string
	parent  context.Context
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration
	log     *stderrLog
}

// command prepares prog with args under r's timeout. The caller sets stdout
// and calls start, then wait exactly once.
func (r Runner) command(ctx context.Context, prog string, args []string, log *stderrLog) *process {
	tctx, cancel := context.WithTimeout(ctx, r.timeout())
	cmd := exec.CommandContext(tctx, prog, args...)
	cmd.Stderr = log
	// ffmpeg forks nothing, so its pipes close when it dies; WaitDelay only
	// guards against a wrapper script that leaves a child holding them.
	cmd.WaitDelay = 5 * time.Second
	return &process{cmd: cmd, name: filepath.Base(prog), parent: ctx, ctx: tctx, cancel: cancel,
		timeout: r.timeout(), log: log}
}

// start starts the process; on failure it releases the context.
func (p *process) start() error {
	if err := p.cmd.Start(); err != nil {
		p.cancel()
		return p.classify(err)
	}
	return nil
}

// wait reaps the process, releases its context and classifies its error.
func (p *process) wait() error {
	err := p.cmd.Wait()
	p.cancel()
	return p.classify(err)
}

// kill ends the process early (the caller has read enough); wait must still
// be called.
func (p *process) kill() { p.cancel() }

// classify turns an exec error into the error Probe, Frames and Audio
// return: the caller's context error, a timeout, corrupt media (ffmpeg gave
// up on the input, or crashed on it) or a missing program.
func (p *process) classify(err error) error {
	if err == nil {
		return nil
	}
	if cerr := p.parent.Err(); cerr != nil {
		return fmt.Errorf("av: %s: %w", p.name, cerr)
	}
	if errors.Is(p.ctx.Err(), context.DeadlineExceeded) {
		return transforms.DecodeError(ReasonTimeout, fmt.Sprintf("%s ran longer than %s", p.name, p.timeout))
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		detail := p.name + ": " + exit.String()
		if tail := p.log.Tail(); tail != "" {
			detail += ": " + tail
		}
		return transforms.DecodeError(ReasonCorruptMedia, detail)
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return transforms.DecodeError(ReasonFFmpegMissing, fmt.Sprintf("cannot run %s: %v", p.cmd.Path, err))
	}
	return fmt.Errorf("av: %s: %w", p.name, err)
}

// stderrLog is a process's stderr: it splits the stream into lines, hands
// each to onLine (if set) and keeps the last few warning and error lines,
// with memory addresses removed and the input's URL shortened to its base
// name so that Details are the same on every run and machine.
type stderrLog struct {
	mu      sync.Mutex
	partial []byte
	tail    []string
	names   *strings.Replacer
	onLine  func(line string)
}

const (
	tailLines   = 6
	maxLineLen  = 400
	maxDetailSz = 1200
)

var (
	addrRE  = regexp.MustCompile(` @ 0x[0-9a-fA-F]+`)
	levelRE = regexp.MustCompile(`\[(warning|error|fatal|panic)\] `)
)

func newStderrLog(url, abs string, onLine func(string)) *stderrLog {
	base := filepath.Base(abs)
	return &stderrLog{names: strings.NewReplacer(url, base, abs, base), onLine: onLine}
}

// Write implements io.Writer for exec.Cmd.Stderr.
func (l *stderrLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.partial = append(l.partial, p...)
			if len(l.partial) > 4*maxLineLen { // no newline in sight: not a log line
				l.line(l.partial)
				l.partial = l.partial[:0]
			}
			break
		}
		if len(l.partial) > 0 {
			l.partial = append(l.partial, p[:i]...)
			l.line(l.partial)
			l.partial = l.partial[:0]
		} else {
			l.line(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

func (l *stderrLog) line(b []byte) {
	s := strings.TrimRight(string(b), "\r ")
	if s == "" {
		return
	}
	if l.onLine != nil {
		l.onLine(s)
	}
	if !levelRE.MatchString(s) {
		return
	}
	s = l.names.Replace(addrRE.ReplaceAllString(s, ""))
	s = cut(s, maxLineLen, false)
	if len(l.tail) == tailLines {
		copy(l.tail, l.tail[1:])
		l.tail = l.tail[:tailLines-1]
	}
	l.tail = append(l.tail, s)
}

// Tail is the last warning and error lines, joined by "; ".
func (l *stderrLog) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.line(l.partial)
		l.partial = l.partial[:0]
	}
	return cut(strings.Join(l.tail, "; "), maxDetailSz, true)
}

// limitedBuffer keeps the first max bytes written to it and reports whether
// more came.
type limitedBuffer struct {
	buf  *bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

// cut shortens s to at most n bytes, on a rune boundary, marking the cut.
func cut(s string, n int, fromEnd bool) string {
	if len(s) <= n {
		return s
	}
	if fromEnd {
		i := len(s) - n
		for i < len(s) && !utf8.RuneStart(s[i]) {
			i++
		}
		return "…" + s[i:]
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
