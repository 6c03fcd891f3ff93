package text

import (
	"context"
	"errors"
	"math/rand/v2"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/seeding"
)

// TaskSOP is the name of ALBERT's sentence-order prediction task.
const TaskSOP = "sop"

// Sentence-order prediction (Lan et al., "ALBERT", ICLR 2020): segments A
// and B are the two parts of one chunk of consecutive sentences of one
// document — mlm_nsp's actual-next split — in their order (label 0) or
// swapped (label 1). Unlike next-sentence prediction, both segments always
// come from the same document, so topic gives the answer away no more than
// order does. Masking is mlm_nsp's.
func init() {
	transforms.Register(transforms.Task{
		Name: TaskSOP, Modality: "text",
		Doc:       "ALBERT sentence-order pairs: [CLS] A [SEP] B [SEP] from one chunk of a document, in order or swapped (is_swapped), masked as mlm_nsp (Lan et al. 2020)",
		NewConfig: func() transforms.Config { c := DefaultSOPConfig(); return &c },
		Format:    sinks.FormatOf[SOPRow](),
		Impl:      sop{},
		Rates: []sinks.Rate{
			{Name: "mask_rate", Num: "masked", Den: "tokens"},
			{Name: "mask_token_share", Num: "replaced_mask", Den: "masked"},
			{Name: "random_token_share", Num: "replaced_random", Den: "masked"},
			{Name: "kept_token_share", Num: "replaced_kept", Den: "masked"},
			{Name: "swap_share", Num: "swapped", Den: "instances"},
		},
	})
}

// SOPConfig configures sop: mlm_nsp's instance and masking parameters and
// the share of swapped pairs.
type SOPConfig struct {
	InstanceConfig `yaml:",inline"`
	// SwapShare is the probability that a pair is swapped (label 1).
	SwapShare float64 `yaml:"swap_share" json:"swap_share"`
}

// DefaultSOPConfig returns mlm_nsp's defaults and half the pairs swapped,
// as ALBERT.
func DefaultSOPConfig() SOPConfig {
	return SOPConfig{InstanceConfig: DefaultInstanceConfig(), SwapShare: 0.5}
}

// Validate implements transforms.Config.
func (c SOPConfig) Validate(path string) error {
	f := transforms.Fields{Path: path}
	f.Add(c.InstanceConfig.Validate(path))
	f.Within("swap_share", c.SwapShare, 0, 1)
	return f.Err()
}

// SOPRow is one sentence-order instance: mlm_nsp's columns with is_swapped
// in place of is_random_next, and where each segment starts in its
// document (the index of its first sentence; a swapped pair has
// a_start > b_start). doc_id_a always equals doc_id_b.
type SOPRow struct {
	Key               string  `parquet:"key"`
	DocIDA            string  `parquet:"doc_id_a"`
	DocIDB            string  `parquet:"doc_id_b"`
	Dupe              int32   `parquet:"dupe"`
	InputIDs          []int32 `parquet:"input_ids,list"`
	SegmentIDs        []int32 `parquet:"segment_ids,list"`
	MaskedLMPositions []int32 `parquet:"masked_lm_positions,list"`
	MaskedLMIDs       []int32 `parquet:"masked_lm_ids,list"`
	IsSwapped         bool    `parquet:"is_swapped"`
	AStart            int32   `parquet:"a_start"`
	BStart            int32   `parquet:"b_start"`
	NumTokens         int32   `parquet:"num_tokens"`
}

func (r SOPRow) RowKey() string    { return r.Key }
func (r SOPRow) RowVariant() int32 { return r.Dupe }

// SOPInstance is one sentence-order pair before it becomes a row.
type SOPInstance struct {
	Instance
	Swapped        bool
	AStart, BStart int
}

