package text

import (
	"context"
	"strconv"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/seeding"
)

// TaskMLMNSP is the name of BERT's masked-LM + next-sentence task.
const TaskMLMNSP = "mlm_nsp"

// The BERT pretraining task registers itself: the text pipeline calls its
// Labeler for every document.
func init() {
	transforms.Register(transforms.Task{
		Name: TaskMLMNSP, Modality: "text",
		Doc:       "BERT masked-LM + next-sentence pairs: [CLS] A [SEP] B [SEP], masked positions and ids (create_pretraining_data.py)",
		NewConfig: func() transforms.Config { c := DefaultInstanceConfig(); return &c },
		Format:    sinks.FormatOf[sinks.MLMRow](),
		Impl:      mlmNSP{},
		// The effective mask rate, the [MASK]/random/kept split and the
		// random-next share, from the counts each instance adds.
		Rates: []sinks.Rate{
			{Name: "mask_rate", Num: "masked", Den: "tokens"},
			{Name: "mask_token_share", Num: "replaced_mask", Den: "masked"},
			{Name: "random_token_share", Num: "replaced_random", Den: "masked"},
			{Name: "kept_token_share", Num: "replaced_kept", Den: "masked"},
			{Name: "random_next_share", Num: "random_next", Den: "instances"},
		},
	})
}

// mlmNSP makes a document's BERT instances: dupe_factor passes of
// CreateInstances, each with its own rng seeded by (seed, task, document,
// dupe), drawing random-next sentences from the document's group. Row i of
// a pass is keyed <document>#i (%04d) with the pass as its variant.
type mlmNSP struct{}

func (mlmNSP) Label(ctx context.Context, doc Document, others []Document, env Env, out RowWriter) (int, string, error) {
	if len(others) == 0 {
		// The whole corpus is this document: BERT's random-next pairs need
		// another document.
		return 0, "single_document_corpus", nil
	}
	cfg := env.Config.(*InstanceConfig)
	n := 0
	for dupe := 0; dupe < cfg.DupeFactor; dupe++ {
		rng := seeding.New(env.Seed, env.Task, doc.ID, dupe)
		for i, in := range CreateInstances(doc, others, *cfg, env.Vocab, rng) {
			row := sinks.MLMRow{
				Key: rowKey(doc.ID, i), DocIDA: in.DocA, DocIDB: in.DocB, Dupe: int32(dupe),
				InputIDs: in.InputIDs, SegmentIDs: in.SegmentIDs,
				MaskedLMPositions: in.MaskedPositions, MaskedLMIDs: in.MaskedIDs,
				IsRandomNext: in.IsRandomNext, NumTokens: int32(len(in.InputIDs)),
			}
			// Payload plus the Go slice and string headers a row carries.
			if err := out.Add(ctx, row.Key, row, row.RowBytes()+256); err != nil {
				return n, "", err
			}
			countInstance(out, in)
			n++
		}
	}
	if n == 0 {
		return 0, "no_instances", nil
	}
	return n, "", nil
}

// countInstance adds an instance's label statistics: the manifest derives the
// effective mask rate, the [MASK]/random/kept split and the random-next share
// from them.
func countInstance(w RowWriter, in Instance) {
	w.Count("instances", 1)
	w.Count("tokens", int64(len(in.InputIDs)))
	w.Count("masked", int64(len(in.MaskedPositions)))
	w.Count("replaced_mask", int64(in.Replacements[0]))
	w.Count("replaced_random", int64(in.Replacements[1]))
	w.Count("replaced_kept", int64(in.Replacements[2]))
	if in.IsRandomNext {
		w.Count("random_next", 1)
	}
	w.Count(lengthKey(len(in.InputIDs)), 1)
}

// rowKey is fmt.Sprintf("%s#%04d", docKey, i) without fmt.
func rowKey(docKey string, i int) string {
	b := make([]byte, 0, len(docKey)+6)
	b = append(b, docKey...)
	b = append(b, '#')
	return string(appendPadded(b, i, 4))
}

// lengthKeys caches lengthKey's strings for the usual sequence lengths.
var lengthKeys = func() (keys [8192/16 + 1]string) {
	for i := range keys {
		keys[i] = string(appendPadded([]byte("length_"), i*16, 3))
	}
	return keys
}()

// lengthKey is fmt.Sprintf("length_%03d", (n/16)*16).
func lengthKey(n int) string {
	if n >= 0 && n/16 < len(lengthKeys) {
		return lengthKeys[n/16]
	}
	return string(appendPadded([]byte("length_"), (n/16)*16, 3))
}

// appendPadded appends n >= 0 in decimal, zero-padded to width digits (%0*d).
func appendPadded(b []byte, n, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(n), 10)
	for k := len(s); k < width; k++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
