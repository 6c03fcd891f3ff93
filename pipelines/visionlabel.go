package pipelines

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/sinks/beamsink"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/vision"
)

func init() {
	register.DoFn5x1[context.Context, transforms.FileRef, func(sinks.TempFile), func(sinks.DeadLetter), func(string), error](&labelFn{})
	register.Emitter1[sinks.TempFile]()
	register.Emitter1[sinks.DeadLetter]()
	register.Emitter1[string]()
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
func labelImages(s beam.Scope, refs beam.PCollection, seed int64, im vision.Options, workerMemoryMB int, split transforms.Split, tasks []vision.TaskSpec) (temps, dead, outcomes beam.PCollection) {
	s = s.Scope("pipelines.labelImages")
	return beam.ParDo3(s, &labelFn{Seed: seed, Image: im, WorkerMemoryMB: workerMemoryMB, Split: split, Tasks: tasks}, refs)
}

type labelFn struct {
	Seed  int64
	Image vision.Options
	// WorkerMemoryMB is worker.memory_mb, resolved on the worker (whose
	// memory may not be the launcher's).
	WorkerMemoryMB int
	Split          transforms.Split
	Tasks          []vision.TaskSpec

	labelers *vision.Labelers
	run      perInput[vision.Labeled]
}

func (f *labelFn) Setup() error {
	f.run.setup("image")
	l, err := vision.NewLabelers(f.Tasks)
	f.labelers = l
	beamsink.SetMemoryBudget(beamsink.MemoryBudget(f.WorkerMemoryMB, int64(f.Image.MaxDecodeMB)<<20))
	return err
}

func (f *labelFn) StartBundle(ctx context.Context, _ func(sinks.TempFile), _ func(sinks.DeadLetter), _ func(string)) error {
	return f.run.start(ctx, f.Tasks, f.label, func(ref transforms.FileRef, err error) vision.Labeled {
		return vision.Labeled{Ref: ref, Err: fmt.Errorf("vision: %s: %w", ref.Key, err)}
	})
}

func (f *labelFn) ProcessElement(ctx context.Context, ref transforms.FileRef, emitTemp func(sinks.TempFile), emitDead func(sinks.DeadLetter), outcome func(string)) error {
	return f.run.submit(ctx, ref, func(l vision.Labeled) error { return f.write(ctx, l, emitDead, outcome) })
}

// write adds the rows of one labeled input to the writers, or counts its
// filter drop or dead letter; it runs on the bundle's goroutine.
func (f *labelFn) write(ctx context.Context, l vision.Labeled, emitDead func(sinks.DeadLetter), outcome func(string)) error {
	switch {
	case l.Err != nil:
		return l.Err
	case l.Stage != "":
		f.run.end(ctx, l.Ref, l.Stage, l.Reason, l.Detail, emitDead, outcome)
		return nil
	}
	for _, p := range l.Rows {
		if err := f.run.add(ctx, p.Task, l.Ref.Key, p.Row, p.Size); err != nil {
			return err
		}
		for _, st := range p.Stats {
			f.run.count(p.Task, st, 1)
		}
	}
	f.run.labeled(ctx, len(l.Rows), outcome)
	return nil
}

// safeLabel turns a panic in a label function into an error, so one odd image
// is a dead letter rather than a failed job.
func (f *labelFn) FinishBundle(ctx context.Context, emitTemp func(sinks.TempFile), emitDead func(sinks.DeadLetter), outcome func(string)) error {
	return f.run.finish(ctx, func(l vision.Labeled) error { return f.write(ctx, l, emitDead, outcome) }, emitTemp)
}

// label reads, prepares and labels one input (vision.Labelers.LabelInput)
// within the worker's memory budget.
func (f *labelFn) label(ctx context.Context, ref transforms.FileRef) vision.Labeled {
	return f.labelers.LabelInput(ctx, ref, f.Image, f.Split, f.Seed, beamsink.AcquireMemory)
}
