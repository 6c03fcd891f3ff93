package pipelines

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/inspect"
	"github.com/pretext-dev/pretext/transforms/text"
)

// sopConfig is configs/sop.yaml on input into out.
func sopConfig(t *testing.T, input, out string) configs.Config {
	t.Helper()
	cfg, err := configs.Load(filepath.Join(repo, "configs", "sop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input, cfg.Output = input, out
	cfg.Text.Vocab = bertVocab()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sop through the text pipeline: same seed, same bytes (prism twice, and
// the direct runner); every gate of pretext inspect passes; DuckDB reads
// the shards and agrees with the inspector's swap share.
func TestSOPPipeline(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	ms := runText(t, "prism", sopConfig(t, mobyDick(), a))
	runText(t, "prism", sopConfig(t, mobyDick(), b))
	runText(t, "direct", sopConfig(t, mobyDick(), c))
	sameShards(t, "two prism runs", dirBytes(t, a), dirBytes(t, b))
	sameShards(t, "prism vs direct", dirBytes(t, a), dirBytes(t, c))
	m := ms[text.TaskSOP]
	if m == nil || m.Rows < 1000 || m.Labeled != m.Inputs {
		t.Fatalf("sop manifest %+v", m)
	}
	rep := mustInspect(t, inspect.Options{Dir: a, VocabPath: bertVocab()})
	passes(t, rep)
	d := datasetOf(t, rep, text.TaskSOP)
	if s := d.Metrics["swap_share"]; s < 0.45 || s > 0.55 {
		t.Errorf("swap share %v", s)
	}
	t.Run("duckdb", func(t *testing.T) {
		needDuckDB(t)
		r := sumDuck(t, fmt.Sprintf("select avg(is_swapped::INTEGER)::DOUBLE as swap, "+
			"sum((doc_id_a <> doc_id_b)::INTEGER)::DOUBLE as cross, sum((is_swapped <> (a_start > b_start))::INTEGER)::DOUBLE as wrong "+
			"from read_parquet('%s')", filepath.Join(a, text.TaskSOP, "*.parquet")))
		near(t, "swap share", d.Metrics["swap_share"], r["swap"].(float64))
		if r["cross"].(float64) != 0 || r["wrong"].(float64) != 0 {
			t.Errorf("DuckDB finds %v cross-document pairs and %v mislabelled orders", r["cross"], r["wrong"])
		}
	})
}
