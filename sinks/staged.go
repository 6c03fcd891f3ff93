package sinks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strconv"

	"github.com/google/uuid"
)

// Commit is what the commit of a run needs of each dataset (the Beam
// layer's Finalize runs it).
type Commit struct {
	Dataset
	Task       string
	Seed       int64
	ConfigHash string
	// Config is the resolved label-shaping config, as JSON.
	Config json.RawMessage
	Info   map[string]json.RawMessage
	// Rates are the shares the manifest derives from the statistics.
	Rates []Rate
}

// metadata is the key/value metadata in every shard's footer.
func (c Commit) metadata() map[string]string {
	return map[string]string{
		"pretext.task":           c.Task,
		"pretext.schema_version": SchemaVersion,
		"pretext.config_hash":    c.ConfigHash,
		"pretext.seed":           strconv.FormatInt(c.Seed, 10),
		"pretext.version":        Version,
	}
}

// StagedShard is a merged shard waiting in the staging folder.
type StagedShard struct {
	Dataset   string
	Partition int
	Staged    string
	Rows      int64
	Bytes     int64
	SHA256    string
	Stats     map[string]int64
}

// publish moves a staged shard to its final name dst. A retried commit
// (Dataflow retries a failed bundle) finds the shards an earlier attempt
// already moved: when the staged file is gone and dst holds exactly the
// staged bytes (size and sha256), the move is done. Anything else is an
// error and nothing is published.
func publish(ctx context.Context, fs FS, sh StagedShard, dst string) error {
	err := RenameFile(ctx, fs, sh.Staged, dst)
	if err == nil {
		return nil
	}
	if found, lerr := fs.List(ctx, sh.Staged); lerr != nil || len(found) > 0 {
		return err
	}
	if same, verr := holds(ctx, fs, dst, sh.Bytes, sh.SHA256); verr != nil || !same {
		return err
	}
	return nil
}

// holds reports whether name has size bytes whose sha256 is sum (hex).
func holds(ctx context.Context, fs FS, name string, size int64, sum string) (bool, error) {
	n, err := fs.Size(ctx, name)
	if err != nil || n != size {
		return false, err
	}
	r, err := fs.OpenRead(ctx, name)
	if err != nil {
		return false, err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == sum, nil
}

// MergePartition merges the sorted temporary files (inputs) of partition
// k of dataset c into one staged shard in the run's staging folder, and
// checks it holds the rows the temporary files announced. stats are the
// partition's label statistics, carried to the manifest.
func MergePartition(ctx context.Context, c Commit, k int, inputs []string, wantRows int64, stats map[string]int64) (StagedShard, error) {
	if err := c.CheckNames(); err != nil {
		return StagedShard{}, err
	}
	format, err := LookupFormat(c.Format)
	if err != nil {
		return StagedShard{}, err
	}
	fs, err := NewFS(ctx, c.Dir)
	if err != nil {
		return StagedShard{}, err
	}
	defer fs.Close()
	// One name per attempt: two attempts of one merge running at once (a
	// worker that lost its work item but still runs) never share a file.
	staged := Join(c.StagingDir(), fmt.Sprintf("%s-%05d-of-%05d.%s.staged", c.Name, k, c.NumShards, uuid.NewString()))
	out, err := fs.OpenWrite(ctx, staged)
	if err != nil {
		return StagedShard{}, fmt.Errorf("sinks: creating %s: %w", staged, err)
	}
	cw := &countingWriter{w: out, h: sha256.New()}
	rows, err := format.Merge(ctx, fs, inputs, cw, ShardOptions{RowGroupRows: c.RowGroupRows, RowGroupBytes: c.RowGroupBytes, Metadata: c.metadata(), CompressionLevel: c.CompressionLevel})
	if err != nil {
		out.Close()
		return StagedShard{}, fmt.Errorf("sinks: merging %s: %w", staged, err)
	}
	if err := out.Close(); err != nil {
		return StagedShard{}, fmt.Errorf("sinks: closing %s: %w", staged, err)
	}
	if rows != wantRows {
		return StagedShard{}, fmt.Errorf("sinks: %s: merged %d rows, temporary files announced %d", staged, rows, wantRows)
	}
	return StagedShard{Dataset: c.Name, Partition: k, Staged: staged, Rows: rows, Bytes: cw.n, SHA256: hex.EncodeToString(cw.h.Sum(nil)), Stats: stats}, nil
}

type countingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// Publish commits dataset c from its staged shards (stagedIter yields each
// partition once), once outcomes (the count of each outcome string over
// every input) add up: it writes the manifest — the commit point — and
// swaps the dataset in (commitLocal, commitObjects). It returns the
// manifest's path.
func Publish(ctx context.Context, c Commit, stagedIter func(*StagedShard) bool, outcomes map[string]int64) (string, error) {
	if err := c.CheckNames(); err != nil {
		return "", err
	}
	name := c.Name
	counts := CountsOf(outcomes)
	if err := counts.Check(); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	shards := make([]StagedShard, c.NumShards)
	seen := make([]bool, c.NumShards)
	var sh StagedShard
	for stagedIter(&sh) {
		if sh.Partition < 0 || sh.Partition >= c.NumShards || seen[sh.Partition] {
			return "", fmt.Errorf("sinks: %s: unexpected or repeated shard %d", name, sh.Partition)
		}
		seen[sh.Partition] = true
		shards[sh.Partition] = sh
	}
	for k, ok := range seen {
		if !ok {
			return "", fmt.Errorf("sinks: %s: shard %d was never staged", name, k)
		}
	}
	fs, err := NewFS(ctx, c.Dir)
	if err != nil {
		return "", err
	}
	defer fs.Close()

	var prev *Manifest
	names := make([]string, c.NumShards)
	if IsLocal(c.Dir) {
		for k := range names {
			names[k] = path.Base(c.ShardName(k))
		}
	} else {
		// The committed manifest, if any, decides the new shards' names.
		if prev, err = ReadManifest(ctx, c.Dir); err != nil && !errors.Is(err, ErrIncomplete) {
			prev = nil // a manifest that does not parse names nothing to keep
		}
		names = objectShardNames(c, prev)
	}
	m := &Manifest{
		Task: c.Task, SchemaVersion: SchemaVersion, PretextVersion: Version,
		Seed: c.Seed, ConfigHash: c.ConfigHash, Config: c.Config,
		Inputs: counts.Inputs, Labeled: counts.Labeled, Filtered: counts.Filtered,
		DeadLetters: counts.DeadTotal(), DeadLetterReasons: counts.Dead,
		Stats: map[string]int64{}, Info: c.Info, Shards: []ShardEntry{},
	}
	for k, sh := range shards {
		m.Rows += sh.Rows
		for s, n := range sh.Stats {
			m.Stats[s] += n
		}
		m.Shards = append(m.Shards, ShardEntry{Path: names[k], Rows: sh.Rows, Bytes: sh.Bytes, SHA256: sh.SHA256})
	}
	m.Rates = ratesOf(m.Stats, c.Rates)
	data, err := m.encode()
	if err != nil {
		return "", err
	}
	if IsLocal(c.Dir) {
		err = commitLocal(ctx, fs, c, shards, names, data)
	} else {
		err = commitObjects(ctx, fs, c, shards, names, prev, data)
	}
	if err != nil {
		return "", err
	}
	return c.ManifestPath(), nil
}
