package pipelines

import (
	"context"
	"errors"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/pretext-dev/pretext/sinks"
)

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
func eachGroup[T sinks.Row](ctx context.Context, fs filesystem.Interface, b BucketFiles, all func(*BucketFiles) bool, g grouping[T], fn func(group, extra []T) error) error {
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
			extra, err := neighbourGroup(ctx, fs, b.Bucket, all, g, full)
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
func neighbourGroup[T sinks.Row](ctx context.Context, fs filesystem.Interface, bucket int, all func(*BucketFiles) bool, g grouping[T], full func(int, int64) bool) ([]T, error) {
	var buckets []BucketFiles
	var b BucketFiles
	for all(&b) {
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