// CreateSOPInstances makes the sentence-order pairs of one document for one
// duplicate pass. Sentences are gathered into chunks as CreateInstances
// gathers them (a target length, shorter with short_seq_prob); a chunk of
// two or more sentences is split at a random sentence into A and B, which
// are swapped with probability swap_share, truncated to max_seq_length and
// masked as mlm_nsp. A one-sentence chunk cannot be split: it is skipped,
// and counted in skipped. rng must be seeded per (seed, task, document,
// dupe).
func CreateSOPInstances(doc Document, cfg SOPConfig, v *Vocab, rng *rand.Rand) (out []SOPInstance, skipped int) {
	sp := v.sp
	maxNum := cfg.MaxSeqLength - 3
	target := maxNum
	if rng.Float64() < cfg.ShortSeqProb {
		target = randInt(rng, 2, maxNum)
	}
	var abuf, bbuf []int32
	start, length := 0, 0
	for i := 0; i < len(doc.Sentences); i++ {
		length += len(doc.Sentences[i])
		if i != len(doc.Sentences)-1 && length < target {
			continue
		}
		chunk := doc.Sentences[start : i+1]
		chunkStart := start
		start, length = i+1, 0
		if len(chunk) < 2 {
			skipped++
			continue
		}
		aEnd := randInt(rng, 1, len(chunk)-1)
		a, b := abuf[:0], bbuf[:0]
		for _, s := range chunk[:aEnd] {
			a = append(a, s...)
		}
		for _, s := range chunk[aEnd:] {
			b = append(b, s...)
		}
		abuf, bbuf = a, b
		in := SOPInstance{AStart: chunkStart, BStart: chunkStart + aEnd}
		if rng.Float64() < cfg.SwapShare {
			a, b = b, a
			in.Swapped = true
			in.AStart, in.BStart = in.BStart, in.AStart
		}
		a, b = truncatePair(a, b, maxNum, rng)
		in.DocA, in.DocB = doc.ID, doc.ID
		in.InputIDs, in.SegmentIDs = pairIDs(sp, a, b)
		if cfg.Masking == "static" {
			maskTokens(&in.Instance, cfg.InstanceConfig, v, rng)
		}
		out = append(out, in)
	}
	return out, skipped
}

// sop makes a document's sentence-order pairs: dupe_factor passes of
// CreateSOPInstances, each with its own rng seeded by (seed, task,
// document, dupe). It needs no other document. Row i of a pass is keyed
// <document>#i (%04d) with the pass as its variant.
type sop struct{}

func (sop) Label(ctx context.Context, doc Document, _ []Document, env Env, out RowWriter) (int, string, error) {
	cfg, ok := env.Config.(*SOPConfig)
	if !ok {
		return 0, "", errors.New("sop: config is not a *SOPConfig")
	}
	n := 0
	for dupe := 0; dupe < cfg.DupeFactor; dupe++ {
		rng := seeding.New(env.Seed, env.Task, doc.ID, dupe)
		ins, skipped := CreateSOPInstances(doc, *cfg, env.Vocab, rng)
		if skipped > 0 {
			out.Count("one_sentence_chunks", int64(skipped))
		}
		for i, in := range ins {
			row := SOPRow{
				Key: rowKey(doc.ID, i), DocIDA: in.DocA, DocIDB: in.DocB, Dupe: int32(dupe),
				InputIDs: in.InputIDs, SegmentIDs: in.SegmentIDs,
				MaskedLMPositions: in.MaskedPositions, MaskedLMIDs: in.MaskedIDs,
				IsSwapped: in.Swapped, AStart: int32(in.AStart), BStart: int32(in.BStart),
				NumTokens: int32(len(in.InputIDs)),
			}
			size := 4*(len(row.InputIDs)+len(row.SegmentIDs)+len(row.MaskedLMPositions)+len(row.MaskedLMIDs)) + len(row.Key) + 2*len(row.DocIDA)
			if err := out.Add(ctx, row.Key, row, size+256); err != nil {
				return n, "", err
			}
			countInstance(out, in.Instance)
			if in.Swapped {
				out.Count("swapped", 1)
			}
			n++
		}
	}
	if n == 0 {
		return 0, "no_instances", nil
	}
	return n, "", nil
}
