package pipelines

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/sinks/beamsink"
	"github.com/pretext-dev/pretext/transforms"
)

// perInput is the skeleton the per-input DoFns share — the image stage
// (labelFn), the audio stage (audioFn) and the video stage (videoFn) — so
// that each says only how one input is read, prepared and labelled, and
// every stage writes, counts and reports progress alike:
//
//   - Setup: the stage's Beam counters (setup): <stage>_inputs,
//     <stage>_labeled, and rows, dead_letters, filtered shared by all stages.
//   - StartBundle: a sinks.Writer per task of the stage, in task order, and
//     a Pool that runs the heavy part of each input (work: read, decode,
//     label) on GOMAXPROCS workers (start).
//   - ProcessElement: the input counted (its Beam counter and the live
//     progress) and handed to the pool (submit).
//   - On the bundle's goroutine, in input order, each result: rows added to
//     the task writers (add, count) and the input counted labelled
//     (labeled); or the input ended as a filter drop or a dead letter (end);
//     or a failure of the machine returned, which fails the bundle.
//   - FinishBundle: the pool drained and the writers' temporary files
//     emitted (finish).
//
// R is what work makes of one input. perInput holds only runtime handles:
// a DoFn keeps it in an unexported field.
type perInput[R any] struct {
	writers []*sinks.Writer
	pool    *beamsink.Pool[transforms.FileRef, R]

	inputs, labeledN, rows, dead, filtered beam.Counter
}

// setup makes the stage's counters; stage is "image", "audio" or "video".
func (p *perInput[R]) setup(stage string) {
	p.inputs = beam.NewCounter("pretext", stage+"_inputs")
	p.labeledN = beam.NewCounter("pretext", stage+"_labeled")
	p.rows = beam.NewCounter("pretext", "rows")
	p.dead = beam.NewCounter("pretext", "dead_letters")
	p.filtered = beam.NewCounter("pretext", "filtered")
}

// start opens a writer per task and the pool that runs work; fail makes
// the result of an input whose work panicked or failed (the pool's wrap).
func (p *perInput[R]) start(ctx context.Context, tasks []transforms.Spec, work func(context.Context, transforms.FileRef) R, fail func(transforms.FileRef, error) R) error {
	p.writers = p.writers[:0]
	for _, ts := range tasks {
		w, err := sinks.NewWriter(ctx, ts.Dataset)
		if err != nil {
			return err
		}
		p.writers = append(p.writers, w)
	}
	p.pool = beamsink.NewPool(ctx, beamsink.PoolSize(), work, fail)
	return nil
}

// submit counts an input and hands it to the pool; done runs with its
// result on the bundle's goroutine.
func (p *perInput[R]) submit(ctx context.Context, ref transforms.FileRef, done func(R) error) error {
	p.inputs.Inc(ctx, 1)
	transforms.Live.Inputs.Add(1)
	return p.pool.Submit(ref, done)
}

// add writes one row of task to its writer.
func (p *perInput[R]) add(ctx context.Context, task int, key string, row any, size int) error {
	return p.writers[task].Add(ctx, key, row, size)
}

// count adds n to a label statistic of task.
func (p *perInput[R]) count(task int, stat string, n int64) { p.writers[task].Count(stat, n) }

// countAll adds n to a statistic of every task (a frame skipped, say).
func (p *perInput[R]) countAll(stat string, n int64) {
	for _, w := range p.writers {
		w.Count(stat, n)
	}
}

// labeled counts an input that gave rows rows.
func (p *perInput[R]) labeled(ctx context.Context, rows int, outcome func(string)) {
	p.rows.Inc(ctx, int64(rows))
	p.labeledN.Inc(ctx, 1)
	transforms.Live.Rows.Add(int64(rows))
	outcome(sinks.OutcomeLabeled)
}

// end counts an input that ended without rows: a filter drop (stage
// transforms.StageFilter) or a dead letter.
func (p *perInput[R]) end(ctx context.Context, ref transforms.FileRef, stage, reason, detail string, emitDead func(sinks.DeadLetter), outcome func(string)) {
	if stage == transforms.StageFilter {
		p.filtered.Inc(ctx, 1)
	} else {
		p.dead.Inc(ctx, 1)
	}
	transforms.EndInput(ref, stage, reason, detail, emitDead, outcome)
}

// finish drains the pool, each remaining result through done, and
// finishes the writers, emitting their temporary files.
func (p *perInput[R]) finish(ctx context.Context, done func(R) error, emitTemp func(sinks.TempFile)) error {
	if err := p.pool.Close(done); err != nil {
		return err
	}
	for _, w := range p.writers {
		if err := w.Finish(ctx, emitTemp); err != nil {
			return err
		}
	}
	p.writers = p.writers[:0]
	return nil
}

// abort stops the pool of a bundle that failed (Teardown).
func (p *perInput[R]) abort() {
	if p.pool != nil {
		p.pool.Abort()
	}
}
