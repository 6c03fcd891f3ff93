package pipelines

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/pretext-dev/pretext/sinks"
)

// A rerun into a committed folder removes the old manifests first; when the
// rerun fails (here its staging folder cannot be created: the bundle fails
// and prism fails the job) no manifest is written, so readers see an
// incomplete folder, never the old manifest over a mix of shards. A rerun
// that succeeds commits the new dataset and leaves no stray files.
func TestFailedRerunLeavesNoManifest(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	cfg := quickstart(t, out)
	cfg.Input = filepath.Join(repo, "testdata", "images", "photos") + "/*.jpg"
	first := runVision(t, "prism", cfg)

	plan, err := NewPlan(ctx, cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	// A file where the denoise staging folder goes: every bundle writing
	// denoise rows fails.
	blocker := filepath.Join(out, "denoise", ".staging-test")
	if err := os.WriteFile(blocker, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := plan.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	Vision(s, cfg, plan)
	if _, err := beam.Run(ctx, "prism", p); err == nil {
		t.Fatal("the run succeeded with its staging folder blocked")
	} else {
		t.Logf("failed as it should: %.300v", err)
	}
	for name := range first {
		if _, err := sinks.ReadManifest(ctx, filepath.Join(out, name)); !errors.Is(err, sinks.ErrIncomplete) {
			t.Errorf("%s after the failed rerun: %v, want ErrIncomplete", name, err)
		}
	}

	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
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
