package inspect

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/pretext-dev/pretext/inspect/render"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/text"
)

func init() { registerTask(text.TaskMLMNSP, mlm) }

// maxTokenIDs bounds the maps of token counts (a vocabulary is ~30 k ids;
// a corrupt shard must not make them grow without end).
const maxTokenIDs = 1 << 20

// RandomNextSlack is the extra allowance of the random-next gate. BERT's
// algorithm draws a random B for half of the chunks that have a choice but
// for every chunk of a single sentence, so the share sits above 0.5 by an
// amount that depends on the corpus's sentence lengths: 0.534 on the Brown
// corpus (the reference), 0.537–0.549 on the committed and fetched corpora.
// The gate is therefore |p̂ − 0.5| <= Bound(0.5, n) + 0.05: loose enough for
// any corpus of real sentences, tight enough to catch a generator that
// never or always pairs at random.
const RandomNextSlack = 0.05

// maskSplit is BERT's replacement of a masked position: [MASK], a random
// word piece, or the token kept (80/10/10), fixed by the algorithm.
var maskSplit = [3]float64{0.8, 0.1, 0.1}

// bertCount is the number of positions create_masked_lm_predictions masks
// in a row of n tokens (n − 3 of them maskable): min(max_predictions,
// max(1, round_half_even(n × prob))), and never more than can be masked.
func bertCount(n int, cfg text.InstanceConfig) int {
	k := min(cfg.MaxPredictionsPerSeq, max(1, int(math.RoundToEven(float64(n)*cfg.MaskedLMProb))))
	return max(0, min(k, n-3))
}

