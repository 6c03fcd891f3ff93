package inspect

import (
	"context"
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
	commitRows(t, dir, testDataset{Task: text.TaskSOP, Modality: "text", Config: cfg}, rows,
		func(w *sinks.Writer, r text.SOPRow) {
			w.Count("instances", 1)
			w.Count("tokens", int64(len(r.InputIDs)))
			w.Count("masked", int64(len(r.MaskedLMPositions)))
			if r.IsSwapped {
				w.Count("swapped", 1)
			}
		})
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
