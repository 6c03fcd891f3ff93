package text

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/pretext-dev/pretext/transforms"
)

// InstanceConfig holds the parameters of BERT's create_pretraining_data.py,
// with its defaults.
type InstanceConfig struct {
	MaxSeqLength         int     `yaml:"max_seq_length" json:"max_seq_length"`
	MaxPredictionsPerSeq int     `yaml:"max_predictions_per_seq" json:"max_predictions_per_seq"`
	MaskedLMProb         float64 `yaml:"masked_lm_prob" json:"masked_lm_prob"`
	DupeFactor           int     `yaml:"dupe_factor" json:"dupe_factor"`
	ShortSeqProb         float64 `yaml:"short_seq_prob" json:"short_seq_prob"`
	WholeWordMask        bool    `yaml:"do_whole_word_mask" json:"do_whole_word_mask"`
	// Masking is "static" (masked here, as BERT) or "none" (unmasked pairs,
	// masked dynamically by the loader, as RoBERTa and NVIDIA LDDL).
	Masking string `yaml:"masking" json:"masking"`
}

// DefaultInstanceConfig returns BERT's defaults.
func DefaultInstanceConfig() InstanceConfig {
	return InstanceConfig{
		MaxSeqLength: 128, MaxPredictionsPerSeq: 20, MaskedLMProb: 0.15,
		DupeFactor: 10, ShortSeqProb: 0.1, Masking: "static",
	}
}

// Validate reports every bad field, each prefixed with path.
func (c InstanceConfig) Validate(path string) error {
	f := transforms.Fields{Path: path}
	if c.MaxSeqLength < 5 || c.MaxSeqLength > 8192 {
		f.Addf("max_seq_length", "must be in [5, 8192] (got %d)", c.MaxSeqLength)
	}
	if c.MaxPredictionsPerSeq < 1 {
		f.Addf("max_predictions_per_seq", "must be >= 1 (got %d)", c.MaxPredictionsPerSeq)
	}
	if !(c.MaskedLMProb > 0 && c.MaskedLMProb < 1) {
		f.Addf("masked_lm_prob", "must be in (0, 1) (got %v)", c.MaskedLMProb)
	}
	if c.DupeFactor < 1 || c.DupeFactor > 1000 {
		f.Addf("dupe_factor", "must be in [1, 1000] (got %d)", c.DupeFactor)
	}
	if !(c.ShortSeqProb >= 0 && c.ShortSeqProb <= 1) {
		f.Addf("short_seq_prob", "must be in [0, 1] (got %v)", c.ShortSeqProb)
	}
	if c.Masking != "static" && c.Masking != "none" {
		f.Addf("masking", "must be static or none (got %q)", c.Masking)
	}
	return f.Err()
}

// Document is a tokenized document: the token ids of each sentence.
type Document struct {
	ID        string
	Sentences [][]int32
}

// Instance is one BERT pretraining example.
type Instance struct {
	DocA, DocB                 string
	InputIDs, SegmentIDs       []int32
	MaskedPositions, MaskedIDs []int32 // ascending positions; the original ids
	IsRandomNext               bool
	// Replacements counts the masked positions that got [MASK], a random
	// token, and their own token back.
	Replacements [3]int
}

