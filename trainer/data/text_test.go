package data

import (
	"context"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
)

// Statically masked rows come out as written, padded to MaxSeqLen and
// MaxPredictions.
func TestTextBatchPadding(t *testing.T) {
	dir := t.TempDir()
	shards := textDataset(t, dir, "static", 60, 7)
	o := options(4, 0, 1)
	o.MaxSeqLen = 64
	bs, _ := collect(t, open(t, dir, o), -1)
	b := bs[0].(*TextBatch)
	const S, P = 64, 20
	if b.Len() != 4 || b.SeqLen != S || b.MaxPredictions != P || b.Dynamic ||
		len(b.InputIDs) != 4*S || len(b.SegmentIDs) != 4*S || len(b.AttentionMask) != 4*S ||
		len(b.MaskedPositions) != 4*P || len(b.MaskedIDs) != 4*P || len(b.MaskedWeights) != 4*P || len(b.IsRandomNext) != 4 {
		t.Fatalf("batch shape: %+v", b)
	}
	for i, r := range shards[0][:4] {
		n := len(r.InputIDs)
		in, seg, att := b.InputIDs[i*S:(i+1)*S], b.SegmentIDs[i*S:(i+1)*S], b.AttentionMask[i*S:(i+1)*S]
		if !slices.Equal(in[:n], r.InputIDs) || !slices.Equal(seg[:n], r.SegmentIDs) {
			t.Fatalf("row %d: tokens differ", i)
		}
		for j := range S {
			wantAtt, wantPad := int32(0), j >= n
			if !wantPad {
				wantAtt = 1
			}
			if att[j] != wantAtt || (wantPad && (in[j] != idPAD || seg[j] != 0)) {
				t.Fatalf("row %d position %d: id %d segment %d attention %d", i, j, in[j], seg[j], att[j])
			}
		}
		k := len(r.MaskedLMPositions)
		pos, ids, wts := b.MaskedPositions[i*P:(i+1)*P], b.MaskedIDs[i*P:(i+1)*P], b.MaskedWeights[i*P:(i+1)*P]
		if !slices.Equal(pos[:k], r.MaskedLMPositions) || !slices.Equal(ids[:k], r.MaskedLMIDs) {
			t.Fatalf("row %d: masked positions differ", i)
		}
		for j := range P {
			if real := j < k; (wts[j] == 1) != real || (!real && (pos[j] != 0 || ids[j] != 0 || wts[j] != 0)) {
				t.Fatalf("row %d prediction %d: position %d id %d weight %g", i, j, pos[j], ids[j], wts[j])
			}
		}
		if want := map[bool]int32{false: 0, true: 1}[r.IsRandomNext]; b.IsRandomNext[i] != want {
			t.Fatalf("row %d: is_random_next %d", i, b.IsRandomNext[i])
		}
	}

	// A row longer than MaxSeqLen is an error naming it.
	o.MaxSeqLen = 30
	_, err := open(t, dir, o).Next()
	if err == nil || !strings.Contains(err.Error(), "more than MaxSeqLen 30") || !strings.Contains(err.Error(), "key \"doc") {
		t.Errorf("long row: %v", err)
	}
	// Static masking of unmasked shards is refused.
	none := t.TempDir()
	textDataset(t, none, "none", 60, 3)
	o = options(4, 0, 1)
	o.Masking = "static"
	if _, err := Open(context.Background(), none, o); err == nil || !strings.Contains(err.Error(), "masking: none") {
		t.Errorf("static masking of unmasked shards: %v", err)
	}
	o.Masking = ""
	if _, err := Open(context.Background(), none, o); err == nil || !strings.Contains(err.Error(), "needs Options.Vocab") {
		t.Errorf("dynamic masking without a vocab: %v", err)
	}
}

