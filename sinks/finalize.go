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
	"sort"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/google/uuid"
)

func init() {
	register.Function1x2[TempFile, string, TempFile](keyTempFile)
	register.Function1x2[string, string, int](presentKey)
	register.DoFn5x1[context.Context, string, func(*int) bool, func(*TempFile) bool, func(string, StagedShard), error](&mergeFn{})
	register.DoFn5x2[context.Context, string, func(*int) bool, func(*StagedShard) bool, func(*Tally) bool, string, error](&commitFn{})
	register.DoFn2x0[Tally, func(string, Tally)](&tallyPerDatasetFn{})
	register.Combiner2[Tally, string](&tallyFn{})
	register.Iter1[int]()
	register.Iter1[TempFile]()
	register.Iter1[StagedShard]()
	register.Iter1[Tally]()
	register.Emitter2[string, Tally]()
	register.Emitter2[string, StagedShard]()
	beam.RegisterType(typeOf[TempFile]())
	beam.RegisterType(typeOf[StagedShard]())
	beam.RegisterType(typeOf[Tally]())
}

// Commit is what Finalize needs to commit each dataset of a run.
type Commit struct {
	Dataset
	Task       string
	Seed       int64
	ConfigHash string
	// Config is the resolved label-shaping config, as JSON.
	Config json.RawMessage
	Info   map[string]int64
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

// Tally counts outcome strings.
type Tally struct{ Counts map[string]int64 }

// Finalize merges and commits the datasets of a run.
//
// temps is PCollection<TempFile> from every Writer of the run; outcomes is
// PCollection<string> holding one OutcomeInput and one final outcome per
// input. It returns PCollection<string> of the manifests written. Every
// dataset in commits gets its num_shards shards and a manifest, even if no row
// reached it.
func Finalize(s beam.Scope, commits []Commit, temps, outcomes beam.PCollection) beam.PCollection {
	s = s.Scope("sinks.Finalize")
	var partKeys, names []string
	for _, c := range commits {
		names = append(names, c.Name)
		for k := 0; k < c.NumShards; k++ {
			partKeys = append(partKeys, partitionKey(c.Name, k))
		}
	}
	parts := beam.ParDo(s, presentKey, beam.CreateList(s, partKeys))
	keyed := beam.ParDo(s, keyTempFile, temps)
	staged := beam.ParDo(s, &mergeFn{Commits: commits}, beam.CoGroupByKey(s, parts, keyed))

	// The tally joins the commit as a third grouped input, keyed by
	// dataset, not as a side input: prism keeps rescheduling a stage that
	// reads a side input while its bundle runs, a busy loop that took a
	// fifth of the CPU of a short run at GOMAXPROCS=1.
	tally := beam.ParDo(s, &tallyPerDatasetFn{Names: names}, beam.Combine(s, &tallyFn{}, outcomes))
	datasets := beam.ParDo(s, presentKey, beam.CreateList(s, names))
	return beam.ParDo(s, &commitFn{Commits: commits}, beam.CoGroupByKey(s, datasets, staged, tally))
}

// tallyPerDatasetFn keys the run's one tally by each dataset name.
type tallyPerDatasetFn struct {
	Names []string
}

func (f *tallyPerDatasetFn) ProcessElement(t Tally, emit func(string, Tally)) {
	for _, n := range f.Names {
		emit(n, t)
	}
}

func partitionKey(dataset string, k int) string { return fmt.Sprintf("%s/%05d", dataset, k) }

func keyTempFile(t TempFile) (string, TempFile) { return partitionKey(t.Dataset, t.Partition), t }

func presentKey(k string) (string, int) { return k, 1 }

func findCommit(commits []Commit, name string) (Commit, error) {
	for _, c := range commits {
		if c.Name == name {
			return c, c.CheckNames()
		}
	}
	return Commit{}, fmt.Errorf("sinks: dataset %q is not part of this run", name)
}

// mergeFn merges one partition's temporary files into a staged shard. The
// merges of a bundle run on a Pool (prism hands every partition of a run to
// one bundle).
type mergeFn struct {
	Commits []Commit

	pool *Pool[mergeJob, merged]
}

// mergeJob is one partition to merge.
type mergeJob struct {
	Commit
	Key       string
	Partition int
	Inputs    []string
	Rows      int64 // the rows the temporary files announce
	Stats     map[string]int64
}

type merged struct {
	shard StagedShard
	err   error
}

func (f *mergeFn) StartBundle(ctx context.Context, _ func(string, StagedShard)) {
	f.pool = NewPool(ctx, PoolSize(), mergePartition, func(j mergeJob, err error) merged {
		return merged{err: fmt.Errorf("sinks: merging %s: %w", j.Key, err)}
	})
}

func (f *mergeFn) ProcessElement(ctx context.Context, key string, _ func(*int) bool, temps func(*TempFile) bool, emit func(string, StagedShard)) error {
	job, err := f.job(key, temps)
	if err != nil {
		return err
	}
	// A merge holds up to MaxFanIn open temporary files and a row group; a
	// runner may run every shard's merge of a worker at once, so each holds a
	// work slot (the pool's).
	return f.pool.Submit(job, emitMerged(emit))
}

func (f *mergeFn) FinishBundle(ctx context.Context, emit func(string, StagedShard)) error {
	return f.pool.Close(emitMerged(emit))
}

func emitMerged(emit func(string, StagedShard)) func(merged) error {
	return func(m merged) error {
		if m.err != nil {
			return m.err
		}
		emit(m.shard.Dataset, m.shard)
		return nil
	}
}

// job reads the element: the partition key and its temporary files (Beam's
// iterator is valid only during ProcessElement).
func (f *mergeFn) job(key string, temps func(*TempFile) bool) (mergeJob, error) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return mergeJob{}, fmt.Errorf("sinks: bad partition key %q", key)
	}
	name := key[:i]
	k, err := strconv.Atoi(key[i+1:])
	if err != nil {
		return mergeJob{}, fmt.Errorf("sinks: bad partition key %q", key)
	}
	c, err := findCommit(f.Commits, name)
	if err != nil {
		return mergeJob{}, err
	}
	job := mergeJob{Commit: c, Key: key, Partition: k, Stats: map[string]int64{}}
	var t TempFile
	for temps(&t) {
		job.Inputs = append(job.Inputs, t.Path)
		job.Rows += t.Rows
		for s, n := range t.Stats {
			job.Stats[s] += n
		}
	}
	sort.Strings(job.Inputs)
	return job, nil
}

