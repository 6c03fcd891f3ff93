package beamsink

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/pretext-dev/pretext/sinks"
)

func init() {
	beam.RegisterType(typeOf[sinks.DeadLetter]())
	register.DoFn3x1[context.Context, sinks.DeadLetter, func(sinks.TempFile), error](&writeDeadFn{})
	register.Emitter1[sinks.TempFile]()
}

// WriteDeadLetters writes dead letters to the dataset ds as the task sinks
// write rows. It expects PCollection<DeadLetter> and returns
// PCollection<TempFile> for Finalize.
func WriteDeadLetters(s beam.Scope, ds sinks.Dataset, dead beam.PCollection) beam.PCollection {
	s = s.Scope("beamsink.WriteDeadLetters")
	return beam.ParDo(s, &writeDeadFn{Dataset: ds}, dead)
}

type writeDeadFn struct {
	Dataset sinks.Dataset
	w       *sinks.Writer
}

func (f *writeDeadFn) StartBundle(ctx context.Context, _ func(sinks.TempFile)) error {
	w, err := sinks.NewWriter(ctx, f.Dataset)
	f.w = w
	return err
}

func (f *writeDeadFn) ProcessElement(ctx context.Context, d sinks.DeadLetter, _ func(sinks.TempFile)) error {
	return f.w.Add(ctx, d.RowKey(), d, len(d.Key)+len(d.Source)+len(d.Stage)+len(d.Reason)+len(d.Detail))
}

func (f *writeDeadFn) FinishBundle(ctx context.Context, emit func(sinks.TempFile)) error {
	return f.w.Finish(ctx, emit)
}
