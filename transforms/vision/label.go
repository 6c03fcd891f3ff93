package vision

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/seeding"
)

// Example is one decoded, preprocessed image on its way to the tasks.
type Example struct {
	Key, Source, Split string
	Image              *image.NRGBA
	Encoding           Encoding
	target             []byte
}

// Target is the encoded clean image: every image task's target. It is encoded
// once per input and shared by all tasks and variants.
func (e *Example) Target() ([]byte, error) {
	if e.target == nil {
		b, err := Encode(e.Image, e.Encoding)
		if err != nil {
			return nil, err
		}
		e.target = b
	}
	return e.target, nil
}

// encode encodes a task's input image and returns it with the shared target.
func (e *Example) encode(input image.Image) (in, target []byte, err error) {
	if target, err = e.Target(); err != nil {
		return nil, nil, err
	}
	if in, err = Encode(input, e.Encoding); err != nil {
		return nil, nil, err
	}
	return in, target, nil
}

// Labeler is what an image task registers as its transforms.Task.Impl.
type Labeler interface {
	// Label makes the row of one variant of one example. rng is seeded by
	// (seed, task, key, variant). It returns the row, its payload size in
	// bytes and the label statistics to count.
	Label(ex *Example, cfg transforms.Config, variant int, rng *rand.Rand) (row any, size int, stats []string, err error)
	// Variants is the number of rows per image the config asks for.
	Variants(cfg transforms.Config) int
}

// TaskSpec is one task of a run as a labeling DoFn carries it.
type TaskSpec = transforms.Spec

// Labelers are the image tasks of a run, ready to label examples.
type Labelers struct {
	specs    []TaskSpec
	labelers []Labeler
	configs  []transforms.Config
}

// NewLabelers looks up each task and decodes its config.
func NewLabelers(specs []TaskSpec) (*Labelers, error) {
	l := &Labelers{specs: specs}
	for _, ts := range specs {
		lab, cfg, err := transforms.Resolve[Labeler](ts.Name, ts.Config, "image")
		if err != nil {
			return nil, fmt.Errorf("vision: %w", err)
		}
		l.labelers = append(l.labelers, lab)
		l.configs = append(l.configs, cfg)
	}
	return l, nil
}

// Pending is one row made by Labelers.Label, not yet written.
type Pending struct {
	// Task indexes the TaskSpecs given to NewLabelers.
	Task  int
	Row   any
	Size  int
	Stats []string
}

// Label makes the rows of every variant of every task from ex, each variant
// with its own rng seeded by (seed, task, ex.Key, variant). It makes all of
// them or none: err names the task whose label function failed.
func (l *Labelers) Label(seed int64, ex *Example) ([]Pending, error) {
	return l.label(seed, ex, time.Time{})
}

// errLabelDeadline is label's error past its deadline.
var errLabelDeadline = errors.New("labelling took longer than image.timeout_s")

// label is Label checking deadline (when not zero) before each row.
func (l *Labelers) label(seed int64, ex *Example, deadline time.Time) ([]Pending, error) {
	var rows []Pending
	for i, lab := range l.labelers {
		cfg := l.configs[i]
		for v := 0; v < lab.Variants(cfg); v++ {
			if past(deadline) {
				return nil, errLabelDeadline
			}
			rng := seeding.New(seed, l.specs[i].Name, ex.Key, v)
			row, size, st, err := safeLabel(lab, ex, cfg, v, rng)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.specs[i].Name, err)
			}
			rows = append(rows, Pending{i, row, size, st})
		}
	}
	return rows, nil
}

// past reports whether deadline, when not zero, has passed.
func past(deadline time.Time) bool { return !deadline.IsZero() && time.Now().After(deadline) }

// deadlineOf is the deadline of an input whose decode starts now, or zero
// when im has no timeout.
func deadlineOf(im Options) time.Time {
	if im.TimeoutSeconds <= 0 {
		return time.Time{}
	}
	return time.Now().Add(time.Duration(im.TimeoutSeconds * float64(time.Second)))
}

func safeLabel(l Labeler, ex *Example, cfg transforms.Config, v int, rng *rand.Rand) (row any, size int, stats []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return l.Label(ex, cfg, v, rng)
}

// Prepare decodes, filters and resizes the bytes of one input into the
// Example every image task labels: the work of the pipeline per input but
// reading it. A non-empty stage means the input stops here: "filter" with
// the filter's reason, or sinks.StageDecode with a dead letter's reason and
// detail. It is PlanInput, then the decode within im.TimeoutSeconds.
func Prepare(key, source string, data []byte, im Options, split transforms.Split) (ex *Example, stage, reason, detail string) {
	p, reason, detail := PlanInput(data, im)
	if reason != "" {
		return nil, sinks.StageDecode, reason, detail
	}
	return p.prepare(key, source, data, split, deadlineOf(im))
}

