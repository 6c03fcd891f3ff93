package pipelines

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/text"
)

// Plan is what a run writes: one dataset per task plus the dead letters.
type Plan struct {
	RunID   string
	Output  string // OUT, the folder every dataset of the run goes in
	Commits []sinks.Commit
	// TaskConfigs are the tasks' configs as JSON, the form DoFns carry them in.
	TaskConfigs map[string][]byte
}

// NewPlan derives the datasets of a run from a validated config. runID only
// names staging folders; it never reaches the output's bytes.
func NewPlan(ctx context.Context, cfg configs.Config, runID string) (Plan, error) {
	p := Plan{RunID: runID, Output: cfg.Output, TaskConfigs: map[string][]byte{}}
	buffer := cfg.Sink.BufferMB << 20
	var extra map[string]string
	if cfg.Modality == "text" {
		vh, err := CheckVocab(ctx, cfg.Text.Vocab)
		if err != nil {
			return Plan{}, err
		}
		extra = map[string]string{sinks.ExtraVocabSHA256: vh}
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
		if t.Info != nil {
			if c.Info, err = infoJSON(name, t.Info(cfg.Tasks[name])); err != nil {
				return Plan{}, err
			}
		}
		c.Rates = t.Rates
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

// Tasks are the run's tasks as their DoFns carry them (transforms.Spec:
// name, config JSON, dataset), in plan order, and the dataset of its dead
// letters.
func (p Plan) Tasks() (tasks []transforms.Spec, dead sinks.Dataset) {
	for _, c := range p.Commits {
		if c.Name == sinks.DeadLetters {
			dead = c.Dataset
			continue
		}
		tasks = append(tasks, transforms.Spec{Name: c.Name, Config: p.TaskConfigs[c.Name], Dataset: c.Dataset})
	}
	return tasks, dead
}

// CheckVocab loads the vocab a text run would load on every worker and
// checks it as they would (text.LoadVocab: UTF-8 lines, one token each, the
// five special tokens, word pieces), so that a vocab that cannot work is one
// line before anything runs, not a failure deep inside the pipeline or a
// dataset whose ids are all [UNK]. It returns the file's sha256, which the
// config hash covers. Every error is the user's (configs.Mistake), naming
// text.vocab.
func CheckVocab(ctx context.Context, path string) (sha string, err error) {
	if _, sha, err = text.LoadVocab(ctx, path); err != nil {
		return "", configs.Mistake(fmt.Errorf("text.vocab: %w", err))
	}
	return sha, nil
}

// Hold is a prepared run's hold on its output folder: the lease that keeps
// every other run out until Release, and what the output held before.
type Hold struct {
	plan  Plan
	lease *sinks.Lease
	// Recovered says what Prepare did about earlier runs: interrupted swaps
	// completed or rolled back, staging of dead runs removed.
	Recovered []string
	before    map[string]string // dataset → sha256 of its manifest before the run, "" for none
}

// Prepare takes the output folder's lease, so that no other run writes it
// until Release, and clears up after earlier runs (sinks.Recover). It
// removes nothing a reader uses: every committed dataset stays valid until
// this run's commit replaces it. Another live run's lease is the user's
// situation: a configs.Mistake naming that run.
func (p Plan) Prepare(ctx context.Context) (*Hold, error) {
	lease, err := sinks.AcquireLease(ctx, p.Output, p.RunID)
	var held *sinks.HeldError
	if errors.As(err, &held) || errors.Is(err, sinks.ErrNoConditionalWrites) {
		return nil, configs.Mistake(err)
	}
	if err != nil {
		return nil, err
	}
	h := &Hold{plan: p, lease: lease, before: map[string]string{}}
	if h.Recovered, err = sinks.Recover(ctx, p.Output); err != nil {
		lease.Release(ctx)
		return nil, err
	}
	for _, c := range p.Commits {
		h.before[c.Name] = manifestSum(ctx, c.ManifestPath())
	}
	return h, nil
}

// Release removes what is left of the run in OUT/.pretext (nothing, after
// a commit) and gives the lease back.
func (h *Hold) Release(ctx context.Context) error {
	err := sinks.RemoveRun(ctx, h.plan.Output, h.plan.RunID)
	return errors.Join(err, h.lease.Release(ctx))
}

// Outcome says, dataset by dataset, what a run that ended early leaves: the
// previous dataset kept as it was, or this run's, where its commit got
// through.
func (h *Hold) Outcome(ctx context.Context) string {
	var kept, committed, none []string
	for _, c := range h.plan.Commits {
		switch now := manifestSum(ctx, c.ManifestPath()); {
		case now == h.before[c.Name] && now == "":
			none = append(none, c.Name)
		case now == h.before[c.Name]:
			kept = append(kept, c.Name)
		default:
			committed = append(committed, c.Name)
		}
	}
	var parts []string
	if len(kept) > 0 {
		parts = append(parts, "kept the previous "+strings.Join(kept, ", ")+" as they were")
	}
	if len(committed) > 0 {
		parts = append(parts, "committed this run's "+strings.Join(committed, ", "))
	}
	if len(none) > 0 {
		parts = append(parts, "no dataset yet for "+strings.Join(none, ", "))
	}
	return fmt.Sprintf("%s in %s; removed this run's staging (%s)", strings.Join(parts, "; "), h.plan.Output, sinks.RunDir(h.plan.Output, h.plan.RunID))
}

// manifestSum is the sha256 of the manifest at name, or "" if none is there.
func manifestSum(ctx context.Context, name string) string {
	fs, err := sinks.NewFS(ctx, name)
	if err != nil {
		return ""
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, name)
	if err != nil {
		return ""
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(r, 64<<20)); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
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

// infoJSON marshals a task's manifest info values.
func infoJSON(task string, info map[string]any) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(info))
	for k, v := range info {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("task %s: info.%s: %w", task, k, err)
		}
		out[k] = b
	}
	return out, nil
}
