package sinks

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn3x1[context.Context, DeadLetter, func(TempFile), error](&writeDeadFn{})
	register.Emitter1[TempFile]()
}

// WriteDeadLetters writes dead letters to the dataset ds as the task sinks
// write rows. It expects PCollection<DeadLetter> and returns
// PCollection<TempFile> for Finalize.
func WriteDeadLetters(s beam.Scope, ds Dataset, dead beam.PCollection) beam.PCollection {
	s = s.Scope("sinks.WriteDeadLetters")
	return beam.ParDo(s, &writeDeadFn{Dataset: ds}, dead)
}

type writeDeadFn struct {
	Dataset Dataset
	w       *Writer
}

func (f *writeDeadFn) StartBundle(ctx context.Context, _ func(TempFile)) error {
	w, err := NewWriter(ctx, f.Dataset)
	f.w = w
	return err
}

func (f *writeDeadFn) ProcessElement(ctx context.Context, d DeadLetter, _ func(TempFile)) error {
	return f.w.Add(ctx, d.RowKey(), d, len(d.Key)+len(d.Source)+len(d.Stage)+len(d.Reason)+len(d.Detail))
}

func (f *writeDeadFn) FinishBundle(ctx context.Context, emit func(TempFile)) error {
	return f.w.Finish(ctx, emit)
}
