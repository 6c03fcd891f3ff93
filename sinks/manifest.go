package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ManifestName is the file that commits a dataset folder.
const ManifestName = "_manifest.json"

// ErrIncomplete is returned for a dataset folder without a manifest.
var ErrIncomplete = errors.New("dataset is incomplete: it has no " + ManifestName + " (the run that wrote it did not finish, or is still running)")

// Manifest describes a committed dataset. Inputs = Labeled + the sum of
// Filtered + DeadLetters always holds: the commit refuses to write one where
// it does not.
type Manifest struct {
	Task           string `json:"task"`
	SchemaVersion  string `json:"schema_version"`
	PretextVersion string `json:"pretext_version"`
	Seed           int64  `json:"seed"`
	// ConfigHash is the sha256 of Config: the label-shaping configuration only,
	// never paths, runner flags or times.
	ConfigHash string          `json:"config_hash"`
	Config     json.RawMessage `json:"config"`
	// Inputs read; inputs that gave rows; inputs dropped by a filter, by
	// reason; inputs that became dead letters, in total and by stage/reason.
	Inputs            int64            `json:"inputs"`
	Labeled           int64            `json:"labeled"`
	Filtered          map[string]int64 `json:"filtered"`
	DeadLetters       int64            `json:"dead_letters"`
	DeadLetterReasons map[string]int64 `json:"dead_letter_reasons"`
	Rows              int64            `json:"rows"`
	// Stats are label statistics summed over all rows (e.g. noise kinds).
	Stats map[string]int64 `json:"stats,omitempty"`
	// Rates are shares derived from Stats (e.g. the effective mask rate).
	Rates map[string]float64 `json:"rates,omitempty"`
	// Info holds facts about the code that shaped the labels that a reader
	// needs besides the config, each a JSON value of the task's choosing
	// (colorize: ab_bins, a number; jigsaw: permutations, a list of lists).
	// InfoInt reads a number.
	Info   map[string]json.RawMessage `json:"info,omitempty"`
	Shards []ShardEntry               `json:"shards"`
}

