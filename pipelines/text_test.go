package pipelines

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/text"
)

func textConfig(t *testing.T, input, out string) configs.Config {
	t.Helper()
	cfg, err := configs.Load(filepath.Join(repo, "configs", "text-bert.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input, cfg.Output = input, out
	cfg.Text.Vocab = filepath.Join(repo, "testdata", "wordpiece", "vocab-bert-base-uncased.txt")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runText(t testing.TB, runner string, cfg configs.Config) map[string]*sinks.Manifest {
	t.Helper()
	ctx := context.Background()
	plan, err := NewPlan(ctx, cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	hold, err := plan.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Release(ctx)
	p, s := beam.NewPipelineWithRoot()
	Build(s, cfg, plan)
	if _, err := beam.Run(ctx, runner, p); err != nil {
		t.Fatalf("%s: %v", runner, err)
	}
	return readManifests(t, plan)
}

// The rows are BERT instances, the label shares BERT's, and the pairs are
// labelled truthfully.
func TestTextPipeline(t *testing.T) {
	out := t.TempDir()
	cfg := textConfig(t, filepath.Join(repo, "testdata", "text", "moby-dick-bert.txt"), out)
	ms := runText(t, "prism", cfg)
	m := ms["mlm_nsp"]
	if m.Inputs != 20 || m.Labeled != 20 || m.DeadLetters != 0 {
		t.Errorf("inputs %d labeled %d dead %d, want 20 chapters labeled", m.Inputs, m.Labeled, m.DeadLetters)
	}
	rows := readRows[sinks.MLMRow](t, filepath.Join(out, "mlm_nsp"), m)
	if int64(len(rows)) != m.Rows || len(rows) < 3000 {
		t.Fatalf("%d rows, manifest %d", len(rows), m.Rows)
	}
	checkMLM(t, cfg, rows, m)
}

// checkMLM checks every row's layout and labels and the label shares: the
// effective mask rate and the 80/10/10 split within 1 point of the config,
// the random-next share within [0.5, 0.56] (BERT's algorithm gives 0.5 of
// the chunks that have a choice plus every one-sentence chunk).
func checkMLM(t *testing.T, cfg configs.Config, rows []sinks.MLMRow, m *sinks.Manifest) {
	t.Helper()
	f, err := os.Open(cfg.Text.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	v, err := text.ReadVocab(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	cls, _ := v.ID(text.CLS)
	sep, _ := v.ID(text.SEP)
	var tokens, masked, random int
	for _, r := range rows {
		if int(r.NumTokens) != len(r.InputIDs) || r.NumTokens > 128 || r.InputIDs[0] != cls {
			t.Fatalf("%s: bad layout", r.Key)
		}
		var seps []int
		for i, id := range r.InputIDs {
			if id == sep {
				seps = append(seps, i)
			}
		}
		if len(seps) != 2 || seps[1] != len(r.InputIDs)-1 {
			t.Fatalf("%s: [SEP] at %v", r.Key, seps)
		}
		for i, s := range r.SegmentIDs {
			if want := int32(map[bool]int{true: 1}[i > seps[0]]); s != want {
				t.Fatalf("%s: segment %d at %d", r.Key, s, i)
			}
		}
		for _, p := range r.MaskedLMPositions {
			if p == 0 || int(p) == seps[0] || int(p) == seps[1] {
				t.Fatalf("%s: special token masked at %d", r.Key, p)
			}
		}
		if int(r.NumTokens) > cfg.Tasks["mlm_nsp"].(*text.InstanceConfig).MaxSeqLength {
			t.Fatalf("%s: %d tokens", r.Key, r.NumTokens)
		}
		if r.IsRandomNext == (r.DocIDA == r.DocIDB) {
			t.Fatalf("%s: is_random_next %v with documents %s and %s", r.Key, r.IsRandomNext, r.DocIDA, r.DocIDB)
		}
		tokens += len(r.InputIDs)
		masked += len(r.MaskedLMPositions)
		if r.IsRandomNext {
			random++
		}
	}
	rate := float64(masked) / float64(tokens)
	if math.Abs(rate-0.15) > 0.01 || math.Abs(m.Rates["mask_rate"]-rate) > 1e-9 {
		t.Errorf("mask rate %.4f (manifest %.4f)", rate, m.Rates["mask_rate"])
	}
	for name, want := range map[string]float64{"mask_token_share": 0.8, "random_token_share": 0.1, "kept_token_share": 0.1} {
		if math.Abs(m.Rates[name]-want) > 0.01 {
			t.Errorf("%s %.4f, want %.2f ± 0.01", name, m.Rates[name], want)
		}
	}
	share := float64(random) / float64(len(rows))
	t.Logf("%d rows, mask rate %.4f, random-next share %.4f, rates %v", len(rows), rate, share, m.Rates)
	if share < 0.5 || share > 0.56 {
		t.Errorf("random-next share %.4f", share)
	}
}

// Same corpus and seed ⇒ the same bytes on prism twice and on the direct runner.
func TestTextDeterminism(t *testing.T) {
	in := filepath.Join(repo, "testdata", "text", "moby-dick-bert.txt")
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	runText(t, "prism", textConfig(t, in, a))
	runText(t, "prism", textConfig(t, in, b))
	runText(t, "direct", textConfig(t, in, c))
	sameShards(t, "two prism runs", dirBytes(t, a), dirBytes(t, b))
	sameShards(t, "prism vs direct", dirBytes(t, a), dirBytes(t, c))
}

// Paragraph-format files, broken text and bad files end as rows or dead letters.
func TestTextParagraphsAndBadInput(t *testing.T) {
	in := t.TempDir()
	chapters, _ := filepath.Glob(filepath.Join(repo, "testdata", "text", "moby-dick", "chapter_*.txt"))
	for _, ch := range chapters[:6] {
		data, err := os.ReadFile(ch)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(in, filepath.Base(ch)), data, 0o644)
	}
	os.WriteFile(filepath.Join(in, "latin1.txt"), []byte("Caf\xe9 au lait.\nIt was good.\n"), 0o644)
	os.WriteFile(filepath.Join(in, "empty.txt"), nil, 0o644)
	os.WriteFile(filepath.Join(in, "blank.txt"), []byte("\n\n   \n"), 0o644)
	os.WriteFile(filepath.Join(in, "longline.txt"), []byte(strings.Repeat("word ", 300_000)+"\n"), 0o644)
	out := t.TempDir()
	cfg := textConfig(t, in+"/*.txt", out)
	cfg.Text.Format = "paragraphs"
	cfg.Text.MaxLineBytes = 1 << 20
	ms := runText(t, "prism", cfg)
	m := ms["mlm_nsp"]
	if m.Inputs != int64(6+4) || m.Labeled != 6 {
		t.Errorf("inputs %d labeled %d, want 10 and 6", m.Inputs, m.Labeled)
	}
	want := map[string]string{"latin1.txt": "read/not_utf8", "empty.txt": "read/empty_file", "blank.txt": "tokenize/no_tokens", "longline.txt": "read/line_too_long"}
	dead := readRows[sinks.DeadLetter](t, filepath.Join(out, sinks.DeadLetters), ms[sinks.DeadLetters])
	got := map[string]string{}
	for _, d := range dead {
		got[strings.SplitN(d.Key, "@", 2)[0]] = d.Stage + "/" + d.Reason
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dead letters %v, want %v", got, want)
	}
	if m.Rows == 0 {
		t.Error("no rows from paragraph files")
	}
}

// DuckDB reads the text shards: its average masked positions per row is the
// manifest's.
func TestTextDuckDB(t *testing.T) {
	needDuckDB(t)
	out := t.TempDir()
	ms := runText(t, "prism", textConfig(t, filepath.Join(repo, "testdata", "text", "moby-dick-bert.txt"), out))
	rows := duckQuery(t, fmt.Sprintf("select avg(len(masked_lm_positions)) as m, count(*)::INTEGER as n, "+
		"sum((is_random_next and doc_id_a = doc_id_b)::INTEGER)::INTEGER as same from read_parquet('%s')", filepath.Join(out, "mlm_nsp", "*.parquet")))
	m := ms["mlm_nsp"]
	want := float64(m.Stats["masked"]) / float64(m.Stats["instances"])
	if got := rows[0]["m"].(float64); math.Abs(got-want) > 1e-9 {
		t.Errorf("DuckDB avg masked %.6f, manifest %.6f", got, want)
	}
	if int64(rows[0]["n"].(float64)) != m.Rows || rows[0]["same"].(float64) != 0 {
		t.Errorf("DuckDB: %v, manifest rows %d", rows[0], m.Rows)
	}
}

// pretext vocab's pipeline learns a vocabulary that covers its corpus.
func TestVocabPipeline(t *testing.T) {
	out := filepath.Join(t.TempDir(), "vocab.txt")
	learn := text.DefaultLearnConfig()
	learn.Size = 3000
	p, s := beam.NewPipelineWithRoot()
	Vocab(s, VocabOptions{Input: filepath.Join(repo, "testdata", "text", "moby-dick") + "/*.txt", Output: out, LowerCase: true, Learn: learn})
	if _, err := beam.Run(context.Background(), "prism", p); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := text.ReadVocab(f)
	if err != nil {
		t.Fatal(err)
	}
	if v.Size() > 3000 || v.Size() < 2500 || v.Token(0) != "[PAD]" {
		t.Fatalf("vocab of %d entries starting %q", v.Size(), v.Token(0))
	}
	data, _ := os.ReadFile(filepath.Join(repo, "testdata", "text", "moby-dick-bert.txt"))
	tok := text.NewTokenizer(v, true)
	var words, unk int
	for _, line := range strings.Split(string(data), "\n") {
		for _, p := range tok.Tokenize(line) {
			words++
			if p == text.UNK {
				unk++
			}
		}
	}
	if unk > 0 || words < 10000 {
		t.Errorf("%d [UNK] in %d pieces of the training text", unk, words)
	}
}

// The pipeline on several MB of real text (scripts/fetch-text.sh: Moby-Dick
// and the State of the Union addresses, paragraphs format).
func TestTextRealCorpus(t *testing.T) {
	dir := filepath.Join(repo, ".cache", "text")
	if _, err := os.Stat(filepath.Join(dir, "sotu")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("corpus missing: scripts/setup.sh runs scripts/fetch-text.sh")
		}
		t.Skip("corpus not fetched: run scripts/fetch-text.sh")
	}
	out := t.TempDir()
	cfg := textConfig(t, dir+"/**/*.txt", out)
	cfg.Text.Format = "paragraphs"
	m := runText(t, "prism", cfg)["mlm_nsp"]
	if m.Inputs < 370 || m.Labeled != m.Inputs {
		t.Errorf("inputs %d labeled %d", m.Inputs, m.Labeled)
	}
	rows := readRows[sinks.MLMRow](t, filepath.Join(out, "mlm_nsp"), m)
	if int64(len(rows)) != m.Rows || len(rows) < 100000 {
		t.Fatalf("%d rows, manifest %d", len(rows), m.Rows)
	}
	checkMLM(t, cfg, rows, m)
}
