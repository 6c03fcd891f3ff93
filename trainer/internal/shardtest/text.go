package shardtest

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/pretext-dev/pretext/sinks"
)

// Vocab writes a WordPiece vocabulary of BERT's special tokens ([PAD] 0,
// [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4) and words word pieces w0, w1, … to
// path.
func Vocab(path string, words int) error {
	return os.WriteFile(path, vocabFile(words), 0o644)
}

func vocabFile(words int) []byte {
	toks := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	for i := range words {
		toks = append(toks, fmt.Sprintf("w%d", i))
	}
	return []byte(strings.Join(toks, "\n") + "\n")
}

// Text writes an mlm_nsp dataset into dir as the text pipeline writes it
// with masking: none: shards shards of rows unmasked BERT instances of up to
// seqLen tokens over a Vocab of words word pieces, whose sha256 the
// manifest records as vocab_sha256. Sentence A counts up by
// one word from a random start; B continues the count (is_random_next
// false) or starts elsewhere (true), so both MLM and NSP are learnable.
func Text(dir string, shards, rows, seqLen, words int, seed uint64) (*sinks.Manifest, error) {
	const task = "mlm_nsp"
	config := map[string]any{
		"task": task, "modality": "text",
		"config": map[string]any{
			"max_seq_length": seqLen, "max_predictions_per_seq": max(1, seqLen*15/100+1), "masked_lm_prob": 0.15,
			"dupe_factor": 1, "short_seq_prob": 0.1, "do_whole_word_mask": false, "masking": "none",
		},
		"extra": map[string]string{"vocab_sha256": fmt.Sprintf("%x", sha256.Sum256(vocabFile(words)))},
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	const first = 5 // the first word's id
	return Write(dir, task, seed, config, shards, rows, func(k, i int) (sinks.MLMRow, error) {
		length := seqLen/2 + rng.IntN(seqLen-seqLen/2+1)
		a := 1 + rng.IntN(length-4)
		random := rng.IntN(2) == 0
		start := rng.IntN(words)
		ids, seg := []int32{2}, []int32{0}
		for j := 0; j < length-3; j++ {
			if j == a {
				ids, seg = append(ids, 3), append(seg, 0)
				if random {
					start = rng.IntN(words) - j
				}
			}
			s := int32(0)
			if j >= a {
				s = 1
			}
			ids, seg = append(ids, int32(first+((start+j)%words+words)%words)), append(seg, s)
		}
		ids, seg = append(ids, 3), append(seg, 1)
		row := sinks.MLMRow{
			Key: fmt.Sprintf("doc%05d.txt@0", k*rows+i), DocIDA: "a", DocIDB: "b",
			InputIDs: ids, SegmentIDs: seg, IsRandomNext: random, NumTokens: int32(len(ids)),
		}
		return row, nil
	})
}
