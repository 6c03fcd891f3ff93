package transforms

import "github.com/pretext-dev/pretext/sinks"

// StageFilter is the stage of an input that a filter dropped: a counted
// drop, not a dead letter.
const StageFilter = "filter"

// EndInput records how an input ended without rows: dropped by a filter
// (stage StageFilter, with the filter's reason) or a dead letter (any other
// stage, with its reason and detail). It counts it in Live and emits its
// outcome, and the dead letter.
func EndInput(ref FileRef, stage, reason, detail string, emitDead func(sinks.DeadLetter), outcome func(string)) {
	if stage == StageFilter {
		Live.Filtered.Add(1)
		outcome(sinks.OutcomeFiltered(reason))
		return
	}
	Live.DeadLetters.Add(1)
	emitDead(sinks.DeadLetter{Key: ref.Key, Source: ref.Source, Stage: stage, Reason: reason, Detail: detail})
	outcome(sinks.OutcomeDead(stage, reason))
}
