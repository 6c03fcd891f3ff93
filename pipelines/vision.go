package pipelines

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// Vision builds the image pipeline: match the input pattern, reshuffle the
// references, drop exact duplicates, decode/filter/resize each image once and
// label it for every configured task, then commit each task's dataset and the
// dead letters. It returns PCollection<string> of the manifests written.
func Vision(s beam.Scope, cfg configs.Config, plan Plan) beam.PCollection {
	s = s.Scope("pipelines.Vision")
	refs, outcomes := Match(s, beam.Create(s, cfg.Input), cfg.Limit)
	return VisionRefs(s, cfg, plan, refs, outcomes)
}

// VisionRefs is Vision after matching: it expects PCollection<transforms.FileRef>
// and PCollection<string> holding one sinks.OutcomeInput per reference.
func VisionRefs(s beam.Scope, cfg configs.Config, plan Plan, refs, outcomes beam.PCollection) beam.PCollection {
	// Spread the references before any file is read: reading happens after
	// this fusion break, so work spreads over workers and no bundle holds all.
	refs = beam.Reshuffle(s, refs)
	var deadParts []beam.PCollection
	outcomeParts := []beam.PCollection{outcomes}
	if cfg.Image.Dedupe {
		kept, dead, dupOutcomes := Dedupe(s, refs, cfg.Image.MaxBytes)
		refs = beam.Reshuffle(s, kept)
		deadParts = append(deadParts, dead)
		outcomeParts = append(outcomeParts, dupOutcomes)
	}
	var tasks []vision.TaskSpec
	var deadDS sinks.Dataset
	for _, c := range plan.Commits {
		if c.Name == sinks.DeadLetters {
			deadDS = c.Dataset
			continue
		}
		tasks = append(tasks, vision.TaskSpec{Name: c.Name, Config: plan.TaskConfigs[c.Name], Dataset: c.Dataset})
	}
	temps, dead, labelOutcomes := vision.Label(s, refs, cfg.Seed, cfg.Image, cfg.Split, tasks)
	deadParts = append(deadParts, dead)
	outcomeParts = append(outcomeParts, labelOutcomes)

	deadTemps := sinks.WriteDeadLetters(s, deadDS, beam.Flatten(s, deadParts...))
	return sinks.Finalize(s, plan.Commits, beam.Flatten(s, temps, deadTemps), beam.Flatten(s, outcomeParts...))
}
