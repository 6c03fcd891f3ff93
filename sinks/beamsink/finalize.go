package beamsink

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/pretext-dev/pretext/sinks"
)

func init() {
	register.Function1x2[sinks.TempFile, string, sinks.TempFile](keyTempFile)
	register.Function1x2[string, string, int](presentKey)
	register.DoFn5x1[context.Context, string, func(*int) bool, func(*sinks.TempFile) bool, func(string, sinks.StagedShard), error](&mergeFn{})
	register.DoFn5x2[context.Context, string, func(*int) bool, func(*sinks.StagedShard) bool, func(*Tally) bool, string, error](&commitFn{})
	register.DoFn2x0[Tally, func(string, Tally)](&tallyPerDatasetFn{})
	register.Combiner2[Tally, string](&tallyFn{})
	register.Iter1[int]()
	register.Iter1[sinks.TempFile]()
	register.Iter1[sinks.StagedShard]()
	register.Iter1[Tally]()
	register.Emitter2[string, Tally]()
	register.Emitter2[string, sinks.StagedShard]()
	beam.RegisterType(typeOf[sinks.TempFile]())
	beam.RegisterType(typeOf[sinks.StagedShard]())
	beam.RegisterType(typeOf[Tally]())
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
func Finalize(s beam.Scope, commits []sinks.Commit, temps, outcomes beam.PCollection) beam.PCollection {
	s = s.Scope("beamsink.Finalize")
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

func keyTempFile(t sinks.TempFile) (string, sinks.TempFile) {
	return partitionKey(t.Dataset, t.Partition), t
}

func presentKey(k string) (string, int) { return k, 1 }

func findCommit(commits []sinks.Commit, name string) (sinks.Commit, error) {
	for _, c := range commits {
		if c.Name == name {
			return c, c.CheckNames()
		}
	}
	return sinks.Commit{}, fmt.Errorf("sinks: dataset %q is not part of this run", name)
}

// mergeFn merges one partition's temporary files into a staged shard. The
// merges of a bundle run on a Pool (prism hands every partition of a run to
// one bundle).
type mergeFn struct {
	Commits []sinks.Commit

	pool *Pool[mergeJob, merged]
}

// mergeJob is one partition to merge.
type mergeJob struct {
	sinks.Commit
	Key       string
	Partition int
	Inputs    []string
	Rows      int64 // the rows the temporary files announce
	Stats     map[string]int64
}

type merged struct {
	shard sinks.StagedShard
	err   error
}

func (f *mergeFn) StartBundle(ctx context.Context, _ func(string, sinks.StagedShard)) {
	f.pool = NewPool(ctx, PoolSize(), mergePartition, func(j mergeJob, err error) merged {
		return merged{err: fmt.Errorf("sinks: merging %s: %w", j.Key, err)}
	})
}

func (f *mergeFn) ProcessElement(ctx context.Context, key string, _ func(*int) bool, temps func(*sinks.TempFile) bool, emit func(string, sinks.StagedShard)) error {
	job, err := f.job(key, temps)
	if err != nil {
		return err
	}
	// A merge holds up to MaxFanIn open temporary files and a row group; a
	// runner may run every shard's merge of a worker at once, so each holds a
	// work slot (the pool's).
	return f.pool.Submit(job, emitMerged(emit))
}

func (f *mergeFn) FinishBundle(ctx context.Context, emit func(string, sinks.StagedShard)) error {
	return f.pool.Close(emitMerged(emit))
}

func emitMerged(emit func(string, sinks.StagedShard)) func(merged) error {
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
func (f *mergeFn) job(key string, temps func(*sinks.TempFile) bool) (mergeJob, error) {
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
	var t sinks.TempFile
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
// shard (sinks.MergePartition).
func mergePartition(ctx context.Context, j mergeJob) merged {
	sh, err := sinks.MergePartition(ctx, j.Commit, j.Partition, j.Inputs, j.Rows, j.Stats)
	return merged{shard: sh, err: err}
}

// commitFn publishes one dataset once all its shards are staged.
type commitFn struct {
	Commits []sinks.Commit
}

func (f *commitFn) ProcessElement(ctx context.Context, name string, _ func(*int) bool, stagedIter func(*sinks.StagedShard) bool, tallies func(*Tally) bool) (string, error) {
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
// outcome of every input) adds up (sinks.Publish).
func (f *commitFn) commit(ctx context.Context, name string, stagedIter func(*sinks.StagedShard) bool, tally Tally) (string, error) {
	c, err := findCommit(f.Commits, name)
	if err != nil {
		return "", err
	}
	return sinks.Publish(ctx, c, stagedIter, tally.Counts)
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

func typeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }
