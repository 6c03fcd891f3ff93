package audio

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"

	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/seeding"
)

// Example is one clip of an audio input on its way to the audio tasks: what
// every task may label, made once per clip and shared by all of them.
type Example struct {
	// Key is the clip's key, ClipKey of its input's key and Start; Source
	// is the input's location; Split is the input's split, shared by all
	// its clips so that no input is in two splits.
	Key, Source, Split string
	// Start and Seconds place the clip in its input, in seconds.
	Start, Seconds float64
	// Samples are the clip's mono samples at SampleRate, the run's
	// audio.mel.sample_rate.
	Samples    []float32
	SampleRate int
	// LogMel is the clip's log-mel spectrogram, row-major [Frames][Bins].
	// Tasks share it: a Labeler must not modify it.
	LogMel       []float32
	Frames, Bins int
	// DBFS is the clip's RMS level (DBFS of Samples); Silent is whether it
	// lies below the run's audio.silence_dbfs.
	DBFS   float64
	Silent bool
}

// ClipKey is the key of the part of input key that starts at start
// seconds: a clip of an audio file or a frame of a video. Times are
// zero-padded so keys sort in time order.
func ClipKey(key string, start float64) string {
	return fmt.Sprintf("%s@%010.3f", key, start)
}

// Cutting says how an input is cut into clips: the run's audio section.
type Cutting struct {
	// ClipSeconds is the length of a clip; MinSeconds the least length of
	// a clip (a shorter last clip is dropped).
	ClipSeconds, MinSeconds float64
	// SilenceDBFS is the level below which a clip is Silent.
	SilenceDBFS float64
}

// Cut cuts x, an input's mono samples at mel's sample rate, into its clips
// (as Clips does) and computes each clip's log-mel with mel. key, source and
// split are the input's. An input shorter than c.MinSeconds gives no clip.
func Cut(key, source, split string, x []float32, mel *Mel, c Cutting) []*Example {
	rate := mel.Config().SampleRate
	var out []*Example
	for _, s := range Clips(len(x), rate, c.ClipSeconds, c.MinSeconds) {
		start := float64(s.Start) / float64(rate)
		samples := x[s.Start:s.End]
		logMel, frames := mel.Compute(samples)
		db := DBFS(samples)
		out = append(out, &Example{
			Key: ClipKey(key, start), Source: source, Split: split,
			Start: start, Seconds: float64(s.End-s.Start) / float64(rate),
			Samples: samples, SampleRate: rate,
			LogMel: logMel, Frames: frames, Bins: mel.Config().NMels,
			DBFS: db, Silent: db < c.SilenceDBFS,
		})
	}
	return out
}

// Labeler is what an audio task registers as its transforms.Task.Impl: the
// task's label function, called once per clip of every input.
//
// An input gives all its rows or none: when Label fails (or panics) for
// any clip of any task, the whole input becomes one label_error dead
// letter, so a Labeler returns an error for a clip it cannot label rather
// than skipping it.
type Labeler interface {
	// Label makes the rows of one clip. cfg is the task's config (the value
	// its NewConfig returns, decoded from the run's). rng is seeded by
	// (seed, task, ex.Key, 0); a task making several rows of a clip draws
	// them in order from it. Each row is of the task's Format.
	Label(ex *Example, cfg transforms.Config, rng *rand.Rand) ([]Row, error)
}

// Row is one row a Labeler made, with what its writer needs besides it.
type Row struct {
	// Row is the row, of the task's Format.
	Row any
	// Size is its payload in bytes, what the writer's buffer budget counts.
	Size int
	// Stats are the statistics to add to the task's manifest.
	Stats []Stat
}

// Stat is n to add to the manifest statistic named Name.
type Stat struct {
	Name string
	N    int64
}

// Labelers are the audio tasks of a run, ready to label clips.
type Labelers struct {
	names    []string
	labelers []Labeler
	configs  []transforms.Config
}

// NewLabelers looks up each task of specs and decodes its config. It fails
// on a task that this binary does not register or that is not an audio
// task.
func NewLabelers(specs []transforms.Spec) (*Labelers, error) {
	l := &Labelers{}
	for _, ts := range specs {
		lab, cfg, err := transforms.Resolve[Labeler](ts.Name, ts.Config, "audio")
		if err != nil {
			return nil, fmt.Errorf("audio: %w", err)
		}
		l.names = append(l.names, ts.Name)
		l.labelers = append(l.labelers, lab)
		l.configs = append(l.configs, cfg)
	}
	return l, nil
}

// Pending is one row made by Labelers.Label, not yet written.
type Pending struct {
	// Task indexes the names given to NewLabelers.
	Task int
	// Key is the clip's key, the row's partition key.
	Key string
	Row
}

// Label makes the rows of every task from every clip, clip by clip, each
// task's with its own rng seeded by (seed, task, clip key, 0). It makes all
// of them or none: err names the task whose label function failed.
func (l *Labelers) Label(seed int64, clips []*Example) ([]Pending, error) {
	var out []Pending
	for _, c := range clips {
		for i, lab := range l.labelers {
			rng := seeding.New(seed, l.names[i], c.Key, 0)
			rows, err := safeLabel(lab, c, l.configs[i], rng)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.names[i], err)
			}
			for _, r := range rows {
				out = append(out, Pending{Task: i, Key: c.Key, Row: r})
			}
		}
	}
	return out, nil
}

// safeLabel turns a panic in a label function into an error, so one odd
// clip is a dead letter rather than a failed job.
func safeLabel(l Labeler, c *Example, cfg transforms.Config, rng *rand.Rand) (rows []Row, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return l.Label(c, cfg, rng)
}
