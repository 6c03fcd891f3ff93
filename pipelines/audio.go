package pipelines

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/sinks/beamsink"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/audio"
	"github.com/pretext-dev/pretext/transforms/av"
	"github.com/pretext-dev/pretext/transforms/vision"
)

func init() {
	register.DoFn5x1[context.Context, transforms.FileRef, func(sinks.TempFile), func(sinks.DeadLetter), func(string), error](&audioFn{})
}

// Audio builds the audio pipeline: match the input pattern, reshuffle the
// references, decode each file once (WAV in-process, other containers and
// the sound of videos through ffmpeg), resample it to audio.mel.sample_rate,
// cut it into clips (audio.Cut) and make each clip's rows for every
// configured audio task (its audio.Labeler), each task's into its own
// writer. It returns PCollection<string> of the manifests written.
func Audio(s beam.Scope, cfg configs.Config, plan Plan) beam.PCollection {
	s = s.Scope("pipelines.Audio")
	refs, outcomes, matchDead := Match(s, beam.Create(s, cfg.Input), cfg.Output, cfg.Limit)
	refs = beam.Reshuffle(s, refs)
	fn := &audioFn{Seed: cfg.Seed, Audio: cfg.Audio, Split: cfg.Split, WorkerMemoryMB: cfg.Worker.MemoryMB}
	var deadDS sinks.Dataset
	fn.Tasks, deadDS = plan.Tasks()
	temps, dead, labelOutcomes := beam.ParDo3(s, fn, refs)
	deadTemps := beamsink.WriteDeadLetters(s, deadDS, beam.Flatten(s, matchDead, dead))
	return beamsink.Finalize(s, plan.Commits, beam.Flatten(s, temps, deadTemps), beam.Flatten(s, outcomes, labelOutcomes))
}

// audioFn decodes one audio file and writes the rows of its clips for
// every audio task.
type audioFn struct {
	Seed  int64
	Audio configs.Audio
	Split configs.Split
	// Tasks are the run's audio tasks; writers[i] writes Tasks[i]'s rows.
	Tasks []transforms.Spec
	// WorkerMemoryMB is worker.memory_mb, resolved on the worker (whose
	// memory may not be the launcher's).
	WorkerMemoryMB int

	labelers  *audio.Labelers
	mels      *sync.Pool // of *audio.Mel, one per worker computing at once
	runner    av.Runner
	ffmpegErr error
	run       perInput[clipped]
}

func (f *audioFn) Setup() error {
	// A request over the budget runs alone, so no floor is needed for
	// every input to fit.
	beamsink.SetMemoryBudget(beamsink.MemoryBudget(f.WorkerMemoryMB, 0))
	f.run.setup("audio")
	l, err := audio.NewLabelers(f.Tasks)
	if err != nil {
		return err
	}
	f.labelers = l
	mels, err := audio.NewMelPool(f.Audio.Mel)
	if err != nil {
		return err
	}
	f.mels = mels
	f.runner = av.Runner{Timeout: time.Duration(f.Audio.TimeoutSeconds * float64(time.Second)), MaxSamples: f.Audio.MaxSamples}
	// WAV needs no ffmpeg, so its absence is not fatal here: other
	// containers become dead letters saying so.
	f.ffmpegErr = f.runner.Check()
	return nil
}

func (f *audioFn) StartBundle(ctx context.Context, _ func(sinks.TempFile), _ func(sinks.DeadLetter), _ func(string)) error {
	return f.run.start(ctx, f.Tasks, f.clips, func(ref transforms.FileRef, err error) clipped {
		return clipped{ref: ref, err: fmt.Errorf("audio: %s: %w", ref.Key, err)}
	})
}

// clipped is what f.clips makes of one input.
type clipped struct {
	ref transforms.FileRef
	// stage, reason, detail: the input stops here when stage is set
	// ("filter", or a dead letter's stage).
	stage, reason, detail string
	rows                  []audio.Pending
	err                   error // the machine failed: so does the bundle
}

