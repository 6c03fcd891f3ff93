package train

import (
	"fmt"
	"os"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/text"
)

// loadVocabs reads the vocabulary of each text dataset (nil for the others).
func loadVocabs(ds []Dataset) ([]*text.Vocab, error) {
	out := make([]*text.Vocab, len(ds))
	for i, d := range ds {
		if d.Task != TextTask {
			continue
		}
		f, err := os.Open(d.Vocab)
		if err != nil {
			return nil, fmt.Errorf("train: data[%d].vocab: %w", i, err)
		}
		v, err := text.ReadVocab(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("train: data[%d].vocab %s: %w", i, d.Vocab, err)
		}
		if i > 0 && out[0] != nil && v.Size() != out[0].Size() {
			return nil, fmt.Errorf("train: data[%d].vocab %s has %d tokens, data[0]'s %d: the datasets share one MLM head", i, d.Vocab, v.Size(), out[0].Size())
		}
		out[i] = v
	}
	return out, nil
}

// textModel is BERT's MLM + NSP pretraining model.
func textModel(b model.BERT, vocabSize int) train.ModelFn {
	return b.Pretrain(vocabSize)
}

// textTensors turns a text batch into the model's inputs (ids, segments,
// attention mask, flat masked positions) and the loss's labels (flat MLM
// targets, MLM weights, NSP labels); see model.BERT.Pretrain.
func textTensors(b model.BERT, vocabSize int, batch data.Batch) (in, lab []*tensors.Tensor, err error) {
	tb, ok := batch.(*data.TextBatch)
	if !ok {
		return nil, nil, fmt.Errorf("a %T, not a text batch: the bert model trains on task %s", batch, TextTask)
	}
	n, S, P := tb.Len(), tb.SeqLen, tb.MaxPredictions
	if S > b.MaxPositions {
		return nil, nil, fmt.Errorf("sequences of %d tokens, the model has %d positions (bert.max_positions)", S, b.MaxPositions)
	}
	for _, id := range tb.InputIDs {
		if id < 0 || int(id) >= vocabSize {
			return nil, nil, fmt.Errorf("token id %d outside the vocabulary of %d tokens: is data.vocab the one the shards were written with?", id, vocabSize)
		}
	}
	if int64(n)*int64(P)*int64(vocabSize) >= 1<<31 {
		return nil, nil, fmt.Errorf("batch %d × %d predictions × %d tokens overflows the int32 MLM target indices: use a smaller batch", n, P, vocabSize)
	}
	pos := make([]int32, n*P)
	target := make([]int32, n*P)
	nsp := make([]float32, n)
	for i := range n {
		for j := range P {
			k := i*P + j
			pos[k] = int32(i*S) + tb.MaskedPositions[k]
			id := tb.MaskedIDs[k]
			if id < 0 || int(id) >= vocabSize {
				return nil, nil, fmt.Errorf("masked id %d outside the vocabulary of %d tokens", id, vocabSize)
			}
			target[k] = int32(k*vocabSize) + id
		}
		nsp[i] = float32(tb.IsRandomNext[i])
	}
	in = []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(tb.InputIDs, n, S),
		tensors.FromFlatDataAndDimensions(tb.SegmentIDs, n, S),
		tensors.FromFlatDataAndDimensions(tb.AttentionMask, n, S),
		tensors.FromFlatDataAndDimensions(pos, n*P),
	}
	lab = []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(target, n*P),
		tensors.FromFlatDataAndDimensions(tb.MaskedWeights, n*P),
		tensors.FromFlatDataAndDimensions(nsp, n),
	}
	return in, lab, nil
}
