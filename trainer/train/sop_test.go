package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/text"
)

// TestSOP trains a tiny BERT on sop rows: runs of consecutive words cut in
// two, the halves in order or swapped. The loss (masked LM, drawn per
// epoch, and the order head on [CLS]) falls.
func TestSOP(t *testing.T) {
	dir := t.TempDir()
	vocab := filepath.Join(dir, "vocab.txt")
	const words, first, seqLen = 40, 5, 16
	if err := shardtest.Vocab(vocab, words); err != nil {
		t.Fatal(err)
	}
	_, sha, err := text.LoadVocab(context.Background(), vocab)
	if err != nil {
		t.Fatal(err)
	}
	config := map[string]any{
		"task": text.TaskSOP, "modality": "text",
		"config": map[string]any{"max_seq_length": seqLen, "max_predictions_per_seq": 3, "masked_lm_prob": 0.15,
			"dupe_factor": 1, "short_seq_prob": 0.1, "do_whole_word_mask": false, "masking": "none", "swap_share": 0.5},
		"extra": map[string]string{"vocab_sha256": sha},
	}
	shards := filepath.Join(dir, "shards", text.TaskSOP)
	rng := rand.New(rand.NewPCG(3, 4))
	_, err = shardtest.Write(shards, text.TaskSOP, 3, config, 2, 32, func(k, i int) (text.SOPRow, error) {
		start, n := rng.IntN(words), seqLen-3
		cut := 2 + rng.IntN(n-4)
		run := make([]int32, n)
		for j := range run {
			run[j] = int32(first + (start+j)%words)
		}
		a, b := run[:cut], run[cut:]
		swapped := rng.IntN(2) == 1
		aStart, bStart := 0, 1
		if swapped {
			a, b, aStart, bStart = b, a, 1, 0
		}
		ids := append(append(append(append([]int32{2}, a...), 3), b...), 3)
		seg := make([]int32, len(ids))
		for j := len(a) + 2; j < len(seg); j++ {
			seg[j] = 1
		}
		doc := fmt.Sprintf("doc%04d", k*32+i)
		return text.SOPRow{Key: doc + "#0000", DocIDA: doc, DocIDB: doc, InputIDs: ids, SegmentIDs: seg,
			IsSwapped: swapped, AStart: int32(aStart), BStart: int32(bStart), NumTokens: int32(len(ids))}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Output = filepath.Join(dir, "run")
	cfg.BERT = &model.BERT{Layers: 1, Width: 16, Heads: 2, Intermediate: 32, MaxPositions: seqLen}
	cfg.Data = []Dataset{{Dir: shards, Task: text.TaskSOP, Vocab: vocab, Loss: "l2", Region: "all"}}
	cfg.Train = Schedule{Steps: 120, BatchSize: 16, LearningRate: 1e-2, ShuffleBuffer: 16, CheckpointEvery: 60, Keep: 2, LogEvery: 20}
	var log strings.Builder
	res, err := Run(context.Background(), cfg, Options{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("loss %.4f → %.4f", res.FirstLoss, res.LastLoss)
	if !(res.LastLoss < 0.9*res.FirstLoss) {
		t.Errorf("loss %.4f → %.4f in %d steps, want a fall of more than 10%%\n%s", res.FirstLoss, res.LastLoss, cfg.Train.Steps, log.String())
	}
}
