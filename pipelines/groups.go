package pipelines

import (
	"context"
	"errors"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/pretext-dev/pretext/sinks"
)

func init() {
	register.Function3x0[int, func(*BucketFiles) bool, func(BucketJob)](fanOutBuckets)
	register.Emitter1[BucketJob]()
	beam.RegisterType(typeOf[BucketJob]())
}

// BucketJob is one bucket to cut into groups, with the file lists of every
// bucket of the run (where neighbourGroup looks when the bucket holds one
// document).
type BucketJob struct {
	Bucket BucketFiles
	All    []BucketFiles
}

// bucketJobs turns PCollection<BucketFiles> (one per bucket) into
// PCollection<BucketJob>. Every job carries all the file lists (names only)
// as data rather than as a side input: prism keeps rescheduling a stage that
// reads a side input for as long as its bundle runs, a busy loop that took
// 1.5 million turns and a third of the CPU of a 4-second text run at
// GOMAXPROCS=1. The reshuffle spreads the jobs over workers again after the
// one-key group.
func bucketJobs(s beam.Scope, buckets beam.PCollection) beam.PCollection {
	s = s.Scope("bucketJobs")
	return beam.Reshuffle(s, beam.ParDo(s, fanOutBuckets, beam.GroupByKey(s, beam.AddFixedKey(s, buckets))))
}

func fanOutBuckets(_ int, buckets func(*BucketFiles) bool, emit func(BucketJob)) {
	var all []BucketFiles
	var b BucketFiles
	for buckets(&b) {
		all = append(all, b)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Bucket < all[j].Bucket })
	for _, b := range all {
		emit(BucketJob{Bucket: b, All: all})
	}
}

// grouping says how a bucket's documents are cut into groups: the text
// pipeline's documents (random-next sentences come from the group) and the
// video pipeline's videos (other_video audio comes from the group).
type grouping[T sinks.Row] struct {
	size       int            // documents per group
	maxBytes   int64          // bytes per group; 0: no limit
	bytes      func(*T) int64 // a document's size, when maxBytes > 0
	numBuckets int            // buckets in all, for the neighbour's order
	trim       func(*T)       // applied to the neighbour's documents; may be nil
}

// eachGroup streams the documents of bucket b (merged in key order) into
// groups of g.size documents (or g.maxBytes) and calls fn for each, one
// group behind the stream, so that a final group of one document joins the
// group before it. fn's extra is nil, except when the whole bucket is one
// document: then extra is the first group of the next bucket (in bucket
// order, wrapping) that holds any document, empty if there is none. Memory
// is two groups.
func eachGroup[T sinks.Row](ctx context.Context, fs filesystem.Interface, job BucketJob, g grouping[T], fn func(group, extra []T) error) error {
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
			extra, err := neighbourGroup(ctx, fs, b.Bucket, job.All, g, full)
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

// neighbourGroup returns the first group of the next bucket (in bucket
// order, wrapping) that holds any document.
func neighbourGroup[T sinks.Row](ctx context.Context, fs filesystem.Interface, bucket int, all []BucketFiles, g grouping[T], full func(int, int64) bool) ([]T, error) {
	var buckets []BucketFiles
	for _, b := range all {
		if b.Bucket != bucket {
			buckets = append(buckets, b)
		}
	}
	n := g.numBuckets
	sort.Slice(buckets, func(i, j int) bool {
		return (buckets[i].Bucket-bucket+n)%n < (buckets[j].Bucket-bucket+n)%n
	})
	errEnough := errors.New("enough")
	for _, nb := range buckets {
		var docs []T
		var size int64
		_, err := sinks.MergeRows(ctx, fs, nb.Names, func(d T) error {
			if g.trim != nil {
				g.trim(&d)
			}
			docs = append(docs, d)
			if g.maxBytes > 0 {
				size += g.bytes(&d)
			}
			if full(len(docs), size) {
				return errEnough
			}
			return nil
		})
		if err != nil && err != errEnough {
			return nil, err
		}
		if len(docs) > 0 {
			return docs, nil
		}
	}
	return nil, nil
}
