package data

import (
	"slices"

	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/text"
)

// Options configure a Loader. Start from DefaultOptions; Open validates them
// and reports every bad field.
type Options struct {
	// Task is the task the trainer expects (one of Tasks). A dataset of
	// another task is refused. "" accepts any task.
	Task string
	// Split keeps the rows of one split: "train", "val", "test", or "" for
	// all. Tasks whose rows have no split column (text's BERT instances)
	// accept only "".
	Split string
	// BatchSize is the number of rows per batch (at least 1).
	BatchSize int
	// DropRemainder drops an epoch's last batch when it is short, so that
	// every batch has BatchSize rows (a compiled graph keeps one shape).
	// Otherwise the last batch of an epoch holds what is left.
	DropRemainder bool
	// ShuffleBuffer is the size in rows of the shuffle buffer. 0 turns
	// shuffling off: shards in manifest order, rows in file order. 1 shuffles
	// the order of the shards only.
	ShuffleBuffer int
	// Seed seeds the shard order, the shuffle buffer and dynamic masking.
	Seed int64
	// Epochs is the number of passes over the data; 0 means forever.
	Epochs int
	// Limit uses only the first Limit rows of the dataset (in manifest order,
	// before the split filter), the same rows every epoch; 0 means all.
	Limit int64
	// Workers is the number of goroutines that decode a batch's images;
	// 0 means GOMAXPROCS. The batches do not depend on it.
	Workers int
	// Resume restarts from a position returned by Loader.State: the batches
	// that follow are those the loader that gave the state would have given.
	// The dataset and the options that shape the order (Seed, ShuffleBuffer,
	// Limit, Split) must be the same; BatchSize may change.
	Resume *State
	// VerifyChecksums hashes each local shard when it is opened and compares
	// the SHA-256 with the manifest's (one more read of the file). Remote
	// shards are always checked: they are hashed while they are copied.
	VerifyChecksums bool
	// TempDir is where remote shards are staged, one at a time; "" means
	// os.TempDir().
	TempDir string

	// AudioFrames is the number of frames audio_mask spectrograms are
	// padded to; 0 means a whole clip's (the dataset's clip_seconds). A last
	// clip of a file is shorter; a longer one is an error.
	AudioFrames int

	// Text (mlm_nsp) options.

	// MaxSeqLen is the length token lists are padded to; 0 means the
	// dataset's max_seq_length. A longer row is an error.
	MaxSeqLen int
	// MaxPredictions is the length masked positions are padded to; 0 means
	// the dataset's max_predictions_per_seq.
	MaxPredictions int
	// Masking is "" (auto: the shards' masks when they were written with
	// masking: static, dynamic masking when they were written with
	// masking: none), "static" (the shards' masks; an error for unmasked
	// shards) or "dynamic" (a new mask per epoch, seeded by (Seed, epoch,
	// row), with BERT's 80/10/10 rule; statically masked rows are unmasked
	// first from their masked_lm_ids).
	Masking string
	// MaskedLMProb is the share of tokens dynamic masking predicts; 0 means
	// the dataset's masked_lm_prob (0.15 by default).
	MaskedLMProb float64
	// Vocab is the vocabulary the shards were written with. Dynamic masking
	// needs it: [CLS], [SEP], [MASK], the word pieces random replacements
	// are drawn from, and the "##" pieces of whole-word masking.
	Vocab *text.Vocab
}

// DefaultOptions returns batches of 32, a 1024-row shuffle buffer, one epoch,
// seed 12345 (pretext's default seed) and every other option at its zero value.
func DefaultOptions() Options {
	return Options{BatchSize: 32, ShuffleBuffer: 1024, Epochs: 1, Seed: 12345}
}

// Splits are the values Options.Split accepts.
var Splits = []string{"", "train", "val", "test"}

// Maskings are the values Options.Masking accepts.
var Maskings = []string{"", "static", "dynamic"}

// Validate reports every bad field.
func (o Options) Validate() error {
	f := transforms.Fields{}
	if o.Task != "" && readerOf(o.Task) == nil {
		f.Addf("Task", "unknown task %q (the loader reads %v)", o.Task, Tasks())
	}
	if !slices.Contains(Splits, o.Split) {
		f.Addf("Split", "must be train, val, test or empty (got %q)", o.Split)
	}
	if o.BatchSize < 1 {
		f.Addf("BatchSize", "must be >= 1 (got %d)", o.BatchSize)
	}
	if o.ShuffleBuffer < 0 || o.ShuffleBuffer > 1<<26 {
		f.Addf("ShuffleBuffer", "must be in [0, %d] (got %d)", 1<<26, o.ShuffleBuffer)
	}
	if o.Epochs < 0 {
		f.Addf("Epochs", "must be >= 0 (got %d)", o.Epochs)
	}
	if o.Limit < 0 {
		f.Addf("Limit", "must be >= 0 (got %d)", o.Limit)
	}
	if o.Workers < 0 {
		f.Addf("Workers", "must be >= 0 (got %d)", o.Workers)
	}
	if o.AudioFrames < 0 {
		f.Addf("AudioFrames", "must be >= 0 (got %d)", o.AudioFrames)
	}
	if o.MaxSeqLen < 0 {
		f.Addf("MaxSeqLen", "must be >= 0 (got %d)", o.MaxSeqLen)
	}
	if o.MaxPredictions < 0 {
		f.Addf("MaxPredictions", "must be >= 0 (got %d)", o.MaxPredictions)
	}
	if !slices.Contains(Maskings, o.Masking) {
		f.Addf("Masking", "must be static, dynamic or empty (got %q)", o.Masking)
	}
	if o.MaskedLMProb < 0 || o.MaskedLMProb > 1 {
		f.Addf("MaskedLMProb", "must be in [0, 1] (got %g)", o.MaskedLMProb)
	}
	if o.Resume != nil {
		if o.Resume.Epoch < 0 || o.Resume.Draws < 0 {
			f.Addf("Resume", "negative position (epoch %d, draws %d)", o.Resume.Epoch, o.Resume.Draws)
		}
	}
	return f.Err()
}