// mlm measures mlm_nsp rows: the effective mask rate against BERT's count
// for the config, the [MASK]/random/kept split, masked positions per row,
// the random-next share and the truth of the is_random_next labels, lengths,
// [UNK] and the most frequent tokens.
func mlm(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg text.InstanceConfig) error {
	v, why := in.vocabFor(ctx, stored(m).Extra[sinks.ExtraVocabSHA256])
	var cls, sep, maskID, unk int32 = -1, -1, -1, -1
	if v != nil {
		cls, _ = v.ID(text.CLS)
		sep, _ = v.ID(text.SEP)
		maskID, _ = v.ID(text.MASK)
		unk, _ = v.ID(text.UNK)
	} else {
		d.note("no vocabulary (%s): tokens are shown as ids, [CLS] and [SEP] are the first and last ids of the rows, the [MASK] id is the most frequent replacement at masked positions, and the [UNK] rate is not measured", why)
	}
	static := cfg.Masking != "none"
	var (
		rows, tokens, nonSpecial, masked, intended, randomNext int64
		sameDoc, crossDoc, layout, over                        examples
		changed                                                = map[int32]int64{}
		kept, unkN                                             int64
		tokenCounts                                            = map[int32]int64{}
		lengths                                                = map[string]int64{}
	)
	maxLen := max(cfg.MaxSeqLength, 16)
	lenHist := make([]int64, maxLen/16+1)
	perRow := make([]int64, cfg.MaxPredictionsPerSeq+2)
	sample := newSampler(in.opts.Sample, func(r sinks.MLMRow) sinks.MLMRow {
		r.InputIDs = append([]int32(nil), r.InputIDs...)
		r.SegmentIDs = append([]int32(nil), r.SegmentIDs...)
		r.MaskedLMPositions = append([]int32(nil), r.MaskedLMPositions...)
		r.MaskedLMIDs = append([]int32(nil), r.MaskedLMIDs...)
		return r
	})
	err := scan(ctx, src, 256, func(batch []sinks.MLMRow) {
		for _, r := range batch {
			rows++
			ids := r.InputIDs
			n := len(ids)
			tokens += int64(n)
			lengths[fmt.Sprintf("length_%03d", (n/16)*16)]++
			lenHist[min(n/16, len(lenHist)-1)]++
			if r.IsRandomNext {
				randomNext++
				if r.DocIDA == r.DocIDB {
					sameDoc.add("%s (doc %s)", rowName(r), r.DocIDA)
				}
			} else if r.DocIDA != r.DocIDB {
				crossDoc.add("%s (%s, %s)", rowName(r), r.DocIDA, r.DocIDB)
			}
			if n < 3 {
				layout.add("%s: %d tokens", rowName(r), n)
				continue
			}
			if cls < 0 {
				cls, sep = ids[0], ids[n-1]
			}
			if msg := mlmLayout(r, cls, sep, cfg.MaxSeqLength); msg != "" {
				layout.add("%s: %s", rowName(r), msg)
				continue
			}
			sample.offer(keyHash(r.Key, r.Dupe), r)
			ns := 0
			for _, id := range ids {
				if id != cls && id != sep {
					ns++
				}
			}
			nonSpecial += int64(ns)
			k := len(r.MaskedLMPositions)
			masked += int64(k)
			perRow[min(k, len(perRow)-1)]++
			want := 0
			if static {
				want = bertCount(n, cfg)
			}
			intended += int64(want)
			if k > want {
				over.add("%s: %d masked, BERT's count for %d tokens is %d", rowName(r), k, n, want)
			}
			j := 0
			for i, id := range ids {
				orig := id
				if j < k && int(r.MaskedLMPositions[j]) == i {
					orig = r.MaskedLMIDs[j]
					j++
					if id == orig {
						kept++
					} else if _, ok := changed[id]; ok || len(changed) < maxTokenIDs {
						changed[id]++
					}
				}
				if orig == cls || orig == sep {
					continue
				}
				if orig == unk {
					unkN++
				}
				if _, ok := tokenCounts[orig]; ok || len(tokenCounts) < maxTokenIDs {
					tokenCounts[orig]++
				}
			}
		}
	})
	if err != nil {
		return err
	}
	var replaced int64
	for _, n := range changed {
		replaced += n
	}
	if v == nil && len(changed) > 0 {
		var best int64
		for id, n := range changed {
			if n > best || (n == best && id < maskID) {
				maskID, best = id, n
			}
		}
	}
	maskN := changed[maskID]
	randomN := replaced - maskN

	rate := share(masked, nonSpecial)
	want := share(intended, nonSpecial)
	d.fact("tokens", "%d (%d not [CLS]/[SEP]), %.1f per row", tokens, nonSpecial, share(tokens, rows))
	d.fact("mask rate", "%.4f (%d masked of %d non-special tokens); BERT's count for masked_lm_prob %g, max_predictions_per_seq %d gives %.4f", rate, masked, nonSpecial, cfg.MaskedLMProb, cfg.MaxPredictionsPerSeq, want)
	d.fact("[MASK]/random/kept", "%.3f / %.3f / %.3f of %d masked positions", share(maskN, masked), share(randomN, masked), share(kept, masked), masked)
	d.fact("masked per row", "%.2f on average", share(masked, rows))
	d.fact("random next", "%.4f (%d of %d)", share(randomNext, rows), randomNext, rows)
	d.metric("mask_rate", rate)
	d.metric("mask_rate_intended", want)
	d.metric("mask_token_share", share(maskN, masked))
	d.metric("random_token_share", share(randomN, masked))
	d.metric("kept_token_share", share(kept, masked))
	d.metric("masked_per_row", share(masked, rows))
	d.metric("random_next_share", share(randomNext, rows))
	d.metric("mask_id", float64(maskID))
	if v != nil {
		d.fact("[UNK] rate", "%.5f (%d of %d)", share(unkN, nonSpecial), unkN, nonSpecial)
		d.metric("unk_rate", share(unkN, nonSpecial))
	} else if maskID >= 0 {
		d.fact("[MASK] id", "%d (inferred)", maskID)
	}
	top := topTokens(tokenCounts, 20)
	var topParts []string
	th := Histogram{Title: "top tokens (occurrences)"}
	for _, t := range top {
		s := tokenText(v, t)
		th.Labels = append(th.Labels, s)
		th.Counts = append(th.Counts, tokenCounts[t])
		if len(topParts) < 10 {
			topParts = append(topParts, fmt.Sprintf("%s %d", s, tokenCounts[t]))
		}
	}
	d.fact("top tokens", "%s", strings.Join(topParts, ", "))

	lh := Histogram{Title: "tokens per row"}
	for i := range lenHist {
		lh.Labels = append(lh.Labels, fmt.Sprintf("%d–%d", 16*i, 16*i+15))
		lh.Counts = append(lh.Counts, lenHist[i])
	}
	ph := Histogram{Title: "masked positions per row"}
	for i := range perRow {
		label := fmt.Sprint(i)
		if i == len(perRow)-1 {
			label = fmt.Sprintf(">%d", i-1)
		}
		ph.Labels = append(ph.Labels, label)
		ph.Counts = append(ph.Counts, perRow[i])
	}
	d.hist(lh)
	d.hist(ph)
	d.hist(th)

	if static {
		d.gate(shareGate("mask rate", masked, nonSpecial, want, 0,
			fmt.Sprintf("BERT's per-row count min(max_predictions_per_seq, max(1, round(len × %g))) over the non-special tokens of these rows", cfg.MaskedLMProb)))
		d.gate(zeroGate("masked positions per row", over.n, rows, fmt.Sprintf("at most BERT's count for masked_lm_prob %g, max_predictions_per_seq %d", cfg.MaskedLMProb, cfg.MaxPredictionsPerSeq), over.list))
		d.gate(shareGate("[MASK] share", maskN, masked, maskSplit[0], 0, "BERT's 80/10/10"))
		d.gate(shareGate("random-token share", randomN, masked, maskSplit[1], 0, "BERT's 80/10/10"))
		d.gate(shareGate("kept share", kept, masked, maskSplit[2], 0, "BERT's 80/10/10"))
	} else {
		d.gate(zeroGate("no static masking", masked, nonSpecial, "masking: none writes no masked positions", nil))
	}
	d.gate(shareGate("random-next share", randomNext, rows, 0.5, RandomNextSlack, "+0.05: every one-sentence chunk takes a random B, so BERT's share is 0.50–0.55"))
	d.gate(zeroGate("same-document random pairs", sameDoc.n, rows, "is_random_next means doc_id_a ≠ doc_id_b", sameDoc.list))
	d.gate(zeroGate("cross-document actual-next pairs", crossDoc.n, rows, "a pair that is not random has both sentences from one document", crossDoc.list))
	d.gate(zeroGate("row layout", layout.n, rows, fmt.Sprintf("[CLS] A [SEP] B [SEP] of at most %d tokens, segment ids 0…0 1…1, num_tokens = len(input_ids), masked positions ascending inside A and B, one id each", cfg.MaxSeqLength), layout.list))
	if th := in.opts.Thresholds; th != nil && th.MaxUNKRate != nil && v != nil {
		d.gate(maxGate("[UNK] rate", share(unkN, nonSpecial), *th.MaxUNKRate, fmt.Sprintf("%.5f (%d of %d)", share(unkN, nonSpecial), unkN, nonSpecial)))
	}

	// The manifest's replaced_random and replaced_kept are the generator's
	// decisions; a random draw of the original token reads as kept in the
	// rows, so only their sum is compared.
	manifest := map[string]int64{}
	for k, n := range m.Stats {
		manifest[k] = n
	}
	manifest["replaced_random+replaced_kept"] = m.Stats["replaced_random"] + m.Stats["replaced_kept"]
	rowsCounted := mergeCounts(map[string]int64{
		"instances": rows, "tokens": tokens, "masked": masked, "random_next": randomNext,
		"replaced_mask": maskN, "replaced_random+replaced_kept": randomN + kept,
	}, lengths)
	statsGateOf(d, manifest, rowsCounted, src.complete(m) && layout.n == 0, "length_")

	for _, r := range sample.rows() {
		d.SampleKeys = append(d.SampleKeys, r.Key)
		d.fragments = append(d.fragments, tokensHTML(r, v))
	}
	return nil
}

