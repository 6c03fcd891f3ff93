package inspect

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/seeding"
	"github.com/pretext-dev/pretext/transforms/text"
)

// writeSOP commits rows as a sop dataset under dir, with the manifest the
// pipeline would write for them (its statistics counted from the rows).
func writeSOP(t *testing.T, dir string, cfg text.SOPConfig, rows []text.SOPRow) {
	t.Helper()
	ctx := context.Background()
	conf, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(sinks.LabelConfig{Task: text.TaskSOP, Modality: "text", Config: conf, Split: json.RawMessage(`{}`), Sink: json.RawMessage(`{}`)})
	c := sinks.Commit{
		Dataset: sinks.Dataset{Name: text.TaskSOP, Format: sinks.FormatOf[text.SOPRow]().Name(), Dir: filepath.Join(dir, text.TaskSOP),
			RunID: "t", NumShards: 1, RowGroupRows: 1000, RowGroupBytes: 1 << 20, MaxBufferBytes: 1 << 20},
		Task: text.TaskSOP, Seed: 1, ConfigHash: "test", Config: doc,
	}
	w, err := sinks.NewWriter(ctx, c.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Add(ctx, r.Key, r, 100); err != nil {
			t.Fatal(err)
		}
		w.Count("instances", 1)
		w.Count("tokens", int64(len(r.InputIDs)))
		w.Count("masked", int64(len(r.MaskedLMPositions)))
		if r.IsSwapped {
			w.Count("swapped", 1)
		}
	}
	var temps []sinks.TempFile
	if err := w.Finish(ctx, func(tf sinks.TempFile) { temps = append(temps, tf) }); err != nil {
		t.Fatal(err)
	}
	var inputs []string
	stats := map[string]int64{}
	var n int64
	for _, tf := range temps {
		inputs = append(inputs, tf.Path)
		n += tf.Rows
		for k, v := range tf.Stats {
			stats[k] += v
		}
	}
	sh, err := sinks.MergePartition(ctx, c, 0, inputs, n, stats)
	if err != nil {
		t.Fatal(err)
	}
	done := false
	next := func(s *sinks.StagedShard) bool {
		if done {
			return false
		}
		*s, done = sh, true
		return true
	}
	if _, err := sinks.Publish(ctx, c, next, map[string]int64{sinks.OutcomeInput: 1, sinks.OutcomeLabeled: 1}); err != nil {
		t.Fatal(err)
	}
	if err := sinks.RemoveRun(ctx, dir, "t"); err != nil {
		t.Fatal(err)
	}
}

// The sop gates pass the labeller's rows and fail a labeller that flips
// is_swapped (the order no longer what a_start and b_start say) or pairs
// two documents.
func TestSentenceOrderGates(t *testing.T) {
	vocab := filepath.Join("..", "testdata", "wordpiece", "vocab-bert-base-uncased.txt")
	v, _, err := text.LoadVocab(context.Background(), vocab)
	if err != nil {
		t.Fatal(err)
	}
	cfg := text.DefaultSOPConfig()
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []text.SOPRow
	for d := range 60 {
		doc := text.Document{ID: fmt.Sprintf("doc%03d", d)}
		for range 8 {
			s := make([]int32, 5+rng.IntN(20))
			for i := range s {
				s[i] = int32(2000 + rng.IntN(3000))
			}
			doc.Sentences = append(doc.Sentences, s)
		}
		ins, _ := text.CreateSOPInstances(doc, cfg, v, seeding.New(1, text.TaskSOP, doc.ID, 0))
		for i, in := range ins {
			rows = append(rows, text.SOPRow{Key: fmt.Sprintf("%s#%04d", doc.ID, i), DocIDA: in.DocA, DocIDB: in.DocB,
				InputIDs: in.InputIDs, SegmentIDs: in.SegmentIDs, MaskedLMPositions: in.MaskedPositions, MaskedLMIDs: in.MaskedIDs,
				IsSwapped: in.Swapped, AStart: int32(in.AStart), BStart: int32(in.BStart), NumTokens: int32(len(in.InputIDs))})
		}
	}
	if len(rows) < 60 {
		t.Fatalf("%d rows", len(rows))
	}
	run := func(rows []text.SOPRow) *Report {
		dir := t.TempDir()
		writeSOP(t, dir, cfg, rows)
		rep, err := Run(context.Background(), Options{Dir: dir, VocabPath: vocab})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := run(rows); !rep.OK {
		t.Fatalf("the labeller's rows fail: %v", rep.Failures)
	}
	flipped := append([]text.SOPRow(nil), rows...)
	for i := range flipped {
		flipped[i].IsSwapped = !flipped[i].IsSwapped
	}
	rep := run(flipped)
	if rep.OK || !strings.Contains(strings.Join(rep.Failures, "\n"), "sop: is_swapped tells the order") {
		t.Errorf("flipped is_swapped: failures %v", rep.Failures)
	}
	cross := append([]text.SOPRow(nil), rows...)
	cross[3].DocIDB = "elsewhere"
	rep = run(cross)
	if rep.OK || !strings.Contains(strings.Join(rep.Failures, "\n"), "sop: one document per pair") {
		t.Errorf("a pair of two documents: failures %v", rep.Failures)
	}
}