// CreateInstances makes the instances of one document for one duplicate pass,
// with the algorithm of create_instances_from_document in google-research/
// bert's create_pretraining_data.py. Random-next B sentences come from
// others — the other documents of the document's group, never the document
// itself — which fixes the reference's defect of labelling a same-document B
// as random. rng must be seeded per (seed, task, document, dupe). With no
// others, every chunk takes its actual next sentences and one-sentence chunks
// are skipped.
func CreateInstances(doc Document, others []Document, cfg InstanceConfig, v *Vocab, rng *rand.Rand) []Instance {
	sp := v.sp
	maxNum := cfg.MaxSeqLength - 3
	target := maxNum
	if rng.Float64() < cfg.ShortSeqProb {
		target = randInt(rng, 2, maxNum)
	}
	var out []Instance
	var chunk [][]int32
	// a and b are scratch: each instance copies them into one allocation
	// (input ids and segment ids), so they are reused across chunks.
	var abuf, bbuf []int32
	length := 0
	for i := 0; i < len(doc.Sentences); i++ {
		chunk = append(chunk, doc.Sentences[i])
		length += len(doc.Sentences[i])
		if i != len(doc.Sentences)-1 && length < target {
			continue
		}
		aEnd := 1
		if len(chunk) >= 2 {
			aEnd = randInt(rng, 1, len(chunk)-1)
		}
		a, b := abuf[:0], bbuf[:0]
		for _, s := range chunk[:aEnd] {
			a = append(a, s...)
		}
		random := false
		docB := doc.ID
		if len(chunk) == 1 || rng.Float64() < 0.5 {
			if len(others) > 0 {
				random = true
				targetB := target - len(a)
				other := others[rng.IntN(len(others))]
				docB = other.ID
				if len(other.Sentences) == 0 {
					// Never drawn by the pipeline, which drops empty documents;
					// a caller's empty document gives no B.
					chunk, length = chunk[:0], 0
					continue
				}
				for j := rng.IntN(len(other.Sentences)); j < len(other.Sentences); j++ {
					b = append(b, other.Sentences[j]...)
					if len(b) >= targetB {
						break
					}
				}
				// The chunk's unused sentences start the next chunk.
				i -= len(chunk) - aEnd
			}
		}
		if !random {
			for _, s := range chunk[aEnd:] {
				b = append(b, s...)
			}
		}
		chunk, length = chunk[:0], 0
		abuf, bbuf = a, b
		if len(a) == 0 || len(b) == 0 {
			continue // a one-sentence chunk with no other document to pair it with
		}
		a, b = truncatePair(a, b, maxNum, rng)
		in := Instance{DocA: doc.ID, DocB: docB, IsRandomNext: random}
		in.InputIDs, in.SegmentIDs = pairIDs(sp, a, b)
		if cfg.Masking == "static" {
			maskTokens(&in, cfg, v, rng)
		}
		out = append(out, in)
	}
	return out
}

// pairIDs lays out [CLS] a [SEP] b [SEP] and its segment ids (0 through the
// first [SEP], 1 after), in one allocation.
func pairIDs(sp specials, a, b []int32) (ids, segments []int32) {
	n := len(a) + len(b) + 3
	buf := make([]int32, 2*n)
	ids = append(append(append(append(append(buf[:0:n], sp.cls), a...), sp.sep), b...), sp.sep)
	segments = buf[n:]
	for k := len(a) + 2; k < len(segments); k++ {
		segments[k] = 1
	}
	return ids, segments
}

// randInt is Python's random.randint(lo, hi): both ends included.
func randInt(rng *rand.Rand, lo, hi int) int { return lo + rng.IntN(hi-lo+1) }

// truncatePair trims the longer of a and b (b when equal) by one token from
// a random end until both fit in maxNum tokens, as BERT's truncate_seq_pair.
func truncatePair(a, b []int32, maxNum int, rng *rand.Rand) ([]int32, []int32) {
	for len(a)+len(b) > maxNum {
		longer := &b
		if len(a) > len(b) {
			longer = &a
		}
		if rng.Float64() < 0.5 {
			*longer = (*longer)[1:]
		} else {
			*longer = (*longer)[:len(*longer)-1]
		}
	}
	return a, b
}

// maskTokens masks an instance's tokens in place (see Vocab.MaskTokens).
func maskTokens(in *Instance, cfg InstanceConfig, v *Vocab, rng *rand.Rand) {
	in.MaskedPositions, in.MaskedIDs, in.Replacements = v.MaskTokens(in.InputIDs, cfg.MaskedLMProb, cfg.MaxPredictionsPerSeq, cfg.WholeWordMask, rng)
}

