package inspect

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/text"
)

// stored is the manifest's label-config document; a manifest without one,
// or with one that does not parse, gives the zero document (the task's
// defaults are then used).
func stored(m *sinks.Manifest) sinks.LabelConfig {
	lc, _ := m.LabelConfig()
	return lc
}

// taskConfig is the config the labels are measured against: the task's
// section of Options.Config when it has one, else the manifest's stored
// config, else the task's defaults.
func (in *inspector) taskConfig(d *Dataset, m *sinks.Manifest, t transforms.Task) (transforms.Config, error) {
	if c := in.opts.Config; c != nil {
		if tc, ok := c.Tasks[m.Task]; ok {
			d.ConfigSource = in.opts.ConfigName
			if d.ConfigSource == "" {
				d.ConfigSource = "--config"
			}
			if _, hash, err := c.LabelConfig(m.Task, stored(m).Extra); err == nil && hash != m.ConfigHash {
				d.note("the config checked against (%s) is not the one the dataset was made with: config hash %.12s…, manifest %.12s…", d.ConfigSource, hash, m.ConfigHash)
			}
			return tc, nil
		}
		d.note("%s has no section for %s: the manifest's config is used", in.opts.ConfigName, m.Task)
	}
	cfg := t.NewConfig()
	s := stored(m)
	if len(s.Config) == 0 || string(s.Config) == "null" {
		d.ConfigSource = "defaults"
		d.note("the manifest stores no config: %s's defaults are the intended values", m.Task)
		return cfg, nil
	}
	if err := json.Unmarshal(s.Config, cfg); err != nil {
		d.Problems = append(d.Problems, fmt.Sprintf("manifest: config of %s does not decode: %v", m.Task, err))
		d.ConfigSource = "defaults"
		return t.NewConfig(), nil
	}
	d.ConfigSource = "manifest"
	return cfg, nil
}

// vocabInfo is the vocabulary of mlm_nsp datasets as text.LoadVocab read it,
// or why it could not.
type vocabInfo struct {
	path   string
	sha256 string
	v      *text.Vocab
	err    error
}

// vocabFor returns the vocabulary for a dataset made with the vocab whose
// sha256 is want ("" when the manifest does not say), or nil with the
// reason it cannot be used. The vocab is read once per path by pretext's
// one loader, text.LoadVocab (the pipeline's and the trainer's), and
// matched to the dataset by text.CheckVocabSHA.
func (in *inspector) vocabFor(ctx context.Context, want string) (*text.Vocab, string) {
	p := in.opts.VocabPath
	if p == "" && in.opts.Config != nil {
		p = in.opts.Config.Text.Vocab
	}
	if p == "" {
		return nil, "no vocab given"
	}
	if in.vocab == nil || in.vocab.path != p {
		v, sha, err := text.LoadVocab(ctx, p)
		in.vocab = &vocabInfo{path: p, sha256: sha, v: v, err: err}
	}
	vi := in.vocab
	if vi.err != nil {
		return nil, vi.err.Error()
	}
	if err := text.CheckVocabSHA(p, vi.sha256, want); err != nil {
		return nil, err.Error()
	}
	return vi.v, ""
}