// rowName names a row in examples: a document's key repeats across dupes.
func rowName(r sinks.MLMRow) string { return fmt.Sprintf("%s/dupe %d", r.Key, r.Dupe) }

// mlmLayout checks one row's layout; "" when it is right.
func mlmLayout(r sinks.MLMRow, cls, sep int32, maxSeq int) string {
	ids := r.InputIDs
	n := len(ids)
	switch {
	case n > maxSeq:
		return fmt.Sprintf("%d tokens, max_seq_length %d", n, maxSeq)
	case len(r.SegmentIDs) != n:
		return fmt.Sprintf("%d segment ids for %d tokens", len(r.SegmentIDs), n)
	case int(r.NumTokens) != n:
		return fmt.Sprintf("num_tokens %d for %d tokens", r.NumTokens, n)
	case ids[0] != cls || ids[n-1] != sep:
		return "does not start with [CLS] and end with [SEP]"
	case len(r.MaskedLMIDs) != len(r.MaskedLMPositions):
		return fmt.Sprintf("%d masked ids for %d positions", len(r.MaskedLMIDs), len(r.MaskedLMPositions))
	}
	seps := 0
	for i, id := range ids {
		if id == sep {
			seps++
		}
		if s := r.SegmentIDs[i]; s != 0 && s != 1 || (i > 0 && s < r.SegmentIDs[i-1]) {
			return "segment ids are not 0…0 1…1"
		}
	}
	if seps != 2 {
		return fmt.Sprintf("%d [SEP] tokens", seps)
	}
	last := int32(0)
	for _, p := range r.MaskedLMPositions {
		if p <= last || int(p) >= n-1 || ids[p] == sep {
			return fmt.Sprintf("masked position %d out of order or on a special token", p)
		}
		last = p
	}
	return ""
}

