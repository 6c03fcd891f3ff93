package pipelines

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/inspect"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// viewsConfig is configs/views.yaml on the image fixtures into out.
func viewsConfig(t *testing.T, out string) configs.Config {
	t.Helper()
	cfg, err := configs.Load(filepath.Join(repo, "configs", "views.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input = filepath.Join(repo, "testdata", "images") + "/**"
	cfg.Output = out
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// views through the image pipeline with no pipeline code of its own: same
// seed, same bytes (prism twice, and the direct runner); every gate of
// pretext inspect passes, views made again from their sources included;
// DuckDB reads the new columns and the params' JSON, and agrees with the
// inspector's shares.
func TestViewsPipeline(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	cfg := viewsConfig(t, a)
	ms := runVision(t, "prism", cfg)
	runVision(t, "prism", viewsConfig(t, b))
	runVision(t, "direct", viewsConfig(t, c))
	sameShards(t, "two prism runs", dirBytes(t, a), dirBytes(t, b))
	sameShards(t, "prism vs direct", dirBytes(t, a), dirBytes(t, c))
	variants := int64(cfg.Tasks[vision.TaskViews].(*vision.ViewsConfig).Variants)
	m := ms[vision.TaskViews]
	if m == nil || m.Labeled < 5 || m.Rows != variants*m.Labeled || m.Stats["views/all"] != 2*m.Rows {
		t.Fatalf("views manifest %+v: want %d rows per labelled image, two views each", m, variants)
	}
	rep := mustInspect(t, inspect.Options{Dir: a})
	passes(t, rep)
	d := datasetOf(t, rep, vision.TaskViews)
	if n := d.Metrics["reproduced_rows_judged"]; n < 1 {
		t.Errorf("%v rows made again from their sources, want some", n)
	}
	t.Run("duckdb", func(t *testing.T) {
		needDuckDB(t)
		both := func(expr string) string {
			return fmt.Sprintf("(sum((%s)::INTEGER) + sum((%s)::INTEGER))::DOUBLE", fmt.Sprintf(expr, "params_a"), fmt.Sprintf(expr, "params_b"))
		}
		r := sumDuck(t, fmt.Sprintf("select count(*)::DOUBLE as n, "+
			both("json_extract(%s, '$.flip')::BOOLEAN")+" as flip, "+
			both("json_extract(%s, '$.gray')::BOOLEAN")+" as gray, "+
			both("json_type(json_extract(%s, '$.hue')) <> 'NULL'")+" as jitter, "+
			both("json_extract(%[1]s, '$.crop[0]')::INTEGER + json_extract(%[1]s, '$.crop[2]')::INTEGER > json_extract(%[1]s, '$.image[0]')::INTEGER")+" as outside, "+
			"sum((view_a = view_b)::INTEGER)::DOUBLE as same, "+
			"sum((width <> least(json_extract(params_a, '$.image[0]')::INTEGER, json_extract(params_a, '$.image[1]')::INTEGER))::INTEGER)::DOUBLE as side "+
			"from read_parquet('%s')", filepath.Join(a, vision.TaskViews, "*.parquet")))
		n := r["n"].(float64)
		if int64(n) != m.Rows {
			t.Errorf("DuckDB reads %v rows, manifest %d", n, m.Rows)
		}
		near(t, "flip share", d.Metrics["flip_share"], r["flip"].(float64)/(2*n))
		near(t, "gray share", d.Metrics["gray_share"], r["gray"].(float64)/(2*n))
		near(t, "jitter share", d.Metrics["jitter_share"], r["jitter"].(float64)/(2*n))
		if r["outside"].(float64) != 0 || r["same"].(float64) != 0 || r["side"].(float64) != 0 {
			t.Errorf("DuckDB finds %v crops past the image's right edge, %v identical pairs, %v views not of the image's shorter side", r["outside"], r["same"], r["side"])
		}
	})
}
