package vision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/seeding"
)

func init() {
	register.DoFn5x1[context.Context, transforms.FileRef, func(sinks.TempFile), func(sinks.DeadLetter), func(string), error](&labelFn{})
	register.Emitter1[sinks.TempFile]()
	register.Emitter1[sinks.DeadLetter]()
	register.Emitter1[string]()
}

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
type TaskSpec struct {
	Name    string
	Config  json.RawMessage // the task's config as JSON
	Dataset sinks.Dataset
}

// Label decodes, filters and preprocesses each image once and makes the rows
// of every configured image task from it, writing them straight into each
// task's sink writer (rows never travel through Beam: see package sinks).
//
// Each input is judged from its header first (PlanInput: pixels, JPEG
// scans, decode bytes against image.max_decode_mb), then waits for its
// estimate in the worker's memory budget (workerMemoryMB, worker.memory_mb:
// 0 for 1/32 of the machine's memory) so that the decodes of a process
// hold at most that at once, and is decoded and labelled within
// image.timeout_s.
//
// It expects PCollection<transforms.FileRef> and returns
// PCollection<sinks.TempFile>, PCollection<sinks.DeadLetter> and
// PCollection<string> of outcomes (one per input).
func Label(s beam.Scope, refs beam.PCollection, seed int64, im Options, workerMemoryMB int, split transforms.Split, tasks []TaskSpec) (temps, dead, outcomes beam.PCollection) {
	s = s.Scope("vision.Label")
	return beam.ParDo3(s, &labelFn{Seed: seed, Image: im, WorkerMemoryMB: workerMemoryMB, Split: split, Tasks: tasks}, refs)
}

type labelFn struct {
	Seed  int64
	Image Options
	// WorkerMemoryMB is worker.memory_mb, resolved on the worker (whose
	// memory may not be the launcher's).
	WorkerMemoryMB int
	Split          transforms.Split
	Tasks          []TaskSpec

	labelers *Labelers
	writers  []*sinks.Writer
	pool     *sinks.Pool[transforms.FileRef, labeled]
	inputs   beam.Counter
	labeled  beam.Counter
	rows     beam.Counter
	dead     beam.Counter
	filtered beam.Counter
}

