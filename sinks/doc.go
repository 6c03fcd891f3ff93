// Package sinks writes pretext's datasets: the row types with their parquet
// tags (defined once, read back by the trainer and the inspector), the
// per-bundle partitioned temporary files, the merge of those files into
// Parquet shards, and the manifest that commits a dataset.
//
// How a dataset is written, and why the output does not depend on bundling:
//
//  1. A DoFn that makes rows holds a Writer. The Writer splits rows by
//     hash(key) mod num_shards into in-memory partitions and, at the end of a
//     bundle or when a partition reaches its size limit, sorts the partition by
//     (key, variant) and writes it as a temporary file in the dataset's staging
//     folder OUT/.pretext/runs/<run>/<dataset>.staging/. Only a TempFile record (the file's
//     name, partition and row count) travels through Beam.
//  2. Finalize groups the TempFile records by partition, k-way merges each
//     partition's sorted temporary files into one staged shard (streaming,
//     bounded memory), then, once every partition of a dataset is staged,
//     commits (commit.go): locally it builds the new dataset folder — shards
//     under their final names <dataset>-0000k-of-0000N.parquet, then
//     _manifest.json — and swaps it with OUT/<dataset> in one atomic rename;
//     on object stores it publishes the shards beside the old ones and
//     replaces the manifest last. The manifest is the commit point: a folder
//     without one is incomplete and pretext's readers refuse it. One run
//     writes a folder at a time (lease.go).
//
// Bundle boundaries, worker counts and runners change nothing in the output:
// a row's shard depends on its key and its position on (key, variant).
// Temporary files of failed or duplicated bundle attempts are never named in
// a committed TempFile record, so they are never merged, and the commit
// deletes them with the staging folder.
package sinks
