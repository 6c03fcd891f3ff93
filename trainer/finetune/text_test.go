package finetune

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gcontext "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/pretext-dev/pretext/trainer/backend"
	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
	ptrain "github.com/pretext-dev/pretext/trainer/train"
	"github.com/pretext-dev/pretext/transforms/text"
)

// bertRun pretrains a 1-layer BERT of width 16 for 60 steps on fixture
// mlm_nsp shards over shardtest.Vocab's 40 words (w0 … w39) and returns the
// run folder.
func bertRun(t *testing.T, dir string) string {
	t.Helper()
	vocab := filepath.Join(dir, "vocab.txt")
	if err := shardtest.Vocab(vocab, 40); err != nil {
		t.Fatal(err)
	}
	shards := filepath.Join(dir, "shards", "mlm_nsp")
	if _, err := shardtest.Text(shards, 2, 16, 16, 40, 7); err != nil {
		t.Fatal(err)
	}
	cfg := ptrain.Default()
	cfg.Output = filepath.Join(dir, "bert")
	cfg.BERT = &model.BERT{Layers: 1, Width: 16, Heads: 2, Intermediate: 32, MaxPositions: 16}
	cfg.Data = []ptrain.Dataset{{Dir: shards, Task: text.TaskMLMNSP, Vocab: vocab, Loss: "l2", Region: "all"}}
	cfg.Train = ptrain.Schedule{Steps: 60, BatchSize: 8, LearningRate: 1e-2, ShuffleBuffer: 8, CheckpointEvery: 60, Keep: 1, LogEvery: 60}
	if _, err := ptrain.Run(context.Background(), cfg, ptrain.Options{}); err != nil {
		t.Fatal(err)
	}
	return cfg.Output
}

