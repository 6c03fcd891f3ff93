package pipelines

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// A rerun that fails (here its denoise staging folder cannot be created:
// the bundles fail and prism fails the job) leaves the committed datasets
// valid: denoise's manifest byte for byte, every folder passing Verify. A
// rerun that succeeds commits the new dataset and leaves no stray files.
func TestFailedRerunKeepsDataset(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	cfg := quickstart(t, out)
	cfg.Input = filepath.Join(repo, "testdata", "images", "photos") + "/*.jpg"
	first := runVision(t, "prism", cfg)
	before, err := os.ReadFile(filepath.Join(out, "denoise", sinks.ManifestName))
	if err != nil {
		t.Fatal(err)
	}

	failing := cfg
	failing.Seed++ // a commit would change every manifest
	plan, err := NewPlan(ctx, failing, "test")
	if err != nil {
		t.Fatal(err)
	}
	hold, err := plan.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A file where the denoise staging folder goes: every bundle writing
	// denoise rows fails.
	var denoise sinks.Commit
	for _, c := range plan.Commits {
		if c.Name == "denoise" {
			denoise = c
		}
	}
	blocker := denoise.StagingDir()
	if err := os.MkdirAll(filepath.Dir(blocker), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blocker, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	Vision(s, failing, plan)
	if _, err := beam.Run(ctx, "prism", p); err == nil {
		t.Fatal("the run succeeded with its staging folder blocked")
	} else {
		t.Logf("failed as it should: %.300v", err)
	}
	if err := hold.Release(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(filepath.Join(out, "denoise", sinks.ManifestName))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("denoise's manifest after the failed rerun: %v, changed: %v", err, !bytes.Equal(before, after))
	}
	for name := range first {
		verify(t, filepath.Join(out, name), name)
	}
	if _, err := os.Stat(blocker); !os.IsNotExist(err) {
		t.Errorf("the failed run's staging survived its release: %v", err)
	}

	again := runVision(t, "prism", cfg)
	for name, m := range again {
		if m.Rows != first[name].Rows {
			t.Errorf("%s: %d rows after the rerun, %d before", name, m.Rows, first[name].Rows)
		}
		entries, err := os.ReadDir(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(m.Shards)+1 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("%s holds %v, want only its manifest and %d shards", name, names, len(m.Shards))
		}
	}
}

// verify fails on every problem sinks.Verify finds in a dataset folder.
func verify(t *testing.T, dir, task string) {
	t.Helper()
	schema := sinks.DeadLetterFormat.Schema()
	if tk, ok := transforms.Lookup(task); ok {
		schema = tk.Format.Schema()
	}
	_, problems, err := sinks.Verify(context.Background(), dir, schema)
	if err != nil {
		t.Errorf("%s: %v", dir, err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", dir, p)
	}
}
