package inspect

import (
	"context"
	"fmt"

	"github.com/pretext-dev/pretext/inspect/render"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/text"
)

func init() { registerTask(text.TaskSOP, sentenceOrder) }

// sentenceOrder measures sop rows: the swap share against swap_share, that
// both segments come from one document, that is_swapped tells the truth
// (a swapped pair's A starts later in its document than its B), BERT's row
// layout, masked positions within BERT's count, and the manifest's counts;
// the contact sheet shows pairs with their order.
func sentenceOrder(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg text.SOPConfig) error {
	v, why := in.vocabFor(ctx, stored(m).Extra[sinks.ExtraVocabSHA256])
	var cls, sep int32 = -1, -1
	if v != nil {
		cls, _ = v.ID(text.CLS)
		sep, _ = v.ID(text.SEP)
	} else {
		d.note("no vocabulary (%s): tokens are shown as ids, [CLS] and [SEP] are the first and last ids of the rows", why)
	}
	static := cfg.Masking != "none"
	var (
		rows, swapped, tokens, masked      int64
		crossDoc, mislabeled, layout, over examples
	)
	sample := newSampler(in.opts.Sample, func(r text.SOPRow) text.SOPRow {
		r.InputIDs = append([]int32(nil), r.InputIDs...)
		r.SegmentIDs = append([]int32(nil), r.SegmentIDs...)
		r.MaskedLMPositions = append([]int32(nil), r.MaskedLMPositions...)
		r.MaskedLMIDs = append([]int32(nil), r.MaskedLMIDs...)
		return r
	})
	err := scan(ctx, src, 256, func(batch []text.SOPRow) {
		for _, r := range batch {
			rows++
			tokens += int64(len(r.InputIDs))
			masked += int64(len(r.MaskedLMPositions))
			name := fmt.Sprintf("%s/dupe %d", r.Key, r.Dupe)
			if r.IsSwapped {
				swapped++
			}
			if r.DocIDA != r.DocIDB {
				crossDoc.add("%s (%s, %s)", name, r.DocIDA, r.DocIDB)
			}
			if r.IsSwapped != (r.AStart > r.BStart) || r.AStart == r.BStart || r.AStart < 0 || r.BStart < 0 {
				mislabeled.add("%s: is_swapped %v, a_start %d, b_start %d", name, r.IsSwapped, r.AStart, r.BStart)
			}
			n := len(r.InputIDs)
			if n < 3 {
				layout.add("%s: %d tokens", name, n)
				continue
			}
			if cls < 0 {
				cls, sep = r.InputIDs[0], r.InputIDs[n-1]
			}
			if msg := mlmLayout(asMLM(r), cls, sep, cfg.MaxSeqLength); msg != "" {
				layout.add("%s: %s", name, msg)
				continue
			}
			want := 0
			if static {
				want = bertCount(n, cfg.InstanceConfig)
			}
			if k := len(r.MaskedLMPositions); k > want {
				over.add("%s: %d masked, BERT's count for %d tokens is %d", name, k, n, want)
			}
			sample.offer(keyHash(r.Key, r.Dupe), r)
		}
	})
	if err != nil {
		return err
	}
	d.fact("swapped", "%.4f (%d of %d)", share(swapped, rows), swapped, rows)
	d.fact("tokens", "%d, %.1f per row; %d masked", tokens, share(tokens, rows), masked)
	if n := m.Stats["one_sentence_chunks"]; n > 0 {
		d.fact("one-sentence chunks", "%d, not used (a pair needs two sentences)", n)
	}
	d.metric("swap_share", share(swapped, rows))
	d.hist(Histogram{Title: "pairs by order", Labels: []string{"in order", "swapped"}, Counts: []int64{rows - swapped, swapped}})
	d.gate(shareGate("swap share", swapped, rows, cfg.SwapShare, 0, "each pair is swapped with probability swap_share"))
	d.gate(zeroGate("one document per pair", crossDoc.n, rows, "doc_id_a = doc_id_b: both segments come from one document", crossDoc.list))
	d.gate(zeroGate("is_swapped tells the order", mislabeled.n, rows, "is_swapped exactly when a_start > b_start", mislabeled.list))
	d.gate(zeroGate("row layout", layout.n, rows, fmt.Sprintf("[CLS] A [SEP] B [SEP] of at most %d tokens, segment ids 0…0 1…1, num_tokens = len(input_ids), masked positions ascending inside A and B", cfg.MaxSeqLength), layout.list))
	d.gate(zeroGate("masked positions per row", over.n, rows, fmt.Sprintf("at most BERT's count for masked_lm_prob %g, max_predictions_per_seq %d", cfg.MaskedLMProb, cfg.MaxPredictionsPerSeq), over.list))
	statsGate(d, m, map[string]int64{"instances": rows, "swapped": swapped, "tokens": tokens, "masked": masked},
		src.complete(m), "instances", "swapped", "tokens", "masked")
	for _, r := range sample.rows() {
		d.SampleKeys = append(d.SampleKeys, r.Key)
		d.fragments = append(d.fragments, sopHTML(r, v))
	}
	return nil
}

// asMLM views a sop row as an mlm_nsp row, whose layout it shares.
func asMLM(r text.SOPRow) sinks.MLMRow {
	return sinks.MLMRow{Key: r.Key, DocIDA: r.DocIDA, DocIDB: r.DocIDB, Dupe: r.Dupe, InputIDs: r.InputIDs,
		SegmentIDs: r.SegmentIDs, MaskedLMPositions: r.MaskedLMPositions, MaskedLMIDs: r.MaskedLMIDs, NumTokens: r.NumTokens}
}

// sopHTML renders one pair with its order and where its segments start.
func sopHTML(r text.SOPRow, v *text.Vocab) string {
	order := "in order"
	if r.IsSwapped {
		order = "SWAPPED"
	}
	caption := fmt.Sprintf("%s · dupe %d · doc %s · %s: A from sentence %d, B from sentence %d · %d tokens, %d masked",
		r.Key, r.Dupe, r.DocIDA, order, r.AStart, r.BStart, len(r.InputIDs), len(r.MaskedLMPositions))
	return render.TokensHTML(caption, pairTokens(asMLM(r), v))
}
