package pipelines

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// fakeS3 answers ListObjectsV2 as S3 does for a bucket holding keys: the
// keys under the request's prefix in byte order, pageSize a page, with a
// continuation token while the listing is truncated.
type fakeS3 struct {
	bucket   string
	keys     map[string]int64 // key → size
	pageSize int
	calls    []string // "prefix@token" of each request
}

func (f *fakeS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if aws.ToString(in.Bucket) != f.bucket {
		return nil, fmt.Errorf("NoSuchBucket: %s", aws.ToString(in.Bucket))
	}
	prefix, token := aws.ToString(in.Prefix), aws.ToString(in.ContinuationToken)
	f.calls = append(f.calls, prefix+"@"+token)
	var under []string
	for k := range f.keys {
		if strings.HasPrefix(k, prefix) {
			under = append(under, k)
		}
	}
	sort.Strings(under)
	start := 0
	if token != "" {
		var err error
		if start, err = strconv.Atoi(token); err != nil {
			return nil, fmt.Errorf("bad continuation token %q", token)
		}
	}
	end := min(start+f.pageSize, len(under))
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(end < len(under))}
	for _, k := range under[start:end] {
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k), Size: aws.Int64(f.keys[k])})
	}
	if end < len(under) {
		out.NextContinuationToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// fakeGCS stands in for Beam's gcs filesystem, whose List of "PREFIX**"
// (the only glob gcsLister sends) returns every object under PREFIX, in no
// promised order.
type fakeGCS struct {
	sinks.FS
	bucket string
	names  []string
	globs  []string
}

func (f *fakeGCS) List(_ context.Context, glob string) ([]string, error) {
	f.globs = append(f.globs, glob)
	prefix, ok := strings.CutSuffix(glob, "**")
	if !ok || strings.ContainsAny(prefix, "*?[") {
		return nil, fmt.Errorf("fakeGCS: unexpected glob %q", glob)
	}
	var out []string
	for i := len(f.names) - 1; i >= 0; i-- {
		if n := "gs://" + f.bucket + "/" + f.names[i]; strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

// refSummary is "key size" per reference, sorted by key.
func refSummary(refs []transforms.FileRef) []string {
	sort.Slice(refs, func(i, j int) bool { return refs[i].Key < refs[j].Key })
	out := []string{}
	for _, r := range refs {
		out = append(out, fmt.Sprintf("%q %d", r.Key, r.Size))
	}
	return out
}

// A pattern on s3:// and gs:// matches the keys it matches as a local path,
// at every depth: ** as in a local walk (Beam's s3 List, with
// filepath.Match, matched raw/**/*.mp4 one folder level deep), ? and [
// before the first * (Beam's gcs and s3 Lists took them as part of the
// listed prefix, and listed nothing). The listing asks for the fixed prefix
// only and follows every page.
func TestRemoteMatchesLikeLocal(t *testing.T) {
	files := map[string]string{
		"raw/a.mp4":               "a",
		"raw/b.txt":               "bb",
		"raw/cam1/c.mp4":          "ccc",
		"raw/cam2/d.mp4":          "dddd",
		"raw/cam3/e.mp4":          "eeeee",
		"raw/cam1/day/f.mp4":      "ffffff",
		"raw/x/y/z/deep.mp4":      "g",
		"raw/new\nline/h.mp4":     "hh",
		"raw/été/i.mp4":           "iii",
		"raw/*.mp4":               "star",
		"raw2/outside.mp4":        "o",
		"other/raw/elsewhere.mp4": "e",
	}
	dir := t.TempDir()
	makeTree(t, dir, files)
	if err := os.MkdirAll(filepath.Join(dir, "raw", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys := map[string]int64{"raw/empty/": 0} // a console's folder marker
	var names []string
	for k, v := range files {
		keys[k] = int64(len(v))
		names = append(names, k)
	}
	names = append(names, "raw/empty/")
	ctx := context.Background()
	for _, pattern := range []string{
		"**",
		"raw/**",
		"raw/**/*.mp4",
		"raw/*/*.mp4",
		"raw/*.mp4",
		"raw/**/day/*",
		"raw/cam[12]/*.mp4",
		"raw/cam[!1]/*.mp4",
		"r?w/**/*.mp4",
		"raw/a.mp4",
		`raw/\*.mp4`,
		"raw/**.mp4",
		"raw/empty/**",
	} {
		local, err := MatchFiles(ctx, dir+"/"+pattern, "", 0)
		if err != nil {
			t.Fatalf("%s: local: %v", pattern, err)
		}
		want := refSummary(local.Refs)

		fs3 := &fakeS3{bucket: "bucket", keys: keys, pageSize: 2}
		p := "s3://bucket/" + pattern
		re, err := globRegexp(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := listUnder(ctx, s3Lister{fs3}, p, FixedPrefix(p), re)
		if err != nil {
			t.Fatalf("%s: s3: %v", p, err)
		}
		if g := refSummary(got); !reflect.DeepEqual(g, want) {
			t.Errorf("%s: keys\n%v\nwant (local)\n%v", p, g, want)
		}
		for _, r := range got {
			if r.Source != "s3://bucket/"+FixedPrefix(pattern)+r.Key {
				t.Errorf("%s: %q has source %q", p, r.Key, r.Source)
			}
		}
		fixed := strings.TrimPrefix(FixedPrefix(p), "s3://bucket/")
		n := 0
		for k := range keys {
			if strings.HasPrefix(k, fixed) {
				n++
			}
		}
		if wantCalls := max(1, (n+1)/2); len(fs3.calls) != wantCalls || !strings.HasPrefix(fs3.calls[0], fixed+"@") {
			t.Errorf("%s: requests %q; want %d, all for prefix %q", p, fs3.calls, wantCalls, fixed)
		}

		gcs := &fakeGCS{bucket: "bucket", names: names}
		p = "gs://bucket/" + pattern
		if re, err = globRegexp(p); err != nil {
			t.Fatal(err)
		}
		got, err = listUnder(ctx, gcsLister{gcs}, p, FixedPrefix(p), re)
		if err != nil {
			t.Fatalf("%s: gs: %v", p, err)
		}
		// The GCS listing gives no sizes: the readers stat each file.
		for i := range got {
			got[i].Size = keys[strings.TrimPrefix(got[i].Source, "gs://bucket/")]
		}
		if g := refSummary(got); !reflect.DeepEqual(g, want) {
			t.Errorf("%s: keys\n%v\nwant (local)\n%v", p, g, want)
		}
		if wantGlobs := []string{FixedPrefix(p) + "**"}; !reflect.DeepEqual(gcs.globs, wantGlobs) {
			t.Errorf("%s: listed %q, want %q", p, gcs.globs, wantGlobs)
		}
	}
}

// A remote pattern that no listing matches as documented is refused in one
// line, as the user's mistake: ** where the filesystem's List globs with
// filepath.Match (memfs://, and any scheme but gs:// and s3://), a bucket
// name with a wildcard or none at all, a glob that does not compile. A
// pattern without ** on memfs:// is listed by Beam's List as before.
func TestRemotePatternRefusals(t *testing.T) {
	for _, tc := range []struct {
		pattern, want string // want: a part of the refusal, "" for none
	}{
		{"memfs://match-remote/raw/**/*.mp4", "** is not supported on memfs://"},
		{"memfs://match-remote/**", "** is not supported on memfs://"},
		{"s3://logs-*/raw/*.mp4", "the bucket must be named in full"},
		{"gs://*/raw/*.mp4", "the bucket must be named in full"},
		{"s3://bucket", "the bucket must be named in full"},
		{"gs://bucket/raw/[ab.mp4", "unclosed ["},
		{"s3://bucket/raw/**/*.mp4", ""},
		{"gs://bucket/**", ""},
		{"s3://bucket/raw/cam[12]/*.mp4", ""},
		{"memfs://match-remote/raw/*/*.mp4", ""},
		{"photos/**", ""},
	} {
		err := CheckPattern(tc.pattern)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.pattern, err)
		case tc.want == "":
		case err == nil:
			t.Errorf("%s: accepted, want a refusal saying %q", tc.pattern, tc.want)
		case !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || !configs.IsMistake(err):
			t.Errorf("%s: %q (mistake %v); want one line saying %q, a mistake", tc.pattern, err, configs.IsMistake(err), tc.want)
		}
	}

	ctx := context.Background()
	fs := memfs.New(ctx)
	for _, name := range []string{"raw/a/one.mp4", "raw/b/two.mp4", "raw/b/deep/three.mp4", "raw/top.mp4"} {
		if err := sinks.WriteFile(ctx, fs, "memfs://match-remote/"+name, []byte(name)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := MatchFiles(ctx, "memfs://match-remote/raw/**/*.mp4", "", 0); err == nil || !configs.IsMistake(err) {
		t.Errorf("memfs ** pattern: err %v, want a refusal", err)
	}
	m, err := MatchFiles(ctx, "memfs://match-remote/raw/*/*.mp4", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := matchSummary(m), []string{"a/one.mp4", "b/two.mp4"}; !reflect.DeepEqual(got, want) {
		t.Errorf("memfs raw/*/*.mp4: %q, want %q", got, want)
	}
}