func topTokens(counts map[int32]int64, n int) []int32 {
	ids := make([]int32, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if counts[ids[i]] != counts[ids[j]] {
			return counts[ids[i]] > counts[ids[j]]
		}
		return ids[i] < ids[j]
	})
	return ids[:min(n, len(ids))]
}

func tokenText(v *text.Vocab, id int32) string {
	if v != nil {
		if s := v.Token(id); s != "" {
			return s
		}
	}
	return fmt.Sprintf("#%d", id)
}

// tokensHTML renders one row with its masked positions.
func tokensHTML(r sinks.MLMRow, v *text.Vocab) string {
	next := "actual next"
	if r.IsRandomNext {
		next = "random next"
	}
	caption := fmt.Sprintf("%s · dupe %d · A %s · B %s · %s · %d tokens, %d masked", r.Key, r.Dupe, r.DocIDA, r.DocIDB, next, len(r.InputIDs), len(r.MaskedLMPositions))
	return render.TokensHTML(caption, pairTokens(r, v))
}

// pairTokens are a BERT pair's tokens with their segments and masked
// positions (and the tokens these replaced), for the contact sheet.
func pairTokens(r sinks.MLMRow, v *text.Vocab) []render.Token {
	toks := make([]render.Token, len(r.InputIDs))
	j := 0
	for i, id := range r.InputIDs {
		toks[i] = render.Token{Text: tokenText(v, id)}
		if i < len(r.SegmentIDs) {
			toks[i].Segment = r.SegmentIDs[i]
		}
		if j < len(r.MaskedLMPositions) && int(r.MaskedLMPositions[j]) == i {
			toks[i].Masked = true
			if j < len(r.MaskedLMIDs) {
				toks[i].Original = tokenText(v, r.MaskedLMIDs[j])
			}
			j++
		}
	}
	return toks
}
