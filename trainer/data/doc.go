// Package data is the trainer's loader: it streams the Parquet shards of one
// pretext dataset folder (local, gs://, s3:// or memfs://, any
// filesystem) and hands training plain Go batches — float32 and int32 slices
// with their shapes — for any registered task: images (colorize, denoise,
// inpaint), text (mlm_nsp), audio (audio_mask) and audio-visual
// correspondence (av_correspond) ship with it. It has no dependency on the
// training framework.
//
// # Use
//
//	opts := data.DefaultOptions()
//	opts.Task = vision.TaskDenoise // refuse any other task's shards
//	l, err := data.Open(ctx, "out/photos/denoise", opts)
//	...
//	defer l.Close()
//	for {
//		b, err := l.Next()
//		if err == io.EOF {
//			break
//		}
//		...
//		switch b := b.(type) {
//		case *data.ImageBatch: // colorize, denoise, inpaint
//		case *data.TextBatch:  // mlm_nsp
//		case *data.AudioBatch: // audio_mask
//		case *data.AVBatch:    // av_correspond
//		}
//	}
//
// # Tasks
//
// The loader names no task. Each task registers its reader once
// (Register, keyed by the task's name as its manifest and shard footers
// carry it): its Parquet row type, a row's key and split, and a Batcher
// that turns rows into a Batch, made per dataset from the manifest's
// config and the Options. Open looks the manifest's task up there; Tasks
// lists what is registered. The shipped tasks register in image.go,
// text.go and audio.go. A new task registers from its own file in
// trainer/train, beside its head, and touches no file here: an image task
// views its rows as ImageRows and lets ImageBatcher decode them (with a
// finish step for what it has beyond images, as colorize adds its block
// targets and a classification task sets ImageBatch.Class); a task of
// another shape brings its own Batch type.
//
// A training checkpoint stores l.State() (a few numbers, JSON-serialisable);
// Options.Resume set to it makes a new loader give exactly the batches the
// interrupted one would have given next.
//
// # Order
//
// An epoch reads the dataset's shards one at a time, in an order drawn by a
// generator seeded from (Options.Seed, epoch), each from its first row to its
// last, and passes the rows through a shuffle buffer of Options.ShuffleBuffer
// rows, as tf.data's: the buffer is filled, then each draw takes a random
// slot, whose place the next row read takes. The draws come from a generator
// seeded from (seed, epoch) and depend on nothing but the number of rows, so
// an epoch's row order is a pure function of (seed, epoch, dataset) and a
// position in it is one number: the draws made so far. Resuming replays those
// draws on integers (no I/O, tens of millions a second) and then reads back
// just the rows that were in the buffer, in file order, skipping the rest.
// ShuffleBuffer 0 reads the shards in manifest order and their rows in file
// order: the order for evaluation.
//
// Options.Split keeps the rows of one split. Rows of other splits still pass
// through the buffer (as empty slots that hold no data), so the order of the
// kept rows does not depend on the filter's outcome and the position stays one
// number. Options.Limit uses only the dataset's first Limit rows in manifest
// order (before the split filter): the same subset every epoch.
//
// # Memory
//
// A loader holds: the manifest; one open shard (its footer, and one page of
// each column while it decodes); for a remote shard, one local temporary copy
// on disk (Options.TempDir), deleted when the shard is done; a read chunk of
// 32 encoded rows; the shuffle buffer, ShuffleBuffer encoded rows (compressed
// PNGs as stored, token lists; rows of other splits hold nothing); the encoded
// rows of the batch being assembled and the decoded batch returned. Nothing
// grows with the dataset. Measured on 2,000 rows of 128×128 PNG denoise
// pairs (85 KB encoded per row, 170 MB of shards), batches of 32: a live heap
// of 32 MB with a 64-row buffer, 51 MB with 256 rows, 114 MB with 1024 —
// about 20 MB plus ShuffleBuffer × the encoded row size. Batches are freshly
// allocated: the caller may keep them.
//
// # Errors
//
// A folder without _manifest.json is refused with sinks.ErrIncomplete. Open
// checks the manifest's task against Options.Task, and each shard's size and,
// for local shards, its footer (task, schema version, config hash, row count);
// a remote shard's footer and SHA-256 are checked when it is staged. A shard
// that is truncated, corrupt or of another task gives one error naming the
// file. A row that cannot be decoded (a corrupt image in a good Parquet file)
// is an error naming the shard and the row's key, never silently skipped.
// After an error, Next keeps returning it.
//
// Files are read through the dataset contract's filesystem (sinks.NewFS),
// which links no Beam: local paths always work; gs://, s3:// and memfs://
// are the program's to plug in (cmd/pretext links sinks/beamsink, which
// serves them through Beam's filesystems).
package data
