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

// InputError is bad input, as opposed to a failure of the machine: a
// pipeline ends the input as a dead letter with the error's Stage, Reason
// and Detail (EndInput) rather than failing the bundle. It is pretext's one
// such error: image decoding, WAV decoding and ffmpeg's failures are all
// InputErrors.
type InputError struct {
	// Stage is the dead letter's stage (sinks.StageDecode, …).
	Stage string
	// Reason is a stable code: it names counters and manifest keys.
	Reason string
	// Detail is free text for a person: the decoder's message, the sizes.
	// It holds no memory addresses or temporary names, so the same input
	// gives the same Detail on every run.
	Detail string
}

func (e *InputError) Error() string {
	if e.Detail == "" {
		return e.Stage + ": " + e.Reason
	}
	return e.Stage + ": " + e.Reason + ": " + e.Detail
}

// DecodeError is the InputError of an input whose bytes do not decode
// (stage sinks.StageDecode).
func DecodeError(reason, detail string) *InputError {
	return &InputError{Stage: sinks.StageDecode, Reason: reason, Detail: detail}
}