// clips reads, decodes, resamples and labels one input: the CPU-heavy part
// of an element, which may run on a pool worker.
func (f *audioFn) clips(ctx context.Context, ref transforms.FileRef) clipped {
	stop := func(stage, reason, detail string) clipped {
		return clipped{ref: ref, stage: stage, reason: reason, detail: detail}
	}
	// The worker's memory gate (worker.memory_mb, shared with the image
	// stages of the process): taken once the header says how long the
	// input is, before its samples are allocated, and held until its rows
	// are made.
	release := func() {}
	defer func() { release() }()
	reserve := func(frames int64, rate int) error {
		rel, err := beamsink.AcquireMemory(ctx, f.audioBytes(frames, rate))
		if err != nil {
			return &gateError{err}
		}
		release = rel
		return nil
	}
	samples, rate, stage, reason, detail, err := f.decode(ctx, ref, reserve)
	if err != nil {
		return clipped{ref: ref, err: err}
	}
	if reason != "" {
		return stop(stage, reason, detail)
	}
	// Resampling and clipping work on the whole mono signal: it is bounded
	// by audio.max_samples (4 bytes a frame), judged from the header before
	// it was decoded, and the mel windows of a clip span the clip.
	x := audio.Resample(samples, rate, f.Audio.Mel.SampleRate)
	rows, clips, err := f.rows(ref, x)
	if err != nil {
		return stop(sinks.StageLabel, "label_error", err.Error())
	}
	if clips == 0 {
		return stop(transforms.StageFilter, "too_short", "")
	}
	return clipped{ref: ref, rows: rows}
}

func (f *audioFn) ProcessElement(ctx context.Context, ref transforms.FileRef, _ func(sinks.TempFile), emitDead func(sinks.DeadLetter), outcome func(string)) error {
	return f.run.submit(ctx, ref, func(c clipped) error { return f.write(ctx, c, emitDead, outcome) })
}

// write adds the rows of one input to its tasks' writers, or counts its
// filter drop or dead letter; it runs on the bundle's goroutine.
func (f *audioFn) write(ctx context.Context, c clipped, emitDead func(sinks.DeadLetter), outcome func(string)) error {
	switch {
	case c.err != nil:
		return c.err
	case c.stage != "":
		f.run.end(ctx, c.ref, c.stage, c.reason, c.detail, emitDead, outcome)
		return nil
	}
	for _, p := range c.rows {
		if err := f.run.add(ctx, p.Task, p.Key, p.Row.Row, p.Size); err != nil {
			return err
		}
		for _, st := range p.Stats {
			f.run.count(p.Task, st.Name, st.N)
		}
	}
	f.run.labeled(ctx, len(c.rows), outcome)
	return nil
}

// gateError is the memory gate failing: the bundle's context ended, a
// failure of the run, not of the input.
type gateError struct{ err error }

func (e *gateError) Error() string { return "audio: waiting for worker memory: " + e.err.Error() }
func (e *gateError) Unwrap() error { return e.err }

// audioBytes bounds what an input of frames samples at rate holds from its
// decode to its rows: the mono samples (4 bytes a frame), the signal
// resampled to audio.mel.sample_rate, and its clips' rows (a log-mel frame
// per hop of n_mels float32 values, the masked copy and the mask: about
// 12 bytes a cell).
func (f *audioFn) audioBytes(frames int64, rate int) int64 {
	mel := f.Audio.Mel
	out := frames*int64(mel.SampleRate)/int64(max(rate, 1)) + 1
	cells := (out/int64(max(mel.Hop, 1)) + 1) * int64(mel.NMels)
	return 4*frames + 4*out + 12*cells
}

// decode opens one input and turns it into mono samples: WAV streamed
// through audio.ReadWAV, anything else copied to a temporary file for
// ffmpeg. The file's size is judged against audio.max_bytes before a byte
// is read, and no file is ever held in memory whole. A non-empty reason is
// a dead letter at stage; err a failure of the machine.
func (f *audioFn) decode(ctx context.Context, ref transforms.FileRef, reserve func(frames int64, rate int) error) (samples []float32, rate int, stage, reason, detail string, err error) {
	in, reason, detail, err := transforms.OpenInput(ctx, ref.Source, ref.Size, f.Audio.MaxBytes)
	if err != nil || reason != "" {
		return nil, 0, sinks.StageRead, reason, detail, err
	}
	defer in.Close() // read only: a close error loses nothing
	var head [12]byte
	n, err := io.ReadFull(in.R, head[:])
	switch {
	case n == 0 && err == io.EOF:
		return nil, 0, sinks.StageRead, transforms.ReasonEmptyFile, "0 bytes", nil
	case err != nil && err != io.EOF && err != io.ErrUnexpectedEOF:
		reason, detail = transforms.ReadFailure(err, f.Audio.MaxBytes)
		return nil, 0, sinks.StageRead, reason, detail, nil
	}
	if n == len(head) && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WAVE" {
		return f.decodeWAV(in, head[:], reserve)
	}
	return f.decodeFFmpeg(ctx, ref.Key, in, head[:n], reserve)
}

