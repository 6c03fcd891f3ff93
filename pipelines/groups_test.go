package pipelines

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/pretext-dev/pretext/sinks"
)

// bucketFilesOf makes the file lists of buckets buckets of files bucket
// files each, named as a Writer names them under a gs:// output (142 bytes
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
// grew with buckets × files: 148 MB a job at 1,024 buckets of 1,000 files.)
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