// Shards written with masking: none are masked dynamically: 15% of the
// tokens, 80% of those [MASK], 10% random, 10% kept; a new mask each epoch,
// the same for the same seed.
func TestDynamicMasking(t *testing.T) {
	dir := t.TempDir()
	shards := textDataset(t, dir, "none", 128, 400, 400)
	orig := map[string]sinks.MLMRow{}
	for _, s := range shards {
		for _, r := range s {
			orig[r.Key] = r
		}
	}
	o := options(32, 64, 2)
	o.Vocab = testVocab(t)
	bs, _ := collect(t, open(t, dir, o), -1)

	var tokens, masked, asMask, random, kept int
	masks := map[int]map[string][]int32{0: {}, 1: {}} // epoch → key → positions
	epoch := 0
	seen := 0
	for _, bb := range bs {
		b := bb.(*TextBatch)
		if !b.Dynamic {
			t.Fatal("batch not dynamically masked")
		}
		S, P := b.SeqLen, b.MaxPredictions
		for i, key := range b.Keys {
			r := orig[key]
			in := b.InputIDs[i*S : i*S+len(r.InputIDs)]
			var pos []int32
			for j := range P {
				if b.MaskedWeights[i*P+j] == 0 {
					continue
				}
				p := b.MaskedPositions[i*P+j]
				pos = append(pos, p)
				if b.MaskedIDs[i*P+j] != r.InputIDs[p] {
					t.Fatalf("%s: masked id %d is not the original %d", key, b.MaskedIDs[i*P+j], r.InputIDs[p])
				}
				if r.InputIDs[p] == idCLS || r.InputIDs[p] == idSEP {
					t.Fatalf("%s: a [CLS] or [SEP] was masked", key)
				}
				switch in[p] {
				case idMASK:
					asMask++
				case r.InputIDs[p]:
					kept++
				default:
					random++
					if in[p] < firstWord {
						t.Fatalf("%s: random replacement %d is a special token", key, in[p])
					}
				}
			}
			for j, id := range in {
				if !slices.Contains(pos, int32(j)) && id != r.InputIDs[j] {
					t.Fatalf("%s: unmasked position %d changed", key, j)
				}
			}
			tokens += len(r.InputIDs)
			masked += len(pos)
			masks[epoch][key] = pos
			if seen++; seen == len(orig) {
				epoch, seen = epoch+1, 0
			}
		}
	}
	rate := float64(masked) / float64(tokens)
	share := func(n int) float64 { return float64(n) / float64(masked) }
	t.Logf("%d tokens, mask rate %.4f, [MASK] %.3f random %.3f kept %.3f", tokens, rate, share(asMask), share(random), share(kept))
	if math.Abs(rate-0.15) > 0.005 {
		t.Errorf("mask rate %.4f, want 0.15", rate)
	}
	if math.Abs(share(asMask)-0.8) > 0.02 || math.Abs(share(random)-0.1) > 0.015 || math.Abs(share(kept)-0.1) > 0.015 {
		t.Errorf("[MASK]/random/kept = %.3f/%.3f/%.3f, want 0.8/0.1/0.1", share(asMask), share(random), share(kept))
	}
	same := 0
	for key, p := range masks[0] {
		if slices.Equal(p, masks[1][key]) {
			same++
		}
	}
	if same > len(orig)/100 {
		t.Errorf("%d of %d rows have the same mask in both epochs", same, len(orig))
	}
	again, _ := collect(t, open(t, dir, o), -1)
	if !reflect.DeepEqual(again, bs) {
		t.Error("same seed, different masks")
	}
}

// Statically masked shards masked dynamically are unmasked first: the
// labels are the original tokens, never [MASK].
func TestDynamicMaskingOfStaticShards(t *testing.T) {
	dir := t.TempDir()
	shards := textDataset(t, dir, "static", 60, 20)
	unmasked := mlmRows(20, 60, 0)
	o := options(20, 0, 1)
	o.Vocab, o.Masking = testVocab(t), "dynamic"
	bs, _ := collect(t, open(t, dir, o), -1)
	b := bs[0].(*TextBatch)
	for i := range b.Keys {
		if b.Keys[i] != shards[0][i].Key {
			t.Fatal("order")
		}
		for j := range b.MaxPredictions {
			if b.MaskedWeights[i*b.MaxPredictions+j] == 0 {
				continue
			}
			p := b.MaskedPositions[i*b.MaxPredictions+j]
			if got, want := b.MaskedIDs[i*b.MaxPredictions+j], unmasked[i].InputIDs[p]; got != want {
				t.Fatalf("row %d position %d: label %d, want the original %d", i, p, got, want)
			}
		}
	}
}

// The masking algorithm as the pipeline's: whole-word masking keeps a
// word's pieces together, num_to_predict is round-half-even(len × prob).
func TestMaskerWholeWord(t *testing.T) {
	m, err := newMasker(testVocab(t), 0.15, 20, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := mlmRows(200, 128, 0)
	for i, row := range r {
		rng := newShuffler[struct{}](1, 1, int64(i), 0).rng
		out, pos, labels, err := m.apply(row.InputIDs, rng)
		if err != nil {
			t.Fatal(err)
		}
		want := min(20, max(1, int(math.RoundToEven(float64(len(row.InputIDs))*0.15))))
		if len(pos) > want || len(pos) < want-3 || len(labels) != len(pos) || len(out) != len(row.InputIDs) {
			t.Fatalf("row %d: %d masked, want about %d", i, len(pos), want)
		}
		for _, p := range pos {
			// A "##" piece is masked with the piece before it.
			if row.InputIDs[p] >= firstCont && !slices.Contains(pos, p-1) && row.InputIDs[p-1] != idSEP {
				t.Fatalf("row %d: piece at %d masked without its word", i, p)
			}
		}
	}
}
