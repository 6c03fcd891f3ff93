package pipelines

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/text"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// docStatsTask is a test-only text task that the pipeline knows only
// through the registry: one row per document with its numbers of sentences
// and tokens and of the documents it was given as others. It filters
// documents of fewer than min_tokens tokens as "too_short".
const docStatsTask = "sentence_stats_test"

type docStatsConfig struct {
	MinTokens int `yaml:"min_tokens" json:"min_tokens"`
}

func (c *docStatsConfig) Validate(path string) error {
	var f transforms.Fields
	f.AtLeast(path+".min_tokens", c.MinTokens, 0)
	return f.Err()
}

type docStatsRow struct {
	Key       string `parquet:"key"`
	Sentences int32  `parquet:"sentences"`
	Tokens    int32  `parquet:"tokens"`
	Others    int32  `parquet:"others"`
}

func (r docStatsRow) RowKey() string    { return r.Key }
func (r docStatsRow) RowVariant() int32 { return 0 }

type docStats struct{}

func (docStats) Label(ctx context.Context, doc text.Document, others []text.Document, env text.Env, out text.RowWriter) (int, string, error) {
	tokens := 0
	for _, s := range doc.Sentences {
		tokens += len(s)
	}
	if tokens < env.Config.(*docStatsConfig).MinTokens {
		return 0, "too_short", nil
	}
	out.Count("doc_sentences", int64(len(doc.Sentences)))
	out.Count("doc_tokens", int64(tokens))
	row := docStatsRow{Key: doc.ID, Sentences: int32(len(doc.Sentences)), Tokens: int32(tokens), Others: int32(len(others))}
	return 1, "", out.Add(ctx, row.Key, row, len(row.Key)+12)
}

func init() {
	transforms.Register(transforms.Task{
		Name: docStatsTask, Modality: "text", Doc: "test-only: sentences and tokens per document",
		NewConfig: func() transforms.Config { return &docStatsConfig{} },
		Format:    sinks.FormatOf[docStatsRow](),
		Impl:      docStats{},
	})
}

// twoTaskConfig is the shipped text config with the test task added in
// its YAML, as a user would add a second task.
func twoTaskConfig(t *testing.T, input, out string, minTokens int) configs.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "configs", "text-bert.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, []byte("  "+docStatsTask+":\n    min_tokens: "+strconv.Itoa(minTokens)+"\n")...)
	cfg, err := configs.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input, cfg.Output = input, out
	cfg.Text.Vocab = filepath.Join(repo, "testdata", "wordpiece", "vocab-bert-base-uncased.txt")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.TaskNames(); len(got) != 2 {
		t.Fatalf("tasks %v", got)
	}
	return cfg
}

// A config with mlm_nsp and a second text task writes both datasets from
// one read of the corpus: the second task's rows count the corpus's
// sentences and tokens exactly, both manifests count the same 20 labelled
// inputs, and every file of mlm_nsp's dataset is byte for byte the one a run
// with mlm_nsp alone writes.
func TestTwoTextTasks(t *testing.T) {
	in := filepath.Join(repo, "testdata", "text", "moby-dick-bert.txt")
	alone, both := t.TempDir(), t.TempDir()
	ma := runText(t, "prism", textConfig(t, in, alone))
	cfg := twoTaskConfig(t, in, both, 0)
	mb := runText(t, "prism", cfg)

	mlm, ds := mb[text.TaskMLMNSP], mb[docStatsTask]
	for name, m := range map[string]*sinks.Manifest{text.TaskMLMNSP: mlm, docStatsTask: ds} {
		if m.Inputs != 20 || m.Labeled != 20 || m.DeadLetters != 0 || len(m.Filtered) != 0 {
			t.Errorf("%s: inputs %d labeled %d filtered %v dead %d, want 20 labeled", name, m.Inputs, m.Labeled, m.Filtered, m.DeadLetters)
		}
	}
	if mlm.Rows != ma[text.TaskMLMNSP].Rows || ds.Rows != 20 {
		t.Errorf("rows: mlm_nsp %d (alone %d), %s %d (want 20)", mlm.Rows, ma[text.TaskMLMNSP].Rows, docStatsTask, ds.Rows)
	}

	// The test task's rows: one per document, as many sentences and tokens
	// as the corpus's lines give the tokenizer.
	rows := readRows[docStatsRow](t, filepath.Join(both, docStatsTask), ds)
	if int64(len(rows)) != ds.Rows {
		t.Fatalf("%d rows, manifest %d", len(rows), ds.Rows)
	}
	wantSent, wantTok := corpusCounts(t, cfg, in)
	var sent, tok int64
	keys := map[string]bool{}
	for _, r := range rows {
		if keys[r.Key] || !strings.Contains(r.Key, "@") || r.Sentences == 0 || r.Others < 1 {
			t.Errorf("row %+v", r)
		}
		keys[r.Key] = true
		sent += int64(r.Sentences)
		tok += int64(r.Tokens)
	}
	if sent != wantSent || tok != wantTok || ds.Stats["doc_sentences"] != sent || ds.Stats["doc_tokens"] != tok {
		t.Errorf("sentences %d tokens %d (stats %v), corpus %d and %d", sent, tok, ds.Stats, wantSent, wantTok)
	}
	// Every document of the mlm_nsp rows is a row of the test task.
	for _, r := range readRows[sinks.MLMRow](t, filepath.Join(both, text.TaskMLMNSP), mlm) {
		if !keys[r.DocIDA] {
			t.Fatalf("mlm_nsp row %s: document %s has no %s row", r.Key, r.DocIDA, docStatsTask)
		}
	}

	// mlm_nsp's files, manifest included, are the single-task run's.
	sameFiles(t, filepath.Join(alone, text.TaskMLMNSP), filepath.Join(both, text.TaskMLMNSP))
}

