package train

import (
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/transforms/text"
)

// The sop task's trainer side (ALBERT, Lan et al. 2020): its pairs are
// BERT pairs, so the loader batches them as mlm_nsp's (masks from the
// shards, or drawn per epoch with masking: none) and the network is
// BERT's, with the binary head on [CLS] predicting is_swapped — the head
// mlm_nsp trains on is_random_next — beside the masked-LM head.
func init() {
	data.Register(text.TaskSOP, data.Rows[text.SOPRow]{
		Key: func(r *text.SOPRow) string { return r.Key },
		Batcher: data.MLMBatcher(func(r *text.SOPRow) sinks.MLMRow {
			return sinks.MLMRow{Key: r.Key, DocIDA: r.DocIDA, DocIDB: r.DocIDB, Dupe: r.Dupe,
				InputIDs: r.InputIDs, SegmentIDs: r.SegmentIDs, MaskedLMPositions: r.MaskedLMPositions,
				MaskedLMIDs: r.MaskedLMIDs, IsRandomNext: r.IsSwapped, NumTokens: r.NumTokens}
		}),
	})
	Register(Task{Name: text.TaskSOP, Model: BERTModel, Vocab: true,
		Tensors: func(f Feed, b data.Batch) ([]*tensors.Tensor, []*tensors.Tensor, ConvHead, error) {
			in, lab, err := textTensors(*f.Config.BERT, f.Vocab.Size(), b)
			return in, lab, nil, err
		}})
}