// prepare is Prepare for an input already judged by PlanInput, checking
// deadline (when not zero) in the decoder and before and after the resize.
func (p Plan) prepare(key, source string, data []byte, split transforms.Split, deadline time.Time) (ex *Example, stage, reason, detail string) {
	im := p.im
	lim := limitsOf(im)
	lim.Deadline = deadline
	img, _, w, h, err := decodeProbed(data, p.hd, lim)
	if err != nil {
		reason, detail := reasonOf(err)
		return nil, sinks.StageDecode, reason, detail
	}
	if !im.JPEGScaling {
		b := img.Bounds() // a GIF's first frame can be smaller than its screen
		w, h = b.Dx(), b.Dy()
	}
	if reason := Filter(w, h, im); reason != "" {
		return nil, transforms.StageFilter, reason, ""
	}
	timeout := func(what string) (*Example, string, string, string) {
		return nil, sinks.StageDecode, ReasonTimeout, fmt.Sprintf("%s %dx%d: %s past its deadline (image.timeout_s %gs)", p.hd.format, p.hd.w, p.hd.h, what, im.TimeoutSeconds)
	}
	if past(deadline) {
		return timeout("decode")
	}
	out := resize(img, im.Resize, im.Size, im.Filter)
	if past(deadline) {
		return timeout("resize")
	}
	return &Example{
		Key: key, Source: source, Split: SplitOf(key, split), Image: out,
		Encoding: Encoding{Format: im.Encoding, PNGLevel: im.PNGLevel, JPEGQuality: im.JPEGQuality},
	}, "", "", ""
}

// Filter returns the reason an image of w×h pixels is dropped, or "".
func Filter(w, h int, im Options) string {
	switch {
	case w < im.MinWidth || h < im.MinHeight:
		return "too_small"
	case float64(max(w, h)) > im.MaxAspect*float64(min(w, h)):
		return "aspect_ratio"
	}
	return ""
}

// SplitOf assigns key to train, val or test by a hash of the key alone.
func SplitOf(key string, sp transforms.Split) string {
	h, _ := seeding.Hash(0, "split", key, 0)
	u := float64(h>>11) / (1 << 53)
	switch {
	case u < sp.Train:
		return "train"
	case u < sp.Train+sp.Val:
		return "val"
	}
	return "test"
}

// Labeled is what LabelInput makes of one input.
type Labeled struct {
	Ref transforms.FileRef
	// Stage, Reason, Detail: the input stops here when Stage is set
	// (transforms.StageFilter, or a dead letter's stage).
	Stage, Reason, Detail string
	Rows                  []Pending
	Err                   error // the filesystem failed: so does the bundle
}

// LabelInput reads, prepares and labels one input for every task of l:
// the CPU-heavy part of an image pipeline's element, which may run on a pool
// worker. The input is judged from a stat and its header first (PlanInput);
// acquire then holds its estimated decode bytes in the worker's memory
// budget until the rows are made; decode and labelling run within
// im.TimeoutSeconds. It labels every task before returning any row, so an
// input gives all its rows or one dead letter, never half of its rows.
func (l *Labelers) LabelInput(ctx context.Context, ref transforms.FileRef, im Options, split transforms.Split, seed int64, acquire func(ctx context.Context, bytes int64) (release func(), err error)) Labeled {
	// Sized by a stat of the open file before any read: an input over
	// max_bytes (a sparse file, a symlink to a huge one) is never read.
	data, reason, detail, err := transforms.ReadInput(ctx, ref.Source, ref.Size, im.MaxBytes)
	if err != nil || reason != "" {
		return Labeled{Ref: ref, Stage: sinks.StageRead, Reason: reason, Detail: detail, Err: err}
	}
	p, reason, detail := PlanInput(data, im)
	if reason != "" {
		return Labeled{Ref: ref, Stage: sinks.StageDecode, Reason: reason, Detail: detail}
	}
	// The memory gate: held from the decode until the rows are made. The
	// wait does not count against the deadline, which starts after it.
	release, err := acquire(ctx, p.Bytes()+int64(len(data)))
	if err != nil {
		return Labeled{Ref: ref, Err: err}
	}
	defer release()
	deadline := deadlineOf(im)
	ex, stage, reason, detail := p.prepare(ref.Key, ref.Source, data, split, deadline)
	if stage != "" {
		return Labeled{Ref: ref, Stage: stage, Reason: reason, Detail: detail}
	}
	rows, err := l.label(seed, ex, deadline)
	switch {
	case errors.Is(err, errLabelDeadline):
		return Labeled{Ref: ref, Stage: sinks.StageLabel, Reason: ReasonTimeout, Detail: err.Error()}
	case err != nil:
		return Labeled{Ref: ref, Stage: sinks.StageLabel, Reason: "label_error", Detail: err.Error()}
	}
	return Labeled{Ref: ref, Rows: rows}
}