// corpusCounts tokenizes a lines-format corpus line by line: its numbers of
// sentences with tokens and of tokens.
func corpusCounts(t *testing.T, cfg configs.Config, path string) (sentences, tokens int64) {
	t.Helper()
	v, _, err := text.LoadVocab(context.Background(), cfg.Text.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	tok := text.NewTokenizer(v, cfg.Text.LowerCase)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if _, ids := tok.TokenizeIDs(l); len(ids) > 0 {
			sentences++
			tokens += int64(len(ids))
		}
	}
	return sentences, tokens
}

// sameFiles fails unless folders a and b hold the same files with the same
// bytes.
func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	read := func(dir string) map[string][]byte {
		out := map[string][]byte{}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				out[e.Name()] = data
			}
		}
		return out
	}
	fa, fb := read(a), read(b)
	if len(fa) != len(fb) || len(fa) < 2 {
		t.Errorf("%d files in %s, %d in %s", len(fa), a, len(fb), b)
	}
	for name, data := range fa {
		if !bytes.Equal(data, fb[name]) {
			t.Errorf("%s differs between %s and %s", name, a, b)
		}
	}
}

// A document is labelled when any task makes rows of it: a one-document
// corpus gives mlm_nsp no random-next pairs (filtered alone), while the
// test task, after it in the plan's order, still labels it; when neither
// makes rows, the first task's reason counts.
func TestTextTaskOutcomes(t *testing.T) {
	in := filepath.Join(t.TempDir(), "one.txt")
	if err := os.WriteFile(in, []byte("Call me Ishmael.\nSome years ago I went to sea.\nIt is a way I have.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := runText(t, "prism", textConfig(t, in, t.TempDir()))[text.TaskMLMNSP]
	if m.Inputs != 1 || m.Labeled != 0 || m.Filtered["single_document_corpus"] != 1 || m.Rows != 0 {
		t.Errorf("mlm_nsp alone: inputs %d labeled %d filtered %v rows %d", m.Inputs, m.Labeled, m.Filtered, m.Rows)
	}
	ms := runText(t, "prism", twoTaskConfig(t, in, t.TempDir(), 0))
	for name, want := range map[string]int64{text.TaskMLMNSP: 0, docStatsTask: 1} {
		if m := ms[name]; m.Inputs != 1 || m.Labeled != 1 || len(m.Filtered) != 0 || m.Rows != want {
			t.Errorf("%s with two tasks: inputs %d labeled %d filtered %v rows %d, want rows %d", name, m.Inputs, m.Labeled, m.Filtered, m.Rows, want)
		}
	}

	// The same without Beam: the reasons' order is the tasks'.
	v, _, err := text.LoadVocab(context.Background(), filepath.Join(repo, "testdata", "wordpiece", "vocab-bert-base-uncased.txt"))
	if err != nil {
		t.Fatal(err)
	}
	doc := text.Document{ID: "one@000000000000", Sentences: [][]int32{{1996, 2154}, {2009}}}
	mlmSpec := text.TaskSpec{Name: text.TaskMLMNSP, Config: []byte(`{"max_seq_length":128,"max_predictions_per_seq":20,"masked_lm_prob":0.15,"dupe_factor":2,"short_seq_prob":0.1,"masking":"static"}`)}
	strict := text.TaskSpec{Name: docStatsTask, Config: []byte(`{"min_tokens":100}`)}
	for _, c := range []struct {
		specs []text.TaskSpec
		rows  int
		why   string
	}{
		{[]text.TaskSpec{mlmSpec, strict}, 0, "single_document_corpus"},
		{[]text.TaskSpec{strict, mlmSpec}, 0, "too_short"},
		{[]text.TaskSpec{mlmSpec, {Name: docStatsTask, Config: []byte(`{}`)}}, 1, ""},
	} {
		l, err := text.NewLabelers(c.specs, 1, v)
		if err != nil {
			t.Fatal(err)
		}
		out := []text.RowWriter{&rowCounter{}, &rowCounter{}}
		rows, why, err := l.Label(context.Background(), doc, nil, out)
		if err != nil || rows != c.rows || why != c.why {
			t.Errorf("%s, %s: rows %d filtered %q err %v, want %d %q", c.specs[0].Name, c.specs[1].Name, rows, why, err, c.rows, c.why)
		}
	}
	// A task of another modality is refused by name.
	if _, err := text.NewLabelers([]text.TaskSpec{{Name: vision.TaskDenoise, Config: []byte(`{}`)}}, 1, v); err == nil || !strings.Contains(err.Error(), vision.TaskDenoise) || !strings.Contains(err.Error(), "text.Labeler") {
		t.Errorf("an image task as a text task: %v", err)
	}
}

// rowCounter is a text.RowWriter that counts rows.
type rowCounter struct{ rows int }

func (w *rowCounter) Add(context.Context, string, any, int) error { w.rows++; return nil }
func (w *rowCounter) Count(string, int64)                         {}