// ShardEntry is one committed shard. Path is relative to the dataset folder.
type ShardEntry struct {
	Path   string `json:"path"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Counts are the outcomes of a run's inputs.
type Counts struct {
	Inputs   int64
	Labeled  int64
	Filtered map[string]int64
	Dead     map[string]int64
}

// DeadTotal is the number of dead letters.
func (c Counts) DeadTotal() int64 { return sum(c.Dead) }

// Check verifies that every input has exactly one outcome.
func (c Counts) Check() error {
	if got := c.Labeled + sum(c.Filtered) + sum(c.Dead); got != c.Inputs {
		return fmt.Errorf("sinks: %d inputs but %d outcomes (labeled %d, filtered %d, dead letters %d): an input was lost or counted twice",
			c.Inputs, got, c.Labeled, sum(c.Filtered), sum(c.Dead))
	}
	return nil
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// Outcome strings: every input emits OutcomeInput once when it is read and
// exactly one of Labeled, Filtered(reason) or Dead(stage, reason).
const (
	OutcomeInput   = "input"
	OutcomeLabeled = "labeled"
)

// Dead-letter stages.
const (
	StageMatch    = "match"    // the pattern matched it but it cannot be read: an unlistable folder, a broken link, a bad name
	StageRead     = "read"     // the file could not be read, is empty or too large
	StageDecode   = "decode"   // the bytes are not a decodable input
	StageTokenize = "tokenize" // text without tokens
	StageLabel    = "label"    // a task's label function failed
)

// OutcomeFiltered is the outcome of an input dropped by a filter.
func OutcomeFiltered(reason string) string { return "filtered/" + reason }

// OutcomeDead is the outcome of an input that became a dead letter.
func OutcomeDead(stage, reason string) string { return "dead/" + stage + "/" + reason }

// CountsOf tallies outcome counts.
func CountsOf(outcomes map[string]int64) Counts {
	c := Counts{Filtered: map[string]int64{}, Dead: map[string]int64{}}
	for o, n := range outcomes {
		switch {
		case o == OutcomeInput:
			c.Inputs += n
		case o == OutcomeLabeled:
			c.Labeled += n
		case strings.HasPrefix(o, "filtered/"):
			c.Filtered[strings.TrimPrefix(o, "filtered/")] += n
		case strings.HasPrefix(o, "dead/"):
			c.Dead[strings.TrimPrefix(o, "dead/")] += n
		}
	}
	return c
}

// ReadManifest reads the manifest of the dataset folder dir. A folder without
// one gives ErrIncomplete.
func ReadManifest(ctx context.Context, dir string) (*Manifest, error) {
	name := Join(dir, ManifestName)
	fs, err := NewFS(ctx, name)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	found, err := fs.List(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("sinks: listing %s: %w", name, err)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: %w", dir, ErrIncomplete)
	}
	r, err := fs.OpenRead(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, ErrIncomplete)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("sinks: reading %s: %w", name, err)
	}
	return DecodeManifest(data)
}

// DecodeManifest parses a manifest strictly: unknown fields are errors.
func DecodeManifest(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("sinks: bad manifest: %w", err)
	}
	if m.Task == "" || m.Shards == nil {
		return nil, fmt.Errorf("sinks: bad manifest: task and shards are required")
	}
	return &m, nil
}

// encode renders the manifest with sorted keys and a trailing newline.
func (m *Manifest) encode() ([]byte, error) {
	sort.Slice(m.Shards, func(i, j int) bool { return m.Shards[i].Path < m.Shards[j].Path })
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Rate is a share a task's manifest derives from two of its label
// statistics: Num / Den, when Den is counted (a task declares its rates:
// transforms.Task.Rates; mlm_nsp's effective mask rate is masked / tokens).
type Rate struct {
	Name, Num, Den string
}

// ratesOf computes the declared rates from the statistics.
func ratesOf(stats map[string]int64, rates []Rate) map[string]float64 {
	r := map[string]float64{}
	for _, rt := range rates {
		if stats[rt.Den] > 0 {
			r[rt.Name] = float64(stats[rt.Num]) / float64(stats[rt.Den])
		}
	}
	if len(r) == 0 {
		return nil
	}
	return r
}

// InfoInt is the number under key in Info, and whether it is there and a
// whole number.
func (m *Manifest) InfoInt(key string) (int64, bool) {
	var v int64
	raw, ok := m.Info[key]
	if !ok || json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	return v, true
}

// InfoValue decodes the value under key in Info into v; a missing key is
// an error naming it.
func (m *Manifest) InfoValue(key string, v any) error {
	raw, ok := m.Info[key]
	if !ok {
		return fmt.Errorf("manifest: no info.%s", key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("manifest: info.%s: %w", key, err)
	}
	return nil
}

// LabelConfig is the document a manifest's "config" holds: the part of a
// run's config that shapes the task's labels, which config_hash covers
// (written by the run config's LabelConfig). Its sections are typed by the
// packages that own them (vision.Options, audio.Options, the task's
// config …), above this contract, so they stay JSON here: a reader decodes
// the section it needs into its owner's type. A section the run's modality
// does not use is absent.
type LabelConfig struct {
	Task     string            `json:"task"`
	Modality string            `json:"modality"`
	Image    json.RawMessage   `json:"image,omitempty"`
	Text     json.RawMessage   `json:"text,omitempty"`
	Audio    json.RawMessage   `json:"audio,omitempty"`
	Video    json.RawMessage   `json:"video,omitempty"`
	Split    json.RawMessage   `json:"split"`
	Sink     json.RawMessage   `json:"sink"`
	Config   json.RawMessage   `json:"config"`
	Extra    map[string]string `json:"extra,omitempty"`
}

// ExtraVocabSHA256 is the LabelConfig.Extra key of a text dataset's
// vocabulary: the sha256 of the vocab file it was written with.
const ExtraVocabSHA256 = "vocab_sha256"

// LabelConfig decodes the manifest's config document; a manifest without
// one gives the zero document.
func (m *Manifest) LabelConfig() (LabelConfig, error) {
	var lc LabelConfig
	if len(m.Config) == 0 {
		return lc, nil
	}
	if err := json.Unmarshal(m.Config, &lc); err != nil {
		return LabelConfig{}, fmt.Errorf("manifest config: %w", err)
	}
	return lc, nil
}

// Section decodes one section of the document (raw, e.g. lc.Audio) into v;
// an absent section leaves v as it is.
func Section(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}
