// Package inspect verifies pretext's datasets, measures their labels and
// compares them with the config that was meant to shape them: the library
// behind `pretext inspect`.
//
// For each dataset folder (a run's output folder holds one per task and
// _dead_letters) Run:
//
//  1. verifies the folder against its manifest as sinks.Verify does (shards
//     present with their rows, bytes and sha256, footer metadata, the task's
//     schema, manifest sums, no stray or staging files); a folder without a
//     manifest is incomplete. Each shard is verified as it is read for the
//     statistics, so it is read (or copied from an object store) once;
//  2. streams the rows of the shards that verified, one shard, one row group
//     and one batch of rows at a time, through the statistics its task
//     registered (registerTask, in the file of its modality; image:
//     resolutions, duplicates, colour bins, noise levels and PSNR, hole
//     shares; text: mask rate and split, random-next labels, lengths, [UNK],
//     top tokens; av: positives, negative kinds and offsets, silence,
//     spectrogram shapes; audio_mask: mask shares and values), or, for the
//     dead letters, through a stage/reason table with example keys;
//  3. turns each statistic with an intended value into a Gate: shares drawn
//     at random against the config's probability with the binomial
//     tolerance Bound (z = 4), rules that hold for every row by construction
//     (a level inside its range, no same-document random pair) as hard
//     gates, and optional Thresholds.
//
// Memory does not grow with the number of rows except for the duplicate
// check's set of 8-byte hashes (MaxDistinctTargets caps it); the maps of
// kinds, resolutions and token ids are bounded by the vocabulary and by
// fixed caps. Remote shards (gs://, s3://, memfs://) are staged one at a
// time into a temporary file, because Parquet needs random access.
//
// The caller registers the Beam filesystems it needs (cmd/pretext imports
// local, gcs and s3).
package inspect