// mergePartition merges one partition's temporary files into its staged
// shard.
func mergePartition(ctx context.Context, j mergeJob) merged {
	c := j.Commit
	format, err := LookupFormat(c.Format)
	if err != nil {
		return merged{err: err}
	}
	fs, err := filesystem.New(ctx, c.Dir)
	if err != nil {
		return merged{err: err}
	}
	defer fs.Close()
	// One name per attempt: two attempts of one merge running at once (a
	// worker that lost its work item but still runs) never share a file.
	staged := Join(c.StagingDir(), fmt.Sprintf("%s-%05d-of-%05d.%s.staged", c.Name, j.Partition, c.NumShards, uuid.NewString()))
	out, err := fs.OpenWrite(ctx, staged)
	if err != nil {
		return merged{err: fmt.Errorf("sinks: creating %s: %w", staged, err)}
	}
	cw := &countingWriter{w: out, h: sha256.New()}
	rows, err := format.Merge(ctx, fs, j.Inputs, cw, ShardOptions{RowGroupRows: c.RowGroupRows, RowGroupBytes: c.RowGroupBytes, Metadata: c.metadata(), CompressionLevel: c.CompressionLevel})
	if err != nil {
		out.Close()
		return merged{err: fmt.Errorf("sinks: merging %s: %w", staged, err)}
	}
	if err := out.Close(); err != nil {
		return merged{err: fmt.Errorf("sinks: closing %s: %w", staged, err)}
	}
	if rows != j.Rows {
		return merged{err: fmt.Errorf("sinks: %s: merged %d rows, temporary files announced %d", staged, rows, j.Rows)}
	}
	return merged{shard: StagedShard{Dataset: c.Name, Partition: j.Partition, Staged: staged, Rows: rows, Bytes: cw.n, SHA256: hex.EncodeToString(cw.h.Sum(nil)), Stats: j.Stats}}
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

// commitFn publishes one dataset once all its shards are staged.
type commitFn struct {
	Commits []Commit
}

func (f *commitFn) ProcessElement(ctx context.Context, name string, _ func(*int) bool, stagedIter func(*StagedShard) bool, tallies func(*Tally) bool) (string, error) {
	var tally, t Tally
	n := 0
	for tallies(&t) {
		tally, n = t, n+1
	}
	if n != 1 {
		return "", fmt.Errorf("sinks: %s: %d tallies of outcomes, want 1", name, n)
	}
	return f.commit(ctx, name, stagedIter, tally)
}

// commit publishes dataset name from its staged shards, once tally (the
// outcome of every input) adds up.
func (f *commitFn) commit(ctx context.Context, name string, stagedIter func(*StagedShard) bool, tally Tally) (string, error) {
	c, err := findCommit(f.Commits, name)
	if err != nil {
		return "", err
	}
	counts := CountsOf(tally.Counts)
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
	fs, err := filesystem.New(ctx, c.Dir)
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
	m.Rates = ratesOf(m.Stats)
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

// publish moves a staged shard to its final name dst. A retried commit
// (Dataflow retries a failed bundle) finds the shards an earlier attempt
// already moved: when the staged file is gone and dst holds exactly the
// staged bytes (size and sha256), the move is done. Anything else is an
// error and nothing is published.
func publish(ctx context.Context, fs filesystem.Interface, sh StagedShard, dst string) error {
	err := filesystem.Rename(ctx, fs, sh.Staged, dst)
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
func holds(ctx context.Context, fs filesystem.Interface, name string, size int64, sum string) (bool, error) {
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

// tallyFn counts outcome strings.
type tallyFn struct{}

func (tallyFn) CreateAccumulator() Tally { return Tally{Counts: map[string]int64{}} }

func (tallyFn) AddInput(t Tally, outcome string) Tally {
	t.Counts[outcome]++
	return t
}

func (tallyFn) MergeAccumulators(a, b Tally) Tally {
	for k, v := range b.Counts {
		a.Counts[k] += v
	}
	return a
}
