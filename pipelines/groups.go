package pipelines

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/pretext-dev/pretext/sinks"
)

func init() {
	register.Function3x0[int, func(*BucketFiles) bool, func(BucketJob)](fanOutBuckets)
	register.Emitter1[BucketJob]()
	beam.RegisterType(typeOf[BucketJob]())
}

// BucketJob is one bucket to cut into groups, with the file list of the
// bucket after it (in bucket order, wrapping): where neighbourGroup looks
// when the bucket holds one document. Next has no names when the run has
// one bucket.
type BucketJob struct {
	Bucket BucketFiles
	Next   BucketFiles
}

// bucketJobs turns PCollection<BucketFiles> (one per bucket) into
// PCollection<BucketJob>. A job carries its own file list and the next
// bucket's (names only), as data rather than as a side input: prism keeps
// rescheduling a stage that reads a side input for as long as its bundle
// runs, a busy loop that took 1.5 million turns and a third of the CPU of a
// 4-second text run at GOMAXPROCS=1. Every file list travels twice, so the
// jobs' bytes grow with the number of bucket files, not with buckets ×
// files (a job carrying every list was 161 MB at 1,024 buckets of 1,000
// files; TestBucketJobsPayload). The one-key group that finds each
// bucket's next holds every list once, on one worker. The reshuffle spreads
// the jobs over workers again after it.
func bucketJobs(s beam.Scope, buckets beam.PCollection) beam.PCollection {
	s = s.Scope("bucketJobs")
	return beam.Reshuffle(s, beam.ParDo(s, fanOutBuckets, beam.GroupByKey(s, beam.AddFixedKey(s, buckets))))
}

// fanOutBuckets pairs each bucket with the next one present. Every bucket
// present holds a document (a bucket file is written only for a partition
// that holds rows), so the next one present is the first, in bucket order,
// that holds any: the bucket neighbourGroup takes its group from.
func fanOutBuckets(_ int, buckets func(*BucketFiles) bool, emit func(BucketJob)) {
	var all []BucketFiles
	var b BucketFiles
	for buckets(&b) {
		all = append(all, b)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Bucket < all[j].Bucket })
	for i, b := range all {
		job := BucketJob{Bucket: b}
		if len(all) > 1 {
			job.Next = all[(i+1)%len(all)]
		}
		emit(job)
	}
}

// grouping says how a bucket's documents are cut into groups: the text
// pipeline's documents (random-next sentences come from the group) and the
// video pipeline's videos (other_video audio comes from the group).
type grouping[T sinks.Row] struct {
	size     int            // documents per group
	maxBytes int64          // bytes per group; 0: no limit
	bytes    func(*T) int64 // a document's size, when maxBytes > 0
	trim     func(*T)       // applied to the neighbour's documents; may be nil
}

// eachGroup streams the documents of bucket b (merged in key order) into
// groups of g.size documents (or g.maxBytes) and calls fn for each, one
// group behind the stream, so that a final group of one document joins the
// group before it. fn's extra is nil, except when the whole bucket is one
// document: then extra is the first group of the next bucket (in bucket
// order, wrapping) that holds any document, empty if there is none. Memory
// is two groups.
func eachGroup[T sinks.Row](ctx context.Context, fs sinks.FS, job BucketJob, g grouping[T], fn func(group, extra []T) error) error {
	b := job.Bucket
	var groups [][]T
	var cur []T
	var curBytes int64
	full := func(n int, size int64) bool { return n == g.size || (g.maxBytes > 0 && size >= g.maxBytes) }
	flushPrev := func() error {
		first := groups[0]
		groups = groups[1:]
		return fn(first, nil)
	}
	_, err := sinks.MergeRows(ctx, fs, b.Names, func(d T) error {
		cur = append(cur, d)
		if g.maxBytes > 0 {
			curBytes += g.bytes(&d)
		}
		if full(len(cur), curBytes) {
			groups = append(groups, cur)
			cur, curBytes = nil, 0
			if len(groups) > 1 {
				return flushPrev()
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(cur) == 1 && len(groups) > 0 {
		groups[len(groups)-1] = append(groups[len(groups)-1], cur[0])
		cur = nil
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	for len(groups) > 0 {
		if len(groups) == 1 && len(groups[0]) == 1 {
			extra, err := neighbourGroup(ctx, fs, job.Next, g, full)
			if err != nil {
				return err
			}
			if extra == nil {
				extra = []T{}
			}
			return fn(groups[0], extra)
		}
		if err := flushPrev(); err != nil {
			return err
		}
	}
	return nil
}

// neighbourGroup returns the first group of the bucket next, nil when
// there is none. It merges next's files neighbourFanIn at a time, keeping
// the first g.size documents of them all (a group never holds more), so
// that MergeRows writes no intermediate file: next's own job may be merging
// the same files at that moment, and MergeRows names an intermediate after
// the first file it merges, so both would write the same file at once. It
// also reads only the head of each file, where a merge pass would rewrite
// the whole bucket to find a few documents.
func neighbourGroup[T sinks.Row](ctx context.Context, fs sinks.FS, next BucketFiles, g grouping[T], full func(int, int64) bool) ([]T, error) {
	if len(next.Names) == 0 {
		return nil, nil
	}
	errEnough := errors.New("enough")
	var first []T // the first g.size documents of the files merged so far
	for i := 0; i < len(next.Names); i += neighbourFanIn {
		merged := make([]T, 0, g.size)
		j := 0
		_, err := sinks.MergeRows(ctx, fs, next.Names[i:min(i+neighbourFanIn, len(next.Names))], func(d T) error {
			if g.trim != nil {
				g.trim(&d)
			}
			for j < len(first) && len(merged) < g.size && first[j].RowKey() < d.RowKey() {
				merged = append(merged, first[j])
				j++
			}
			if j < len(first) && first[j].RowKey() == d.RowKey() {
				return fmt.Errorf("bucket %d: document %q is in two of its files", next.Bucket, d.RowKey())
			}
			if len(merged) < g.size {
				merged = append(merged, d)
			}
			if len(merged) == g.size {
				return errEnough
			}
			return nil
		})
		if err != nil && err != errEnough {
			return nil, err
		}
		for ; j < len(first) && len(merged) < g.size; j++ {
			merged = append(merged, first[j])
		}
		first = merged
	}
	if len(first) == 0 {
		// Every bucket file holds a row: a bucket without one would make
		// the neighbour depend on which buckets were written.
		return nil, fmt.Errorf("bucket %d: its %d files hold no document", next.Bucket, len(next.Names))
	}
	var size int64
	for k := range first {
		if g.maxBytes > 0 {
			size += g.bytes(&first[k])
		}
		if full(k+1, size) {
			return first[:k+1], nil
		}
	}
	return first, nil
}

// neighbourFanIn is the most files neighbourGroup merges at once: the
// smaller of sinks' fan-ins, below which MergeRows merges in one pass.
const neighbourFanIn = min(sinks.MaxFanIn, sinks.MediaFanIn)
