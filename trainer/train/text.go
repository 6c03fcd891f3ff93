package train

import (
	"context"
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/text"
)

// The BERT pretraining task trains the text model, with the vocabulary its
// shards were written with.
func init() {
	Register(Task{Name: text.TaskMLMNSP, Model: BERTModel, Vocab: true,
		Tensors: func(f Feed, b data.Batch) ([]*tensors.Tensor, []*tensors.Tensor, ConvHead, error) {
			in, lab, err := textTensors(*f.Config.BERT, f.Vocab.Size(), b)
			return in, lab, nil, err
		}})
}

// loadVocabs loads, with text.LoadVocab, the vocabulary of each dataset
// whose task has one (nil for the others), with its sha256.
func loadVocabs(ctx context.Context, ds []Dataset) ([]*text.Vocab, []string, error) {
	out, shas := make([]*text.Vocab, len(ds)), make([]string, len(ds))
	first := -1
	for i, d := range ds {
		if t, _ := Lookup(d.Task); !t.Vocab {
			continue
		}
		v, sha, err := text.LoadVocab(ctx, d.Vocab)
		if err != nil {
			return nil, nil, fmt.Errorf("train: data[%d].vocab: %w", i, err)
		}
		if first >= 0 && v.Size() != out[first].Size() {
			return nil, nil, fmt.Errorf("train: data[%d].vocab %s has %d tokens, data[%d]'s %d: the datasets share one MLM head", i, d.Vocab, v.Size(), first, out[first].Size())
		}
		if first < 0 {
			first = i
		}
		out[i], shas[i] = v, sha
	}
	return out, shas, nil
}

// checkVocab refuses data[i]'s vocabulary, of sha256 sha, unless it is the
// one its dataset was written with: the vocab_sha256 its manifest records
// (in the config's extra; a manifest without one passes). Token ids read
// with another vocabulary would train on the wrong words without an error.
func checkVocab(i int, d Dataset, sha string, m *sinks.Manifest) error {
	lc, err := m.LabelConfig()
	if err != nil {
		return fmt.Errorf("train: data[%d]: %s: %w", i, d.Dir, err)
	}
	if err := text.CheckVocabSHA(d.Vocab, sha, lc.Extra[sinks.ExtraVocabSHA256]); err != nil {
		return fmt.Errorf("train: data[%d].vocab: %w: give the vocabulary the dataset %s was written with (its text pipeline config's text.vocab)", i, err, d.Dir)
	}
	return nil
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
		return nil, nil, fmt.Errorf("a %T, not a text batch: the bert model trains on task %s", batch, text.TaskMLMNSP)
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
