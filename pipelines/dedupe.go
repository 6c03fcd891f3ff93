package pipelines

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

func init() {
	register.DoFn5x1[context.Context, transforms.FileRef, func(string, transforms.FileRef), func(sinks.DeadLetter), func(string), error](&hashFn{})
	register.Function5x0[context.Context, string, func(*transforms.FileRef) bool, func(transforms.FileRef), func(string)](pickFirst)
	register.Emitter2[string, transforms.FileRef]()
	register.Emitter1[sinks.DeadLetter]()
	register.Iter1[transforms.FileRef]()
}

// Dedupe drops exact duplicates: files with the same bytes. Of each group of
// duplicates the smallest key is kept; the others end as filter drops with
// reason "duplicate". Only file references and hashes are shuffled; each
// file is read here once, streaming, to hash it, and read again by the task.
// Empty, unreadable and over-large files become dead letters here.
//
// It expects PCollection<transforms.FileRef> and returns the kept
// PCollection<transforms.FileRef>, PCollection<sinks.DeadLetter> and
// PCollection<string> of outcomes.
func Dedupe(s beam.Scope, refs beam.PCollection, maxBytes int64) (kept, dead, outcomes beam.PCollection) {
	s = s.Scope("pipelines.Dedupe")
	hashed, dead, hashOutcomes := beam.ParDo3(s, &hashFn{MaxBytes: maxBytes}, refs)
	kept, dupOutcomes := beam.ParDo2(s, pickFirst, beam.GroupByKey(s, hashed))
	return kept, dead, beam.Flatten(s, hashOutcomes, dupOutcomes)
}

type hashFn struct {
	MaxBytes int64

	dead beam.Counter
}

func (f *hashFn) Setup() { f.dead = beam.NewCounter("pretext", "dead_letters") }

func (f *hashFn) ProcessElement(ctx context.Context, ref transforms.FileRef, emit func(string, transforms.FileRef), dead func(sinks.DeadLetter), outcome func(string)) error {
	sum, reason, detail, err := hashFile(ctx, ref.Source, f.MaxBytes)
	if err != nil {
		return err
	}
	if reason != "" {
		f.dead.Inc(ctx, 1)
		transforms.Live.Inputs.Add(1)
		transforms.EndInput(ref, sinks.StageRead, reason, detail, dead, outcome)
		return nil
	}
	emit(sum, ref)
	return nil
}

// hashFile returns the sha256 of a file, or a dead-letter reason.
func hashFile(ctx context.Context, source string, maxBytes int64) (sum, reason, detail string, err error) {
	h := sha256.New()
	_, reason, detail, err = transforms.CopyInput(ctx, source, maxBytes, h)
	if err != nil || reason != "" {
		return "", reason, detail, err
	}
	return hex.EncodeToString(h.Sum(nil)), "", "", nil
}

var duplicates = beam.NewCounter("pretext", "filtered_duplicate")

func pickFirst(ctx context.Context, _ string, refs func(*transforms.FileRef) bool, keep func(transforms.FileRef), outcome func(string)) {
	var first transforms.FileRef
	n := 0
	var r transforms.FileRef
	for refs(&r) {
		if n == 0 || r.Key < first.Key {
			first = r
		}
		n++
	}
	keep(first)
	for i := 1; i < n; i++ {
		transforms.Live.Inputs.Add(1)
		duplicates.Inc(ctx, 1)
		transforms.Live.Filtered.Add(1)
		outcome(sinks.OutcomeFiltered("duplicate"))
	}
}
