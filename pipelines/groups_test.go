package pipelines

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/pretext-dev/pretext/sinks"
)

// bucketFilesOf makes the file lists of buckets buckets of files bucket
// files each, named as a Writer names them under a gs:// output (155 bytes
// a name), in a shuffled order, as a group-by-key hands them over.
func bucketFilesOf(buckets, files int) []BucketFiles {
	ds := sinks.Dataset{Name: "_buckets", Dir: "gs://my-pretext-bucket/datasets/av-v1/av_correspond", RunID: "20261207T193534-1a2b3c4d"}
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]BucketFiles, buckets)
	for k := range out {
		out[k].Bucket = k
		for i := range files {
			bundle := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&(1<<48-1))
			out[k].Names = append(out[k].Names, sinks.Join(ds.StagingDir(), fmt.Sprintf("tmp-%05d-%s-%d.rows.s2", k, bundle, i%10)))
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// jobPayload runs fanOutBuckets over buckets and returns the jobs it emits
// and their bytes as Beam encodes them (the coder Beam infers for
// BucketJob): in all, and the largest job's.
func jobPayload(t testing.TB, buckets []BucketFiles) (jobs []BucketJob, total, largest int64) {
	enc := beam.NewElementEncoder(reflect.TypeOf(BucketJob{}))
	i := 0
	next := func(b *BucketFiles) bool {
		if i == len(buckets) {
			return false
		}
		*b = buckets[i]
		i++
		return true
	}
	var err error
	fanOutBuckets(0, next, func(j BucketJob) {
		var n countingWriter
		if e := enc.Encode(j, &n); e != nil && err == nil {
			err = e
		}
		jobs = append(jobs, j)
		total += int64(n)
		largest = max(largest, int64(n))
	})
	if err != nil {
		t.Fatal(err)
	}
	return jobs, total, largest
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// The bucket jobs' bytes grow with the number of bucket files: doubling the
// buckets at a fixed number of files per bucket doubles them, and leaves a
// job's size as it was. (When every job carried every bucket's list, they
// grew with buckets × files: 161 MB a job at 1,024 buckets of 1,000 files.)
func TestBucketJobsPayload(t *testing.T) {
	const files = 50
	_, total64, largest64 := jobPayload(t, bucketFilesOf(64, files))
	_, total128, largest128 := jobPayload(t, bucketFilesOf(128, files))
	if r := float64(total128) / float64(total64); r < 1.95 || r > 2.05 {
		t.Errorf("64 → 128 buckets of %d files: jobs of %d → %d bytes (×%.2f), want ×2", files, total64, total128, r)
	}
	if r := float64(largest128) / float64(largest64); r > 1.01 {
		t.Errorf("64 → 128 buckets: the largest job grew from %d to %d bytes", largest64, largest128)
	}
	// Each list travels twice: with its bucket and with the one before it.
	enc := beam.NewElementEncoder(reflect.TypeOf(BucketFiles{}))
	var lists countingWriter
	for _, b := range bucketFilesOf(128, files) {
		if err := enc.Encode(b, &lists); err != nil {
			t.Fatal(err)
		}
	}
	if total128 > 2*int64(lists)+128*8 {
		t.Errorf("128 buckets: jobs of %d bytes for file lists of %d", total128, lists)
	}
}

// Each job's Next is the bucket its neighbourGroup used to find: of the
// other buckets present, the first in bucket order after its own, wrapping
// (the order (b - bucket + n) mod n of the previous code). A run of one
// bucket has none.
func TestBucketJobsNext(t *testing.T) {
	const n = 16
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		var present []BucketFiles
		for b := range n {
			if r.IntN(3) == 0 {
				present = append(present, BucketFiles{Bucket: b, Names: []string{fmt.Sprintf("f%d", b)}})
			}
		}
		r.Shuffle(len(present), func(i, j int) { present[i], present[j] = present[j], present[i] })
		jobs, _, _ := jobPayload(t, present)
		if len(jobs) != len(present) {
			t.Fatalf("trial %d: %d jobs for %d buckets", trial, len(jobs), len(present))
		}
		for _, j := range jobs {
			want := -1
			for _, b := range present {
				if b.Bucket != j.Bucket.Bucket && (want < 0 || (b.Bucket-j.Bucket.Bucket+n)%n < (want-j.Bucket.Bucket+n)%n) {
					want = b.Bucket
				}
			}
			switch {
			case want < 0 && len(j.Next.Names) > 0:
				t.Errorf("trial %d: the only bucket %d has next %d", trial, j.Bucket.Bucket, j.Next.Bucket)
			case want >= 0 && (j.Next.Bucket != want || fmt.Sprint(j.Next.Names) != fmt.Sprintf("[f%d]", want)):
				t.Errorf("trial %d: bucket %d has next %d %v, want %d", trial, j.Bucket.Bucket, j.Next.Bucket, j.Next.Names, want)
			}
		}
	}
}

// writeBucketFiles writes docs documents (keys doc-NNNN, 1 to 5 sentences)
// at random over files sorted bucket files in dir, as Writers do, and
// returns the files' names.
func writeBucketFiles(t *testing.T, dir string, files, docs int) []string {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	parts := make([]sinks.Partition, files)
	for i := range parts {
		parts[i] = textDocFormat.NewPartition()
	}
	for d := range docs {
		doc := TextDoc{Key: fmt.Sprintf("doc-%04d", d), Sentences: make([][]int32, d%5+1)}
		if err := parts[r.IntN(files)].Add(doc, 1); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for i, p := range parts {
		if p.Len() == 0 {
			continue
		}
		name := filepath.Join(dir, fmt.Sprintf("tmp-%05d.rows.s2", i))
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.WriteSorted(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

func docKeys(docs []TextDoc) []string {
	keys := []string{}
	for _, d := range docs {
		keys = append(keys, d.Key)
	}
	return keys
}

// neighbourGroup gives the first group of the next bucket, as a merge of all
// its files would (the previous code), for more files than one merge pass
// takes, and writes nothing: the bucket's own job may be merging the same
// files, and a merge pass's intermediate file would be written by both.
func TestNeighbourGroup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	names := writeBucketFiles(t, dir, 40, 300)
	if len(names) <= sinks.MaxFanIn {
		t.Fatalf("%d files: a merge of them all makes no pass", len(names))
	}
	fs, err := sinks.NewFS(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	bytes := func(d *TextDoc) int64 { return int64(len(d.Sentences)) }
	for _, g := range []grouping[TextDoc]{
		{size: 5},
		{size: 1},
		{size: 1000},                           // more than the bucket holds
		{size: 50, maxBytes: 12, bytes: bytes}, // cut by bytes
		{size: 50, maxBytes: 12, bytes: bytes, trim: func(d *TextDoc) { d.Sentences = d.Sentences[:1] }}, // bytes after the trim
	} {
		full := func(n int, size int64) bool { return n == g.size || (g.maxBytes > 0 && size >= g.maxBytes) }
		got, err := neighbourGroup(ctx, fs, BucketFiles{Bucket: 3, Names: names}, g, full)
		if err != nil {
			t.Fatal(err)
		}
		after, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(names) {
			t.Fatalf("size %d: %d files in the bucket's folder after, %d before: %q", g.size, len(after), len(names), after)
		}
		// The previous code: one merge of every file (in passes), cut
		// where the group is full.
		var want []TextDoc
		var size int64
		errEnough := errors.New("enough")
		_, err = sinks.MergeRows(ctx, fs, names, func(d TextDoc) error {
			if g.trim != nil {
				g.trim(&d)
			}
			want = append(want, d)
			if g.maxBytes > 0 {
				size += g.bytes(&d)
			}
			if full(len(want), size) {
				return errEnough
			}
			return nil
		})
		if err != nil && err != errEnough {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("size %d, max bytes %d: group %v, want %v", g.size, g.maxBytes, docKeys(got), docKeys(want))
		}
		if !sort.StringsAreSorted(docKeys(got)) || len(got) == 0 {
			t.Errorf("size %d: group %v", g.size, docKeys(got))
		}
		// The previous code's intermediate files go, for the next case.
		passes, err := filepath.Glob(filepath.Join(dir, "*.pass*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range passes {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, err := neighbourGroup(ctx, fs, BucketFiles{}, grouping[TextDoc]{size: 5}, func(n int, _ int64) bool { return n == 5 }); got != nil || err != nil {
		t.Errorf("no next bucket: %v, %v", got, err)
	}
}

// BenchmarkBucketJobs measures the bucket jobs of 1,024 buckets of 1,000
// bucket files each (docs/scaling.md's 1M videos at video.num_buckets
// 1024): payload-MB is the bytes of all jobs, job-MB the largest one's.
func BenchmarkBucketJobs(b *testing.B) {
	b.ReportAllocs()
	buckets := bucketFilesOf(1024, 1000)
	var total, largest int64
	for b.Loop() {
		_, total, largest = jobPayload(b, buckets)
	}
	b.ReportMetric(float64(total)/1e6, "payload-MB")
	b.ReportMetric(float64(largest)/1e6, "job-MB")
}