// decodeWAV streams a WAV file whose first bytes, head, were read from in.
func (f *audioFn) decodeWAV(in *transforms.Input, head []byte, reserve func(frames int64, rate int) error) (samples []float32, rate int, stage, reason, detail string, err error) {
	r := in.R
	if s, ok := r.(io.Seeker); ok {
		// From the start again, keeping the seeks that skip chunks.
		if _, err := s.Seek(0, io.SeekStart); err != nil {
			reason, detail = transforms.ReadFailure(err, f.Audio.MaxBytes)
			return nil, 0, sinks.StageRead, reason, detail, nil
		}
	} else {
		r = io.MultiReader(bytes.NewReader(head), r)
	}
	lim := audio.Limits{MaxSeconds: f.Audio.MaxSeconds, MaxSamples: f.Audio.MaxSamples, MaxSampleRate: audio.DefaultLimits().MaxSampleRate}
	clip, err := audio.ReadWAVReserving(r, in.Size, lim, reserve)
	if err != nil {
		var de *transforms.InputError
		var ge *gateError
		switch {
		case errors.As(err, &de):
			return nil, 0, sinks.StageDecode, de.Reason, de.Detail, nil
		case errors.As(err, &ge):
			return nil, 0, "", "", "", ge.err
		}
		// Not the file's content but its read: a read error, or a file
		// that grew past audio.max_bytes while read.
		reason, detail = transforms.ReadFailure(err, f.Audio.MaxBytes)
		return nil, 0, sinks.StageRead, reason, detail, nil
	}
	return clip.Samples, clip.SampleRate, "", "", "", nil
}

// decodeFFmpeg copies an input that is not WAV, whose first bytes, head,
// were read from in, to a temporary file and decodes it with ffmpeg. The
// copy is bounded by audio.max_bytes and takes disk, not memory.
func (f *audioFn) decodeFFmpeg(ctx context.Context, key string, in *transforms.Input, head []byte, reserve func(frames int64, rate int) error) (samples []float32, rate int, stage, reason, detail string, err error) {
	if f.ffmpegErr != nil {
		return nil, 0, sinks.StageDecode, av.ReasonFFmpegMissing, "not a WAV file, and " + f.ffmpegErr.Error(), nil
	}
	// The copy is named after the input's extension alone, so ffmpeg's
	// messages (kept as dead-letter details) are the same on every run.
	dir, err := os.MkdirTemp("", "pretext-audio-")
	if err != nil {
		return nil, 0, "", "", "", err
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "input"+strings.ToLower(path.Ext(key)))
	src := &inputReader{r: in.R}
	if err := copyToFile(name, head, src); err != nil {
		if src.err != nil {
			reason, detail = transforms.ReadFailure(src.err, f.Audio.MaxBytes)
			return nil, 0, sinks.StageRead, reason, detail, nil
		}
		return nil, 0, "", "", "", fmt.Errorf("audio: writing a temporary copy: %w", err)
	}
	runner := f.runner
	runner.Reserve = reserve
	samples, rate, err = runner.Audio(ctx, name, f.Audio.MaxSeconds)
	if err != nil {
		var ae *transforms.InputError
		if errors.As(err, &ae) {
			return nil, 0, sinks.StageDecode, ae.Reason, ae.Detail, nil
		}
		return nil, 0, "", "", "", err
	}
	return samples, rate, "", "", "", nil
}

// copyToFile writes head and then the rest of r to a new file name.
func copyToFile(name string, head []byte, r io.Reader) error {
	w, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = w.Write(head)
	if err == nil {
		_, err = io.Copy(w, r)
	}
	return errors.Join(err, w.Close())
}

// inputReader remembers its reader's failure, so that a failed copy tells
// the input's fault (a dead letter) from the disk's (the machine's).
type inputReader struct {
	r   io.Reader
	err error
}

func (r *inputReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// rows cuts x (at the mel rate) into clips and labels each one for every
// task: all of the input's rows, or an error naming the task that failed.
// clips is the number of clips cut, 0 for an input shorter than
// audio.min_seconds.
func (f *audioFn) rows(ref transforms.FileRef, x []float32) (rows []audio.Pending, clips int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	mel := f.mels.Get().(*audio.Mel)
	defer f.mels.Put(mel)
	a := f.Audio
	cut := audio.Cut(ref.Key, ref.Source, vision.SplitOf(ref.Key, f.Split), x, mel,
		audio.Cutting{ClipSeconds: a.ClipSeconds, MinSeconds: a.MinSeconds, SilenceDBFS: a.SilenceDBFS})
	rows, err = f.labelers.Label(f.Seed, cut)
	return rows, len(cut), err
}

func (f *audioFn) FinishBundle(ctx context.Context, emitTemp func(sinks.TempFile), emitDead func(sinks.DeadLetter), outcome func(string)) error {
	return f.run.finish(ctx, func(c clipped) error { return f.write(ctx, c, emitDead, outcome) }, emitTemp)
}