// writeTexts writes a folder per class of n .txt documents of 6–12 words:
// class c draws its words from w(10c) … w(10c+9), then a third of them are
// replaced by shared words w30 … w39, so the classes differ by words only.
func writeTexts(t *testing.T, dir string, classes, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	for c := range classes {
		cdir := filepath.Join(dir, fmt.Sprintf("topic%d", c))
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			var words []string
			for range 6 + rng.IntN(7) {
				w := 10*c + rng.IntN(10)
				if rng.IntN(3) == 0 {
					w = 30 + rng.IntN(10)
				}
				words = append(words, fmt.Sprintf("W%d", w)) // upper case: the run's tokenizer lower-cases
			}
			if err := os.WriteFile(filepath.Join(cdir, fmt.Sprintf("%03d.txt", i)), []byte(strings.Join(words, " ")+".\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRunText: on two classes that differ by words, the pretrained encoder
// (linear and full), scratch and bow all learn, the report names the run's
// vocabulary and length, and a long document is cut to the model's length.
func TestRunText(t *testing.T) {
	dir := t.TempDir()
	run := bertRun(t, dir)
	data := filepath.Join(dir, "docs")
	writeTexts(t, filepath.Join(data, "train"), 2, 12, 1)
	writeTexts(t, filepath.Join(data, "test"), 2, 10, 2)
	long := strings.Repeat("w3 ", 40)
	if err := os.WriteFile(filepath.Join(data, "test", "topic0", "long.txt"), []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	o := DefaultTextOptions()
	o.Pretrained, o.Train = run, data // train/ and test/ inside
	o.LabelsPerClass, o.ValPerClass, o.Steps, o.BatchSize = 8, 2, 40, 8
	o.LearningRates = []float64{1e-2, 3e-2}
	var log strings.Builder
	o.Log = &log
	rep, err := RunText(o)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Log(log.String())
	if rep.MaxLen != 16 || rep.VocabSize != 45 || rep.TestSize != 21 || rep.Truncated != 1 || len(rep.Classes) != 2 || !rep.LowerCase {
		t.Errorf("report: %+v, want max length 16, 45 tokens, 21 test documents of which 1 cut, 2 classes, lower case", rep)
	}
	for _, m := range []string{"pretrained-linear", "pretrained-full", "scratch", "bow"} {
		r := rep.Row(m)
		if r == nil {
			t.Errorf("no row %s", m)
			continue
		}
		if len(r.ValAccuracies) != 2 || r.TestAccuracy < 0.75 {
			t.Errorf("%s: %+v, want 2 grid points and test accuracy >= 0.75 on word-separated classes", m, *r)
		}
	}
	if rep.Best != "pretrained-linear" && rep.Best != "pretrained-full" {
		t.Errorf("best pretrained = %q", rep.Best)
	}

	// The same options give the same report (seeded subset, weights, batches).
	o.Log = nil
	again, err := RunText(o)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rep.Rows {
		if a := again.Rows[i]; a.TestAccuracy != r.TestAccuracy || a.LearningRate != r.LearningRate {
			t.Errorf("%s: test accuracy %v at lr %g, then %v at lr %g", r.Method, r.TestAccuracy, r.LearningRate, a.TestAccuracy, a.LearningRate)
		}
	}
}

// checkpointWeights reads the /encoder variables of a run's checkpoint.
func checkpointWeights(t *testing.T, run string) map[string][]float32 {
	t.Helper()
	ctx := gcontext.New()
	if _, err := checkpoints.Build(ctx).Dir(filepath.Join(run, ptrain.CheckpointDir)).Immediate().Done(); err != nil {
		t.Fatal(err)
	}
	return encoderWeights(t, ctx)
}

func encoderWeights(t *testing.T, ctx *gcontext.Context) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for v := range ctx.InAbsPath("/" + model.EncoderScope).IterVariablesInScope() {
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		data, err := tensors.CopyFlatData[float32](val)
		if err != nil {
			t.Fatal(err)
		}
		out[v.ScopeAndName()] = data
	}
	return out
}

// TestLoadBERTWeights: the fine-tuned classifier starts from exactly the
// checkpoint's encoder weights — every one of them, none created anew when
// the classifier's graph is built — and not from a fresh initialisation.
func TestLoadBERTWeights(t *testing.T) {
	dir := t.TempDir()
	run := bertRun(t, dir)
	want := checkpointWeights(t, run)
	if len(want) < 10 {
		t.Fatalf("checkpoint has %d encoder variables", len(want))
	}
	pre, err := LoadBERT(run, "")
	if err != nil {
		t.Fatal(err)
	}
	if pre.Model.Width != 16 || pre.Vocab.Size() != 45 || pre.Step != 60 {
		t.Errorf("loaded %+v, vocab of %d, step %d", pre.Model, pre.Vocab.Size(), pre.Step)
	}
	ctx, err := cloneEncoder(pre.Ctx, newContext(1), true)
	if err != nil {
		t.Fatal(err)
	}
	be, _, err := backend.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Finalize()
	fn := pre.Model.Classifier(pre.Vocab.Size(), 3, model.PoolMean)
	exec, err := gcontext.NewExec(be, ctx.Checked(false), func(ctx *gcontext.Context, in []*graph.Node) *graph.Node {
		return fn(ctx, nil, in)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := tensors.FromFlatDataAndDimensions([]int32{2, 7, 8, 3, 0, 0, 0, 0}, 1, 8)
	mask := tensors.FromFlatDataAndDimensions([]int32{1, 1, 1, 1, 0, 0, 0, 0}, 1, 8)
	out, err := exec.Exec(ids, mask)
	if err != nil {
		t.Fatal(err)
	}
	if d := out[0].Shape().Dimensions; len(d) != 2 || d[0] != 1 || d[1] != 3 {
		t.Errorf("logits of shape %v, want [1 3]", d)
	}
	got := encoderWeights(t, ctx)
	if len(got) != len(want) {
		t.Errorf("the classifier has %d encoder variables, the checkpoint %d: a scope mismatch created new ones", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok || len(g) != len(w) {
			t.Errorf("%s: missing or of another size in the classifier", name)
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s[%d] = %v, the checkpoint's %v", name, i, g[i], w[i])
				break
			}
		}
	}

	// A fresh classifier's encoder differs from the checkpoint's.
	scratch := newContext(1)
	sexec, err := gcontext.NewExec(be, scratch, func(ctx *gcontext.Context, in []*graph.Node) *graph.Node {
		return fn(ctx, nil, in)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sexec.Exec(ids, mask); err != nil {
		t.Fatal(err)
	}
	fresh := encoderWeights(t, scratch)
	name := "/" + model.EncoderScope + "/token/embeddings"
	if len(fresh[name]) == 0 || fmt.Sprint(fresh[name]) == fmt.Sprint(want[name]) {
		t.Errorf("the scratch classifier's %s equals the checkpoint's (or is missing: %d values)", name, len(fresh[name]))
	}
}

// TestTextErrors: an empty class folder, an image run and a missing test
// set are refused with errors that say what is wrong.
func TestTextErrors(t *testing.T) {
	dir := t.TempDir()
	run := bertRun(t, dir)
	pre, err := LoadBERT(run, "")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := IsBERTRun(run); !ok || err != nil {
		t.Errorf("IsBERTRun(bert run) = %v, %v", ok, err)
	}

	docs := filepath.Join(dir, "docs")
	writeTexts(t, docs, 2, 3, 1)
	if !IsTextData(docs) {
		t.Errorf("IsTextData(%s) = false", docs)
	}
	empty := filepath.Join(docs, "topic9")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = LoadText(docs, text.NewTokenizer(pre.Vocab, pre.LowerCase), pre.Vocab, 16)
	if !errors.Is(err, ErrNoTexts) || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty class folder: err = %v, want ErrNoTexts naming %s", err, empty)
	}

	// An image encoder–decoder run.
	if _, err := shardtest.Images(filepath.Join(dir, "img"), "denoise", 1, 8, 16, 3); err != nil {
		t.Fatal(err)
	}
	cfg := ptrain.Default()
	cfg.Output = filepath.Join(dir, "conv")
	cfg.Model = model.Conv{Channels: []int{4, 8}, InChannels: 1, Size: 16}
	cfg.Data = []ptrain.Dataset{{Dir: filepath.Join(dir, "img"), Task: "denoise", Loss: "l2", Region: "all"}}
	cfg.Train = ptrain.Schedule{Steps: 2, BatchSize: 4, LearningRate: 1e-2, ShuffleBuffer: 4, CheckpointEvery: 2, Keep: 1, LogEvery: 2}
	if _, err := ptrain.Run(context.Background(), cfg, ptrain.Options{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := IsBERTRun(cfg.Output); ok || err != nil {
		t.Errorf("IsBERTRun(image run) = %v, %v", ok, err)
	}
	os.RemoveAll(empty)
	o := DefaultTextOptions()
	o.Pretrained, o.Train, o.Test = cfg.Output, docs, docs
	o.LabelsPerClass, o.ValPerClass = 3, 1
	if _, err := RunText(o); !errors.Is(err, ErrNotBERT) || !strings.Contains(err.Error(), "bert") {
		t.Errorf("image run: err = %v, want ErrNotBERT", err)
	}
	o.Pretrained, o.Test = run, ""
	if _, err := RunText(o); err == nil || !strings.Contains(err.Error(), "--test") {
		t.Errorf("no test set: err = %v, want it to ask for --test", err)
	}
	o.Pretrained = filepath.Join(dir, "nothing")
	if _, err := RunText(o); err == nil || !strings.Contains(err.Error(), "nothing") {
		t.Errorf("missing run: err = %v", err)
	}
}