// MaskTokens is create_masked_lm_predictions, applied to ids in place:
// candidates are every position but [CLS] and [SEP] (with whole-word
// masking a ## piece joins the previous candidate), shuffled;
// num_to_predict = min(maxPred, max(1, round(len × prob))) with Python's
// round-half-to-even; a group that would overshoot is skipped; each chosen
// position becomes [MASK] with probability 0.8, else keeps its token with
// 0.5, else a random token. Unlike the reference, the random token is drawn
// from real word pieces only (never [PAD], [unusedN] or the special tokens).
// It returns the masked positions in ascending order, their original ids,
// and how many got [MASK], a random token and their own token back. Every
// id must be in the vocabulary. The pipeline (masking: static) and the
// trainer's loader (masking: none, a new mask each epoch) both use it.
func (v *Vocab) MaskTokens(ids []int32, prob float64, maxPred int, wholeWord bool, rng *rand.Rand) (positions, originals []int32, replacements [3]int) {
	sp := v.sp
	// A candidate is a whole word: pos[a:b]. As in the reference, a "##"
	// piece joins the last candidate (even across a [SEP]). Spans into one
	// slice instead of a slice per word keep this garbage-free.
	sc := maskScratchPool.Get().(*maskScratch)
	defer maskScratchPool.Put(sc)
	pos := sc.pos[:0]
	cands := sc.cands[:0]
	for i, id := range ids {
		if id == sp.cls || id == sp.sep {
			continue
		}
		pos = append(pos, int32(i))
		if wholeWord && len(cands) > 0 && strings.HasPrefix(v.Token(id), "##") {
			cands[len(cands)-1][1]++
			continue
		}
		n := int32(len(pos))
		cands = append(cands, [2]int32{n - 1, n})
	}
	sc.pos, sc.cands = pos, cands
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	numToPredict := min(maxPred, max(1, int(math.RoundToEven(float64(len(ids))*prob))))
	// Positions are chosen in shuffled order, each at most once; they are
	// sorted (with their original ids) at the end. One allocation holds both.
	n := 0
	for _, set := range cands {
		if n >= numToPredict {
			break
		}
		if n+int(set[1]-set[0]) > numToPredict {
			continue
		}
		for _, i := range pos[set[0]:set[1]] {
			if positions == nil {
				buf := make([]int32, 2*numToPredict)
				positions, originals = buf[:0:numToPredict], buf[numToPredict:numToPredict]
			}
			positions = append(positions, i)
			originals = append(originals, ids[i])
			n++
			switch {
			case rng.Float64() < 0.8:
				ids[i] = sp.mask
				replacements[0]++
			case rng.Float64() < 0.5:
				replacements[2]++
			default:
				ids[i] = sp.pieces[rng.IntN(len(sp.pieces))]
				replacements[1]++
			}
		}
	}
	// Insertion sort: at most max_predictions_per_seq entries.
	for k := 1; k < len(positions); k++ {
		p, o := positions[k], originals[k]
		j := k - 1
		for ; j >= 0 && positions[j] > p; j-- {
			positions[j+1], originals[j+1] = positions[j], originals[j]
		}
		positions[j+1], originals[j+1] = p, o
	}
	return positions, originals, replacements
}

// maskScratch is MaskTokens' per-call working memory, pooled: a Vocab is
// shared by concurrent callers.
type maskScratch struct {
	pos   []int32
	cands [][2]int32 // a whole word: pos[c[0]:c[1]]
}

var maskScratchPool = sync.Pool{New: func() any { return new(maskScratch) }}

type specials struct {
	cls, sep, mask int32
	pieces         []int32 // real word pieces, the random-replacement pool
}

func specialsOf(v *Vocab) specials {
	var s specials
	s.cls, _ = v.ID(CLS)
	s.sep, _ = v.ID(SEP)
	s.mask, _ = v.ID(MASK)
	for id, tok := range v.tokens {
		if !IsSpecial(tok) {
			s.pieces = append(s.pieces, int32(id))
		}
	}
	return s
}

// IsSpecial reports whether tok is a bracketed special or unused entry
// ([PAD], [CLS], [unused17] …) rather than a word piece.
func IsSpecial(tok string) bool {
	return len(tok) > 2 && tok[0] == '[' && tok[len(tok)-1] == ']'
}

// CheckVocab verifies that v has the tokens instance generation and the
// trainer need: the five special tokens ([PAD] pads every batch) and at
// least one word piece.
func CheckVocab(v *Vocab) error {
	var missing []string
	for _, t := range []string{PAD, UNK, CLS, SEP, MASK} {
		if _, ok := v.ID(t); !ok {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("vocab lacks %s", strings.Join(missing, ", "))
	}
	if len(v.sp.pieces) == 0 {
		return fmt.Errorf("vocab has no word pieces, only special tokens")
	}
	return nil
}
