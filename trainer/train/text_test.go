package train

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/text"
)

// tinyTextConfig is a run of a 1-layer BERT of width 16 on mlm_nsp fixture
// shards (masking: none, so the loader masks dynamically) written under dir.
func tinyTextConfig(t *testing.T, dir string) Config {
	t.Helper()
	vocab := filepath.Join(dir, "vocab.txt")
	if err := shardtest.Vocab(vocab, 40); err != nil {
		t.Fatal(err)
	}
	shards := filepath.Join(dir, "shards", "mlm_nsp")
	if _, err := shardtest.Text(shards, 2, 16, 16, 40, 7); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Output = filepath.Join(dir, "run")
	cfg.BERT = &model.BERT{Layers: 1, Width: 16, Heads: 2, Intermediate: 32, MaxPositions: 16}
	cfg.Data = []Dataset{{Dir: shards, Task: text.TaskMLMNSP, Vocab: vocab, Loss: "l2", Region: "all"}}
	cfg.Train = Schedule{Steps: 8, BatchSize: 8, LearningRate: 1e-2, ShuffleBuffer: 8, CheckpointEvery: 3, Keep: 2, LogEvery: 1}
	return cfg
}

// TestTextResume: the MLM + NSP loss of a tiny BERT falls, and a run stopped
// after 4 of 8 steps and resumed ends with the weights of an uninterrupted one.
func TestTextResume(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyTextConfig(t, dir)
	var log strings.Builder
	full, err := Run(context.Background(), cfg, Options{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("uninterrupted: %+v\n%s", full, log.String())
	if full.Step != 8 || !(full.LastLoss < full.FirstLoss) {
		t.Errorf("uninterrupted run: %+v, want 8 steps and a falling loss", full)
	}
	if full.Params == 0 {
		t.Errorf("no parameters counted")
	}
	want := weights(t, cfg.Output)

	_, cfg2 := interruptAndResume(t, cfg, dir)
	sameWeights(t, weights(t, cfg2.Output), want, 8)
}

// TestTextLossFalls: over more steps the loss of the tiny BERT clearly
// falls (the fixture's sentences count up, so the masked words and the NSP
// label are predictable).
func TestTextLossFalls(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 150 steps")
	}
	for _, preLN := range []bool{false, true} {
		cfg := tinyTextConfig(t, t.TempDir())
		cfg.BERT.PreLN = preLN
		cfg.Train.Steps, cfg.Train.CheckpointEvery = 150, 150
		res, err := Run(context.Background(), cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pre_ln %v: %+v", preLN, res)
		if !(res.LastLoss < 0.9*res.FirstLoss) {
			t.Errorf("pre_ln %v: loss %.4f → %.4f, want it to fall by more than 10%%", preLN, res.FirstLoss, res.LastLoss)
		}
	}
}

// TestTextShardImageModel: a text dataset under an image model, whether
// declared as mlm_nsp (no bert section) or as an image task, is refused
// with a clear error.
func TestTextShardImageModel(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyTextConfig(t, dir)
	cfg.BERT = nil
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "bert") || !strings.Contains(err.Error(), text.TaskMLMNSP) {
		t.Errorf("mlm_nsp without bert: err = %v, want it to ask for a bert section", err)
	}
	cfg.Data[0].Task, cfg.Data[0].Vocab = "denoise", ""
	_, err = Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "denoise") || !strings.Contains(err.Error(), text.TaskMLMNSP) {
		t.Errorf("text shards as denoise: err = %v, want a wrong-task error naming both", err)
	}
	t.Log(err)
	cfg = tinyTextConfig(t, t.TempDir())
	cfg.Data = append(cfg.Data, Dataset{Dir: "x", Task: "denoise", Loss: "l2", Region: "all"})
	if _, err := Run(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "bert") {
		t.Errorf("bert with an image dataset: err = %v, want a refusal", err)
	}
}

// TestBERTConfig: configs/train-bert.yaml loads, with the text model.
func TestBERTConfig(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "configs", "train-bert.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BERT == nil || cfg.BERT.Layers != 2 || cfg.BERT.Width != 64 || cfg.BERT.Heads != 2 || len(cfg.Data) != 1 || cfg.Data[0].Task != text.TaskMLMNSP {
		t.Errorf("configs/train-bert.yaml: %+v, bert %+v", cfg, cfg.BERT)
	}
}

// TestVocabMismatch: a vocabulary of the right size whose sha256 is not the
// manifest's vocab_sha256 (one word piece renamed) is refused before
// training, in one line naming data[0].vocab; the right one trains.
func TestVocabMismatch(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyTextConfig(t, dir)
	cfg.Train.Steps = 1
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatalf("the vocabulary the shards were written with: %v", err)
	}
	raw, err := os.ReadFile(cfg.Data[0].Vocab)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other-vocab.txt")
	if err := os.WriteFile(other, bytes.Replace(raw, []byte("\nw7\n"), []byte("\nv7\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Data[0].Vocab = other
	cfg.Output = filepath.Join(dir, "run-other")
	_, err = Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "data[0].vocab") || !strings.Contains(err.Error(), other) ||
		!strings.Contains(err.Error(), "sha256") || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want one line naming data[0].vocab %s and its sha256", err, other)
	}
	t.Log(err)
}
