package pipelines

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/inspect"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// jigsawConfig is configs/jigsaw.yaml on the committed images into out.
func jigsawConfig(t *testing.T, out string) configs.Config {
	t.Helper()
	cfg, err := configs.Load(filepath.Join(repo, "configs", "jigsaw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input = filepath.Join(repo, "testdata", "images") + "/**"
	cfg.Output = out
	return cfg
}

// jigsaw through the image pipeline, with no pipeline code of its own:
// same seed, same bytes (prism twice, and the direct runner); the
// manifest's info.permutations is the set vision.JigsawPermutations makes
// and every row's permutation its entry; every gate of pretext inspect
// passes (the uniformity judged: configs/jigsaw.yaml has 64 variants);
// DuckDB reads the new columns and finds the inspector's chi-square.
func TestJigsawPipeline(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	ms := runVision(t, "prism", jigsawConfig(t, a))
	runVision(t, "prism", jigsawConfig(t, b))
	runVision(t, "direct", jigsawConfig(t, c))
	sameShards(t, "two prism runs", dirBytes(t, a), dirBytes(t, b))
	sameShards(t, "prism vs direct", dirBytes(t, a), dirBytes(t, c))
	cfg := jigsawConfig(t, a).Tasks[vision.TaskJigsaw].(*vision.JigsawConfig)
	m := ms[vision.TaskJigsaw]
	if m == nil || m.Labeled < 5 || m.Rows != int64(cfg.Variants)*m.Labeled {
		t.Fatalf("jigsaw manifest %+v: want %d rows per labelled image", m, cfg.Variants)
	}
	want, err := vision.JigsawPermutations(cfg.Grid, cfg.NumPermutations)
	if err != nil {
		t.Fatal(err)
	}
	var stored [][]int
	if err := m.InfoValue("permutations", &stored); err != nil || !slices.EqualFunc(stored, want, slices.Equal) {
		t.Fatalf("manifest info.permutations (%v): %d permutations, not vision.JigsawPermutations(%d, %d)", err, len(stored), cfg.Grid, cfg.NumPermutations)
	}
	for _, r := range readRows[vision.JigsawRow](t, filepath.Join(a, vision.TaskJigsaw), m) {
		p := make([]int, len(r.Permutation))
		for i, v := range r.Permutation {
			p[i] = int(v)
		}
		if !slices.Equal(p, want[r.PermutationIndex]) || r.Tile != 54 || r.Grid != 3 || r.Width != 192 {
			t.Fatalf("%s/%d: permutation %d %v, grid %d, tile %d, width %d", r.Key, r.Variant, r.PermutationIndex, p, r.Grid, r.Tile, r.Width)
		}
	}

	rep := mustInspect(t, inspect.Options{Dir: a})
	passes(t, rep)
	d := datasetOf(t, rep, vision.TaskJigsaw)
	chi2, judged := d.Metrics["permutation_chi2"]
	if !judged {
		t.Fatalf("uniformity not judged on %d rows: %v", m.Rows, d.Facts)
	}
	t.Run("duckdb", func(t *testing.T) {
		needDuckDB(t)
		shards := fmt.Sprintf("read_parquet('%s')", filepath.Join(a, vision.TaskJigsaw, "*.parquet"))
		k := cfg.NumPermutations
		r := sumDuck(t, fmt.Sprintf("with n as (select permutation_index k, count(*)::DOUBLE c from %[1]s group by 1), "+
			"total as (select count(*)::DOUBLE / %[2]d e from %[1]s) "+
			"select sum(power(coalesce(n.c, 0) - total.e, 2) / total.e)::DOUBLE as chi2 from range(%[2]d) r(k) cross join total left join n on n.k = r.k", shards, k))
		near(t, "permutation chi-square", chi2, r["chi2"].(float64))
		r = sumDuck(t, fmt.Sprintf("select sum((len(permutation) <> grid*grid or list_sum(permutation) <> grid*grid*(grid*grid-1)/2 "+
			"or len(tile_offsets) <> 2*grid*grid or list_max(tile_offsets) > width/grid - tile or list_min(tile_offsets) < 0 "+
			"or permutation_index < 0 or permutation_index >= %d)::INTEGER)::DOUBLE as bad from %s", k, shards))
		if r["bad"].(float64) != 0 {
			t.Errorf("DuckDB finds %v rows whose permutation or offsets do not fit their grid", r["bad"])
		}
	})
}
