package pipelines

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/text"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// Plan is what a run writes: one dataset per task plus the dead letters.
type Plan struct {
	RunID   string
	Commits []sinks.Commit
	// TaskConfigs are the tasks' configs as JSON, the form DoFns carry them in.
	TaskConfigs map[string][]byte
}

// NewPlan derives the datasets of a run from a validated config. runID only
// names staging folders; it never reaches the output's bytes.
func NewPlan(ctx context.Context, cfg configs.Config, runID string) (Plan, error) {
	p := Plan{RunID: runID, TaskConfigs: map[string][]byte{}}
	buffer := cfg.Sink.BufferMB << 20
	var extra map[string]string
	if cfg.Modality == "text" {
		vh, err := CheckVocab(ctx, cfg.Text.Vocab)
		if err != nil {
			return Plan{}, err
		}
		extra = map[string]string{"vocab_sha256": vh}
	}
	for _, name := range cfg.TaskNames() {
		t, _ := transforms.Lookup(name)
		label, hash, err := cfg.LabelConfig(name, extra)
		if err != nil {
			return Plan{}, err
		}
		c := sinks.Commit{
			Dataset: sinks.Dataset{
				Name: name, Format: t.Format.Name(), Dir: sinks.Join(cfg.Output, name), RunID: runID,
				NumShards: cfg.Sink.NumShards, RowGroupRows: cfg.Sink.RowGroupRows,
				RowGroupBytes: int64(cfg.Sink.RowGroupMB) << 20, MaxBufferBytes: buffer,
				CompressionLevel: cfg.Sink.CompressionLevel,
			},
			Task: name, Seed: cfg.Seed, ConfigHash: hash, Config: label,
		}
		if p.TaskConfigs[name], err = cfg.TaskJSON(name); err != nil {
			return Plan{}, err
		}
		if name == "colorize" {
			c.Info = map[string]int64{"ab_bins": int64(vision.NumABBins())}
		}
		p.Commits = append(p.Commits, c)
	}
	// Dead letters of the run: one small shard, committed like a task.
	p.Commits = append(p.Commits, sinks.Commit{
		Dataset: sinks.Dataset{
			Name: sinks.DeadLetters, Format: sinks.DeadLetterFormat.Name(), Dir: sinks.Join(cfg.Output, sinks.DeadLetters),
			RunID: runID, NumShards: 1, RowGroupRows: 100_000, RowGroupBytes: 16 << 20, MaxBufferBytes: buffer,
		},
		Task: sinks.DeadLetters, Seed: cfg.Seed,
	})
	return p, nil
}

// CheckVocab reads the vocab a text run would load on every worker and
// checks it as they would (UTF-8 lines, one token each, the five special
// tokens, word pieces), so that a vocab that cannot work is one line before
// anything runs, not a failure deep inside the pipeline or a dataset whose
// ids are all [UNK]. It returns the file's sha256, which the config hash
// covers. Every error is the user's (configs.Mistake), naming text.vocab.
func CheckVocab(ctx context.Context, path string) (sha string, err error) {
	data, err := readVocabFile(ctx, path)
	if err == nil {
		var v *text.Vocab
		if v, err = vocabOf(path, data); err == nil {
			if err = text.CheckVocab(v); err != nil {
				err = fmt.Errorf("vocab %s: %w", path, err)
			}
		}
	}
	if err != nil {
		return "", configs.Mistake(fmt.Errorf("text.vocab: %w", err))
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// Prepare removes the manifests of the datasets a run is about to replace,
// before anything else is written: from then on a reader sees the folder as
// incomplete until the new manifest lands.
func (p Plan) Prepare(ctx context.Context) error {
	for _, c := range p.Commits {
		fs, err := filesystem.New(ctx, c.Dir)
		if err != nil {
			return err
		}
		found, err := fs.List(ctx, c.ManifestPath())
		if err == nil && len(found) > 0 {
			rm, ok := fs.(filesystem.Remover)
			if !ok {
				fs.Close()
				return fmt.Errorf("cannot remove the old manifest %s", c.ManifestPath())
			}
			if err := rm.Remove(ctx, c.ManifestPath()); err != nil {
				fs.Close()
				return fmt.Errorf("removing the old manifest: %w", err)
			}
		}
		fs.Close()
	}
	return nil
}

// Build adds the pipeline of cfg's modality to s and returns
// PCollection<string> of the manifests it writes.
func Build(s beam.Scope, cfg configs.Config, plan Plan) beam.PCollection {
	switch cfg.Modality {
	case "text":
		return Text(s, cfg, plan)
	case "audio":
		return Audio(s, cfg, plan)
	case "video":
		return Video(s, cfg, plan)
	}
	return Vision(s, cfg, plan)
}

func typeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }
