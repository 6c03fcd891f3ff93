package data

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/seeding"
	"github.com/pretext-dev/pretext/transforms/text"
)

// TextBatch is a batch of BERT pretraining instances (mlm_nsp), padded as
// google-research/bert's run_pretraining.py expects its features.
type TextBatch struct {
	// Keys and Dupes identify the rows.
	Keys  []string
	Dupes []int32
	// SeqLen is the padded sequence length (Options.MaxSeqLen);
	// MaxPredictions the padded number of masked positions.
	SeqLen, MaxPredictions int
	// InputIDs is [Len, SeqLen]: [CLS] A [SEP] B [SEP] with the masked
	// positions replaced, then [PAD] (the vocab's [PAD] id; 0 without a
	// vocab, BERT's).
	InputIDs []int32
	// SegmentIDs is [Len, SeqLen]: 0 for A, 1 for B, 0 for padding.
	SegmentIDs []int32
	// AttentionMask is [Len, SeqLen]: 1 for tokens, 0 for padding.
	AttentionMask []int32
	// MaskedPositions, MaskedIDs and MaskedWeights are [Len,
	// MaxPredictions]: the masked positions (ascending), their original ids,
	// and 1 for a real prediction, 0 for padding (whose position and id are 0).
	MaskedPositions []int32
	MaskedIDs       []int32
	MaskedWeights   []float32
	// IsRandomNext is [Len]: 1 when B is a random sentence, 0 when it is A's
	// continuation (the NSP label).
	IsRandomNext []int32
	// Dynamic says the masks were drawn by the loader for this epoch.
	Dynamic bool
}

// Len is the number of rows.
func (b *TextBatch) Len() int { return len(b.Keys) }

// RowKeys are the rows' keys.
func (b *TextBatch) RowKeys() []string { return b.Keys }

// Defaults of google-research/bert, for manifests that do not say.
const (
	defaultMaxSeqLen      = 128
	defaultMaxPredictions = 20
	defaultMaskedLMProb   = 0.15
)

// The text task's reader: BERT instances padded to the dataset's lengths,
// with the shards' masks or masks drawn per epoch.
func init() {
	Register(text.TaskMLMNSP, Rows[sinks.MLMRow]{
		Key:     func(r *sinks.MLMRow) string { return r.Key },
		Batcher: textBatcher,
	})
}

func textBatcher(d Info, opts Options) (Batcher[sinks.MLMRow], error) {
	// The instances' parameters: the task's config section of the
	// manifest (zero where a manifest does not say).
	var tc text.InstanceConfig
	if err := d.DecodeSection(func(lc sinks.LabelConfig) json.RawMessage { return lc.Config }, &tc); err != nil {
		return nil, err
	}
	seqLen := firstPositive(opts.MaxSeqLen, tc.MaxSeqLength, defaultMaxSeqLen)
	maxPred := firstPositive(opts.MaxPredictions, tc.MaxPredictionsPerSeq, defaultMaxPredictions)
	dynamic := opts.Masking == "dynamic"
	switch {
	case opts.Masking == "" && tc.Masking == "none":
		dynamic = true
	case opts.Masking == "static" && tc.Masking == "none":
		return nil, fmt.Errorf("data: %s: the shards were written with masking: none and hold no masks; mask dynamically (Options.Masking \"\" or \"dynamic\", with Options.Vocab)", d.Dir)
	}
	var pad int32
	if opts.Vocab != nil {
		pad, _ = opts.Vocab.ID(text.PAD)
	}
	var m *masker
	if dynamic {
		if opts.Vocab == nil {
			return nil, fmt.Errorf("data: %s: dynamic masking (the shards were written with masking: %q, Options.Masking %q) needs Options.Vocab: the vocabulary the shards were tokenized with", d.Dir, tc.Masking, opts.Masking)
		}
		prob := opts.MaskedLMProb
		if prob == 0 {
			prob = tc.MaskedLMProb
		}
		if prob == 0 {
			prob = defaultMaskedLMProb
		}
		var err error
		if m, err = newMasker(opts.Vocab, prob, maxPred, tc.WholeWordMask, opts.Seed); err != nil {
			return nil, fmt.Errorf("data: %s: Options.Vocab: %w", d.Dir, err)
		}
	}
	t := &textBuilder{seqLen: seqLen, maxPred: maxPred, pad: pad, masker: m}
	return t.build, nil
}

func firstPositive(vs ...int) int {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
}

type textBuilder struct {
	seqLen, maxPred int
	pad             int32
	masker          *masker // nil: the rows' own masks
}

func (t *textBuilder) build(rows []sinks.MLMRow, epoch int) (Batch, error) {
	n, S, P := len(rows), t.seqLen, t.maxPred
	b := &TextBatch{
		Keys: make([]string, n), Dupes: make([]int32, n),
		SeqLen: S, MaxPredictions: P,
		InputIDs: make([]int32, n*S), SegmentIDs: make([]int32, n*S), AttentionMask: make([]int32, n*S),
		MaskedPositions: make([]int32, n*P), MaskedIDs: make([]int32, n*P), MaskedWeights: make([]float32, n*P),
		IsRandomNext: make([]int32, n),
		Dynamic:      t.masker != nil,
	}
	for i := range rows {
		r := &rows[i]
		ids, pos, labels, err := t.masks(r, epoch)
		if err != nil {
			return nil, &RowError{i, err}
		}
		b.Keys[i], b.Dupes[i] = r.Key, r.Dupe
		in := b.InputIDs[i*S : (i+1)*S]
		copy(in, ids)
		for j := len(ids); j < S; j++ {
			in[j] = t.pad
		}
		copy(b.SegmentIDs[i*S:], r.SegmentIDs)
		for j := range ids {
			b.AttentionMask[i*S+j] = 1
		}
		copy(b.MaskedPositions[i*P:], pos)
		copy(b.MaskedIDs[i*P:], labels)
		for j := range pos {
			b.MaskedWeights[i*P+j] = 1
		}
		if r.IsRandomNext {
			b.IsRandomNext[i] = 1
		}
	}
	return b, nil
}

// masks returns a row's (masked) input ids, masked positions and their
// original ids, after checking that they fit the padded shapes.
func (t *textBuilder) masks(r *sinks.MLMRow, epoch int) (ids, pos, labels []int32, err error) {
	ids, pos, labels = r.InputIDs, r.MaskedLMPositions, r.MaskedLMIDs
	switch {
	case len(ids) > t.seqLen:
		return nil, nil, nil, fmt.Errorf("%d tokens, more than MaxSeqLen %d", len(ids), t.seqLen)
	case len(r.SegmentIDs) != len(ids):
		return nil, nil, nil, fmt.Errorf("%d segment ids for %d tokens", len(r.SegmentIDs), len(ids))
	case len(pos) != len(labels):
		return nil, nil, nil, fmt.Errorf("%d masked positions but %d masked ids", len(pos), len(labels))
	}
	for _, p := range pos {
		if p < 0 || int(p) >= len(ids) {
			return nil, nil, nil, fmt.Errorf("masked position %d outside its %d tokens", p, len(ids))
		}
	}
	if t.masker != nil {
		// Unmask a statically masked row, then draw this epoch's mask.
		orig := slices.Clone(ids)
		for k, p := range pos {
			orig[p] = labels[k]
		}
		rng := seeding.New(t.masker.seed, seedDomain+"/mask", r.Key+"\x00"+strconv.Itoa(int(r.Dupe)), epoch)
		if ids, pos, labels, err = t.masker.apply(orig, rng); err != nil {
			return nil, nil, nil, err
		}
	}
	if len(pos) > t.maxPred {
		return nil, nil, nil, fmt.Errorf("%d masked positions, more than MaxPredictions %d", len(pos), t.maxPred)
	}
	return ids, pos, labels, nil
}

// masker draws a new BERT mask per epoch with text.Vocab.MaskTokens, the
// algorithm transforms/text uses for masking: static.
type masker struct {
	vocab     *text.Vocab
	prob      float64
	maxPred   int
	wholeWord bool
	seed      int64
}

func newMasker(v *text.Vocab, prob float64, maxPred int, wholeWord bool, seed int64) (*masker, error) {
	if err := text.CheckVocab(v); err != nil {
		return nil, err
	}
	return &masker{vocab: v, prob: prob, maxPred: maxPred, wholeWord: wholeWord, seed: seed}, nil
}

// apply masks a copy of ids (unmasked) and returns it, the masked positions
// in ascending order and their original ids.
func (m *masker) apply(ids []int32, rng *rand.Rand) (out, pos, labels []int32, err error) {
	for _, id := range ids {
		if id < 0 || int(id) >= m.vocab.Size() {
			return nil, nil, nil, fmt.Errorf("token id %d outside the vocabulary of %d tokens: is Options.Vocab the one the shards were written with?", id, m.vocab.Size())
		}
	}
	out = slices.Clone(ids)
	pos, labels, _ = m.vocab.MaskTokens(out, m.prob, m.maxPred, m.wholeWord, rng)
	return out, pos, labels, nil
}

// MLMBatcher is the Rows.Batcher of a task whose rows are BERT pairs in
// mlm_nsp's layout, with its config's instance keys: view gives a row as an
// MLMRow whose IsRandomNext is the pair's binary label (sop: is_swapped).
// Its batches are mlm_nsp's TextBatch, masking included.
func MLMBatcher[R any](view func(*R) sinks.MLMRow) func(Info, Options) (Batcher[R], error) {
	return func(d Info, opts Options) (Batcher[R], error) {
		b, err := textBatcher(d, opts)
		if err != nil {
			return nil, err
		}
		return func(rows []R, epoch int) (Batch, error) {
			pairs := make([]sinks.MLMRow, len(rows))
			for i := range rows {
				pairs[i] = view(&rows[i])
			}
			return b(pairs, epoch)
		}, nil
	}
}
