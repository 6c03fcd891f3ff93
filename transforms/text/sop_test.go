package text

import (
	"slices"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/transforms/seeding"
)

// Sentence-order pairs: both segments from one document, A and B the two
// parts of one chunk (in order, or swapped with is_swapped and
// a_start > b_start), the swap share near swap_share, same rng same pairs.
func TestSOPInstances(t *testing.T) {
	v := loadVocab(t)
	docs := corpus(t, v)
	cfg := DefaultSOPConfig()
	cfg.Masking = "none" // the segments' tokens are the sentences' own
	cls, _ := v.ID(CLS)
	sep, _ := v.ID(SEP)
	var pairs, swapped int
	for d, doc := range docs {
		ins, _ := CreateSOPInstances(doc, cfg, v, seeding.New(1, TaskSOP, doc.ID, 0))
		again, _ := CreateSOPInstances(doc, cfg, v, seeding.New(1, TaskSOP, doc.ID, 0))
		if len(ins) != len(again) {
			t.Fatalf("doc %d: %d then %d pairs", d, len(ins), len(again))
		}
		for i, in := range ins {
			if !slices.Equal(in.InputIDs, again[i].InputIDs) || in.Swapped != again[i].Swapped {
				t.Fatalf("doc %d pair %d: not reproducible", d, i)
			}
			if in.DocA != doc.ID || in.DocB != doc.ID {
				t.Errorf("doc %d pair %d: documents %s, %s", d, i, in.DocA, in.DocB)
			}
			if in.Swapped != (in.AStart > in.BStart) {
				t.Errorf("doc %d pair %d: swapped %v with a_start %d, b_start %d", d, i, in.Swapped, in.AStart, in.BStart)
			}
			if len(in.InputIDs) > cfg.MaxSeqLength || in.InputIDs[0] != cls || in.InputIDs[len(in.InputIDs)-1] != sep {
				t.Fatalf("doc %d pair %d: bad layout", d, i)
			}
			// The earlier segment lies in the sentences from its start to
			// the later one's, the later from its start on (truncation may
			// trim either end of a segment, never add to it).
			aLen := slices.Index(in.InputIDs[1:], sep)
			segA := in.InputIDs[1 : 1+aLen]
			segB := in.InputIDs[2+aLen : len(in.InputIDs)-1]
			early, late, earlyStart, lateStart := segA, segB, in.AStart, in.BStart
			if in.Swapped {
				early, late, earlyStart, lateStart = segB, segA, in.BStart, in.AStart
			}
			if !containsRun(slices.Concat(doc.Sentences[earlyStart:lateStart]...), early) {
				t.Errorf("doc %d pair %d: the earlier segment is not in sentences %d…%d", d, i, earlyStart, lateStart-1)
			}
			if !containsRun(slices.Concat(doc.Sentences[lateStart:]...), late) {
				t.Errorf("doc %d pair %d: the later segment is not in sentences from %d", d, i, lateStart)
			}
			pairs++
			if in.Swapped {
				swapped++
			}
		}
	}
	if pairs < 100 {
		t.Fatalf("only %d pairs", pairs)
	}
	if s := float64(swapped) / float64(pairs); s < 0.4 || s > 0.6 {
		t.Errorf("swap share %.3f of %d pairs, want about 0.5", s, pairs)
	}
	// A one-sentence document cannot be split.
	one := Document{ID: "one", Sentences: docs[0].Sentences[:1]}
	if ins, skipped := CreateSOPInstances(one, cfg, v, seeding.New(1, TaskSOP, "one", 0)); len(ins) != 0 || skipped != 1 {
		t.Errorf("one sentence: %d pairs, %d skipped; want 0 and 1", len(ins), skipped)
	}
	cfg.SwapShare = 1.5
	if err := cfg.Validate("tasks.sop"); err == nil || !strings.Contains(err.Error(), "tasks.sop.swap_share") {
		t.Errorf("swap_share 1.5: %v", err)
	}
}

// containsRun reports whether run occurs in s.
func containsRun(s, run []int32) bool {
	for i := 0; i+len(run) <= len(s); i++ {
		if slices.Equal(s[i:i+len(run)], run) {
			return true
		}
	}
	return false
}
