package pipelines

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks/beamsink"
)

// Vision builds the image pipeline: match the input pattern, reshuffle the
// references, drop exact duplicates, decode/filter/resize each image once and
// label it for every configured task, then commit each task's dataset and the
// dead letters. It returns PCollection<string> of the manifests written.
func Vision(s beam.Scope, cfg configs.Config, plan Plan) beam.PCollection {
	s = s.Scope("pipelines.Vision")
	refs, outcomes, matchDead := Match(s, beam.Create(s, cfg.Input), cfg.Output, cfg.Limit)
	return VisionRefs(s, cfg, plan, refs, outcomes, matchDead)
}

// VisionRefs is Vision after matching: it expects PCollection<transforms.FileRef>,
// PCollection<string> of their outcomes (one sinks.OutcomeInput per reference,
// and those of the match's dead letters) and PCollection<sinks.DeadLetter> of
// the match's dead letters, as Match returns them.
func VisionRefs(s beam.Scope, cfg configs.Config, plan Plan, refs, outcomes, matchDead beam.PCollection) beam.PCollection {
	// Spread the references before any file is read: reading happens after
	// this fusion break, so work spreads over workers and no bundle holds all.
	refs = beam.Reshuffle(s, refs)
	deadParts := []beam.PCollection{matchDead}
	outcomeParts := []beam.PCollection{outcomes}
	if cfg.Image.Dedupe {
		kept, dead, dupOutcomes := Dedupe(s, refs, cfg.Image.MaxBytes)
		refs = beam.Reshuffle(s, kept)
		deadParts = append(deadParts, dead)
		outcomeParts = append(outcomeParts, dupOutcomes)
	}
	tasks, deadDS := plan.Tasks()
	temps, dead, labelOutcomes := labelImages(s, refs, cfg.Seed, cfg.Image, cfg.Worker.MemoryMB, cfg.Split, tasks)
	deadParts = append(deadParts, dead)
	outcomeParts = append(outcomeParts, labelOutcomes)

	deadTemps := beamsink.WriteDeadLetters(s, deadDS, beam.Flatten(s, deadParts...))
	return beamsink.Finalize(s, plan.Commits, beam.Flatten(s, temps, deadTemps), beam.Flatten(s, outcomeParts...))
}