func (f *labelFn) Setup() error {
	f.inputs = beam.NewCounter("pretext", "image_inputs")
	f.labeled = beam.NewCounter("pretext", "image_labeled")
	f.rows = beam.NewCounter("pretext", "rows")
	f.dead = beam.NewCounter("pretext", "dead_letters")
	f.filtered = beam.NewCounter("pretext", "filtered")
	l, err := NewLabelers(f.Tasks)
	f.labelers = l
	sinks.SetMemoryBudget(sinks.MemoryBudget(f.WorkerMemoryMB, int64(f.Image.MaxDecodeMB)<<20))
	return err
}

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
		t, ok := transforms.Lookup(ts.Name)
		if !ok {
			return nil, fmt.Errorf("vision: task %q is not registered in this binary", ts.Name)
		}
		lab, ok := t.Impl.(Labeler)
		if !ok {
			return nil, fmt.Errorf("vision: task %q is not an image task", ts.Name)
		}
		cfg := t.NewConfig()
		if err := json.Unmarshal(ts.Config, cfg); err != nil {
			return nil, fmt.Errorf("vision: config of task %q: %w", ts.Name, err)
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

func (f *labelFn) StartBundle(ctx context.Context, _ func(sinks.TempFile), _ func(sinks.DeadLetter), _ func(string)) error {
	f.writers = f.writers[:0]
	for _, ts := range f.Tasks {
		w, err := sinks.NewWriter(ctx, ts.Dataset)
		if err != nil {
			return err
		}
		f.writers = append(f.writers, w)
	}
	f.pool = sinks.NewPool(ctx, sinks.PoolSize(), f.label, func(ref transforms.FileRef, err error) labeled {
		return labeled{ref: ref, err: fmt.Errorf("vision: %s: %w", ref.Key, err)}
	})
	return nil
}

// labeled is what f.label makes of one input.
type labeled struct {
	ref transforms.FileRef
	// stage, reason, detail: the input stops here when stage is set
	// ("filter", or a dead letter's stage).
	stage, reason, detail string
	rows                  []Pending
	err                   error // the filesystem failed: so does the bundle
}

// label reads, prepares and labels one input: the CPU-heavy part of an
// element, which may run on a pool worker.
func (f *labelFn) label(ctx context.Context, ref transforms.FileRef) labeled {
	// Sized by a stat of the open file before any read: an input over
	// max_bytes (a sparse file, a symlink to a huge one) is never read.
	data, reason, detail, err := transforms.ReadInput(ctx, ref.Source, ref.Size, f.Image.MaxBytes)
	if err != nil || reason != "" {
		return labeled{ref: ref, stage: sinks.StageRead, reason: reason, detail: detail, err: err}
	}
	p, reason, detail := PlanInput(data, f.Image)
	if reason != "" {
		return labeled{ref: ref, stage: sinks.StageDecode, reason: reason, detail: detail}
	}
	// The memory gate: held from the decode until the rows are made. The
	// wait does not count against the deadline, which starts after it.
	release, err := sinks.AcquireMemory(ctx, p.Bytes()+int64(len(data)))
	if err != nil {
		return labeled{ref: ref, err: err}
	}
	defer release()
	deadline := deadlineOf(f.Image)
	ex, stage, reason, detail := p.prepare(ref.Key, ref.Source, data, f.Split, deadline)
	if stage != "" {
		return labeled{ref: ref, stage: stage, reason: reason, detail: detail}
	}
	// Label every task before adding any row, so an input either gives all its
	// rows or becomes one dead letter: never half of its rows.
	rows, err := f.labelers.label(f.Seed, ex, deadline)
	switch {
	case errors.Is(err, errLabelDeadline):
		return labeled{ref: ref, stage: sinks.StageLabel, reason: ReasonTimeout, detail: err.Error()}
	case err != nil:
		return labeled{ref: ref, stage: sinks.StageLabel, reason: "label_error", detail: err.Error()}
	}
	return labeled{ref: ref, rows: rows}
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

func (f *labelFn) ProcessElement(ctx context.Context, ref transforms.FileRef, emitTemp func(sinks.TempFile), emitDead func(sinks.DeadLetter), outcome func(string)) error {
	f.inputs.Inc(ctx, 1)
	transforms.Live.Inputs.Add(1)
	return f.pool.Submit(ref, func(l labeled) error { return f.write(ctx, l, emitDead, outcome) })
}

// write adds the rows of one labeled input to the writers, or counts its
// filter drop or dead letter; it runs on the bundle's goroutine.
func (f *labelFn) write(ctx context.Context, l labeled, emitDead func(sinks.DeadLetter), outcome func(string)) error {
	switch {
	case l.err != nil:
		return l.err
	case l.stage != "":
		if l.stage == transforms.StageFilter {
			f.filtered.Inc(ctx, 1)
		} else {
			f.dead.Inc(ctx, 1)
		}
		transforms.EndInput(l.ref, l.stage, l.reason, l.detail, emitDead, outcome)
		return nil
	}
	for _, p := range l.rows {
		if err := f.writers[p.Task].Add(ctx, l.ref.Key, p.Row, p.Size); err != nil {
			return err
		}
		for _, st := range p.Stats {
			f.writers[p.Task].Count(st, 1)
		}
	}
	f.rows.Inc(ctx, int64(len(l.rows)))
	f.labeled.Inc(ctx, 1)
	transforms.Live.Rows.Add(int64(len(l.rows)))
	outcome(sinks.OutcomeLabeled)
	return nil
}

// safeLabel turns a panic in a label function into an error, so one odd image
// is a dead letter rather than a failed job.
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

func (f *labelFn) FinishBundle(ctx context.Context, emitTemp func(sinks.TempFile), emitDead func(sinks.DeadLetter), outcome func(string)) error {
	if err := f.pool.Close(func(l labeled) error { return f.write(ctx, l, emitDead, outcome) }); err != nil {
		return err
	}
	for _, w := range f.writers {
		if err := w.Finish(ctx, emitTemp); err != nil {
			return err
		}
	}
	f.writers = f.writers[:0]
	return nil
}

func typeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }
