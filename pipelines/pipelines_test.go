package pipelines

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/parquet-go/parquet-go"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/vision"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	// Every in-process Beam run leaves an empty beamloopbackworker-* file in
	// the temporary folder (Beam 2.77, see PrivateTemp): the tests' runs
	// leave theirs in a folder of their own, removed at the end.
	cleanup := PrivateTemp()
	code := ptest.MainRet(m)
	cleanup()
	os.Exit(code)
}

// repo is the repository root, where the fixtures and configs live.
const repo = ".."

func quickstart(t *testing.T, out string) configs.Config {
	t.Helper()
	cfg, err := configs.Load(filepath.Join(repo, "configs", "quickstart.yaml"))
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

func runVision(t *testing.T, runner string, cfg configs.Config) map[string]*sinks.Manifest {
	t.Helper()
	plan, err := NewPlan(context.Background(), cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hold, err := plan.Prepare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Release(ctx)
	p, s := beam.NewPipelineWithRoot()
	Vision(s, cfg, plan)
	if _, err := beam.Run(ctx, runner, p); err != nil {
		t.Fatalf("%s run: %v", runner, err)
	}
	return readManifests(t, plan)
}

func readManifests(t testing.TB, plan Plan) map[string]*sinks.Manifest {
	t.Helper()
	out := map[string]*sinks.Manifest{}
	for _, c := range plan.Commits {
		m, err := sinks.ReadManifest(context.Background(), c.Dir)
		if err != nil {
			t.Fatal(err)
		}
		out[c.Name] = m
	}
	return out
}

func readRows[T any](t *testing.T, dir string, m *sinks.Manifest) []T {
	t.Helper()
	var rows []T
	for _, sh := range m.Shards {
		f, err := os.Open(filepath.Join(dir, sh.Path))
		if err != nil {
			t.Fatal(err)
		}
		r := parquet.NewGenericReader[T](f)
		buf := make([]T, r.NumRows())
		n, err := r.Read(buf)
		if err != nil && n != len(buf) {
			t.Fatalf("%s: %v", sh.Path, err)
		}
		rows = append(rows, buf[:n]...)
		f.Close()
	}
	return rows
}

func dirBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".parquet") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[rel] = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameShards(t *testing.T, what string, a, b map[string][]byte) {
	t.Helper()
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%s: %d shards vs %d", what, len(a), len(b))
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Errorf("%s: %s differs", what, name)
		}
	}
}

// The quickstart writes every task, accounts for every input, and turns the
// bad fixtures into dead letters with reasons.
func TestQuickstart(t *testing.T) {
	out := t.TempDir()
	cfg := quickstart(t, out)
	ms := runVision(t, "prism", cfg)

	matched, err := MatchFiles(context.Background(), cfg.Input, cfg.Output, 0)
	if err != nil {
		t.Fatal(err)
	}
	refs := matched.Refs
	for name, m := range ms {
		if m.Inputs != int64(len(refs)) {
			t.Errorf("%s: inputs %d, matched %d files", name, m.Inputs, len(refs))
		}
		var filtered int64
		for _, n := range m.Filtered {
			filtered += n
		}
		if m.Inputs != m.Labeled+filtered+m.DeadLetters {
			t.Errorf("%s: inputs %d != labeled %d + filtered %d + dead %d", name, m.Inputs, m.Labeled, filtered, m.DeadLetters)
		}
		if m.Filtered["duplicate"] != 1 {
			t.Errorf("%s: duplicates dropped = %d, want 1 (testdata/images/dup)", name, m.Filtered["duplicate"])
		}
	}
	for task, variants := range map[string]int64{"colorize": 1, "denoise": 2, "inpaint": 2} {
		if got, want := ms[task].Rows, ms[task].Labeled*variants; got != want {
			t.Errorf("%s: %d rows, want labeled × variants = %d", task, got, want)
		}
		if ms[task].Labeled < 5 {
			t.Errorf("%s: only %d inputs labeled", task, ms[task].Labeled)
		}
	}
	if n, _ := ms["colorize"].InfoInt("ab_bins"); n != int64(vision.NumABBins()) {
		t.Errorf("colorize manifest ab_bins = %s", ms["colorize"].Info["ab_bins"])
	}

	dead := readRows[sinks.DeadLetter](t, filepath.Join(out, sinks.DeadLetters), ms[sinks.DeadLetters])
	reasons := map[string]string{}
	for _, d := range dead {
		if d.Stage == "" || d.Reason == "" {
			t.Errorf("dead letter without stage or reason: %+v", d)
		}
		reasons[d.Key] = d.Stage + "/" + d.Reason
	}
	for key, want := range map[string]string{
		"bad/empty.jpg":       "read/empty_file",
		"bad/notanimage.jpg":  "decode/unknown_format",
		"bad/huge-header.png": "decode/pixel_limit",
		"bad/truncated.jpg":   "decode/",
	} {
		if got := reasons[key]; !strings.HasPrefix(got, want) {
			t.Errorf("dead letter of %s: %q, want %s…", key, got, want)
		}
	}
	if int64(len(dead)) != ms["colorize"].DeadLetters {
		t.Errorf("%d dead-letter rows, manifest counts %d", len(dead), ms["colorize"].DeadLetters)
	}

	// Labels are what they claim to be.
	for _, r := range readRows[sinks.ColorizeRow](t, filepath.Join(out, "colorize"), ms["colorize"]) {
		img := decodePNG(t, r.Input)
		if _, ok := img.(*image.Gray); !ok {
			t.Errorf("%s: colorize input is %T, want gray", r.Key, img)
		}
		if want := int(r.Height/r.ABStride) * int(r.Width/r.ABStride); len(r.ABBins) != want || len(r.TargetAB) != 2*want {
			t.Errorf("%s: %d bins and %d ab values, want %d and %d", r.Key, len(r.ABBins), len(r.TargetAB), want, 2*want)
		}
		if strings.HasPrefix(r.Key, "gray/") != r.SourceIsGray {
			t.Errorf("%s: source_is_gray = %v", r.Key, r.SourceIsGray)
		}
	}
	kinds := map[string]bool{}
	for _, r := range readRows[sinks.InpaintRow](t, filepath.Join(out, "inpaint"), ms["inpaint"]) {
		kinds[r.MaskKind] = true
		mask := decodePNG(t, r.Mask).(*image.Gray)
		holes := 0
		for _, v := range mask.Pix {
			if v == 255 {
				holes++
			}
		}
		if got := float32(holes) / float32(len(mask.Pix)); got != r.MaskRatio {
			t.Errorf("%s: mask has ratio %v, row says %v", r.Key, got, r.MaskRatio)
		}
		if (r.MaskKind == "random_blocks" || r.MaskKind == "irregular") && (r.MaskRatio < 0.1 || r.MaskRatio > 0.4) {
			t.Errorf("%s: %s mask ratio %v outside the configured [0.1, 0.4]", r.Key, r.MaskKind, r.MaskRatio)
		}
	}
	if len(kinds) < 3 {
		t.Errorf("only mask kinds %v drawn", kinds)
	}
	for _, r := range readRows[sinks.DenoiseRow](t, filepath.Join(out, "denoise"), ms["denoise"]) {
		if bytes.Equal(r.Input, r.Target) {
			t.Errorf("%s/%d: noisy input equals the target", r.Key, r.Variant)
		}
		checkNoise(t, r, toNRGBA(decodePNG(t, r.Input)), toNRGBA(decodePNG(t, r.Target)))
	}
}

func toNRGBA(img image.Image) *image.NRGBA {
	out := image.NewNRGBA(img.Bounds())
	draw.Draw(out, out.Rect, img, img.Bounds().Min, draw.Src)
	return out
}

// checkNoise verifies that a denoise input differs from its target by the
// noise its row states.
func checkNoise(t *testing.T, r sinks.DenoiseRow, in, target *image.NRGBA) {
	t.Helper()
	level := float64(r.NoiseLevel)
	var changed, px int
	var sum, sum2 float64
	var n int
	for i := 0; i < len(in.Pix); i += 4 {
		px++
		diff := false
		for c := 0; c < 3; c++ {
			d := float64(in.Pix[i+c]) - float64(target.Pix[i+c])
			if d != 0 {
				diff = true
			}
			if tv := float64(target.Pix[i+c]); tv > 3*level && tv < 255-3*level {
				sum += d
				sum2 += d * d
				n++
			}
		}
		if diff {
			changed++
		}
	}
	frac := float64(changed) / float64(px)
	switch r.Noise {
	case "salt_pepper", "masking":
		// A few pixels were already black or white, so the changed share may
		// fall a little short of the level, never above it.
		if frac > level+0.02 || frac < level-0.05 {
			t.Errorf("%s/%d %s: %.3f of pixels changed, level %.3f", r.Key, r.Variant, r.Noise, frac, level)
		}
	case "gaussian":
		if n > 1000 {
			std := math.Sqrt(sum2/float64(n) - (sum/float64(n))*(sum/float64(n)))
			if math.Abs(std-level) > 0.1*level+1 {
				t.Errorf("%s/%d gaussian: noise std %.2f, level %.2f", r.Key, r.Variant, std, level)
			}
		}
	}
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Same seed ⇒ same bytes, on prism and on the direct runner (which bundles
// differently); another seed ⇒ other labels.
func TestDeterminism(t *testing.T) {
	a, b, c, d := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	runVision(t, "prism", quickstart(t, a))
	runVision(t, "prism", quickstart(t, b))
	sameShards(t, "two prism runs", dirBytes(t, a), dirBytes(t, b))
	runVision(t, "direct", quickstart(t, c))
	sameShards(t, "prism vs direct", dirBytes(t, a), dirBytes(t, c))

	cfg := quickstart(t, d)
	cfg.Seed++
	ms := runVision(t, "prism", cfg)
	other := readRows[sinks.DenoiseRow](t, filepath.Join(d, "denoise"), ms["denoise"])
	base := readRows[sinks.DenoiseRow](t, filepath.Join(a, "denoise"), readManifests(t, mustPlan(t, quickstart(t, a)))["denoise"])
	changed := 0
	for i := range base {
		if !bytes.Equal(base[i].Input, other[i].Input) {
			changed++
		}
	}
	if changed == 0 {
		t.Error("a different seed changed no denoise input")
	}
}

func mustPlan(t *testing.T, cfg configs.Config) Plan {
	p, err := NewPlan(context.Background(), cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Input order and the other inputs of a run do not change a key's rows.
func TestInputOrderAndSubsets(t *testing.T) {
	cfg0 := quickstart(t, t.TempDir())
	matched, err := MatchFiles(context.Background(), cfg0.Input, cfg0.Output, 0)
	if err != nil {
		t.Fatal(err)
	}
	refs := matched.Refs
	run := func(refs []transforms.FileRef) map[string]sinks.InpaintRow {
		out := t.TempDir()
		cfg := quickstart(t, out)
		plan := mustPlan(t, cfg)
		p, s := beam.NewPipelineWithRoot()
		outcomes := make([]string, len(refs))
		for i := range outcomes {
			outcomes[i] = sinks.OutcomeInput
		}
		VisionRefs(s, cfg, plan, beam.CreateList(s, refs), beam.CreateList(s, outcomes), beam.CreateList(s, []sinks.DeadLetter{}))
		if err := ptest.Run(p); err != nil {
			t.Fatal(err)
		}
		rows := map[string]sinks.InpaintRow{}
		for _, r := range readRows[sinks.InpaintRow](t, filepath.Join(out, "inpaint"), readManifests(t, plan)["inpaint"]) {
			rows[fmt.Sprintf("%s/%d", r.Key, r.Variant)] = r
		}
		return rows
	}
	shuffled := append([]transforms.FileRef(nil), refs...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	full, again := run(refs), run(shuffled)
	subset := run(shuffled[:len(shuffled)/2])
	if len(full) == 0 || len(subset) == 0 {
		t.Fatal("no rows")
	}
	for k, r := range full {
		if g := again[k]; !bytes.Equal(g.Input, r.Input) || !bytes.Equal(g.Mask, r.Mask) || g.MaskRatio != r.MaskRatio {
			t.Errorf("%s: row changed with input order", k)
		}
	}
	compared := 0
	for k, r := range subset {
		f, ok := full[k]
		if !ok {
			continue // a duplicate whose original is not in the subset
		}
		compared++
		if !bytes.Equal(f.Input, r.Input) || !bytes.Equal(f.Mask, r.Mask) {
			t.Errorf("%s: row changed when other inputs were left out", k)
		}
	}
	if compared < 4 {
		t.Errorf("only %d rows compared", compared)
	}
}

// DuckDB, an independent Parquet reader, reads the shards with the documented columns.
func TestDuckDBReadsShards(t *testing.T) {
	needDuckDB(t)
	out := t.TempDir()
	ms := runVision(t, "prism", quickstart(t, out))
	query := func(sql string) []map[string]any { return duckQuery(t, sql) }
	columns := map[string][]string{
		"colorize": {"key", "source", "variant", "split", "width", "height", "encoding", "input", "target", "target_ab", "ab_bins", "ab_stride", "source_is_gray"},
		"denoise":  {"key", "source", "variant", "split", "width", "height", "encoding", "input", "target", "noise", "noise_level"},
		"inpaint":  {"key", "source", "variant", "split", "width", "height", "encoding", "input", "target", "mask", "mask_kind", "mask_ratio"},
	}
	for task, cols := range columns {
		glob := filepath.Join(out, task, "*.parquet")
		rows := query(fmt.Sprintf("select column_name, column_type from (describe select * from read_parquet('%s'))", glob))
		have := map[string]string{}
		for _, r := range rows {
			have[r["column_name"].(string)] = r["column_type"].(string)
		}
		for _, c := range cols {
			if _, ok := have[c]; !ok {
				t.Errorf("%s: DuckDB sees no column %s (has %v)", task, c, have)
			}
		}
		n := query(fmt.Sprintf("select count(*)::INTEGER as n from read_parquet('%s')", glob))
		if got := int64(n[0]["n"].(float64)); got != ms[task].Rows {
			t.Errorf("%s: DuckDB counts %d rows, manifest %d", task, got, ms[task].Rows)
		}
	}
	got := query(fmt.Sprintf("select count(*)::INTEGER as n from read_parquet('%s') where len(ab_bins) = (height // ab_stride) * (width // ab_stride) and len(target_ab) = 2 * len(ab_bins)", filepath.Join(out, "colorize", "*.parquet")))
	if int64(got[0]["n"].(float64)) != ms["colorize"].Rows {
		t.Errorf("DuckDB: ab list lengths wrong in some colorize rows: %v", got)
	}
	kinds := query(fmt.Sprintf("select noise, count(*)::INTEGER as n from read_parquet('%s') group by noise order by noise", filepath.Join(out, "denoise", "*.parquet")))
	var total int64
	for _, k := range kinds {
		n := int64(k["n"].(float64))
		total += n
		if ms["denoise"].Stats["noise/"+k["noise"].(string)] != n {
			t.Errorf("DuckDB counts %d %s rows, manifest stats %v", n, k["noise"], ms["denoise"].Stats)
		}
	}
	if total != ms["denoise"].Rows {
		t.Errorf("noise kinds add to %d, rows %d", total, ms["denoise"].Rows)
	}

	// On gs:// and s3:// a rerun's new shards sit beside the old ones until
	// the new manifest lands: readers there follow the manifest, with the
	// README's query. Here an extra shard stands in for an old one.
	dir := filepath.Join(out, "denoise")
	extra, err := os.ReadFile(filepath.Join(dir, ms["denoise"].Shards[0].Path))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "denoise-00000-of-00004.old-run.parquet"), extra, 0o644); err != nil {
		t.Fatal(err)
	}
	n := query(fmt.Sprintf(`SET VARIABLE shards = (
  SELECT list('%s/' || s.path) FROM (SELECT unnest(shards) AS s FROM read_json('%s/_manifest.json')));
SELECT count(*)::INTEGER AS n FROM read_parquet(getvariable('shards'))`, dir, dir))
	if got := int64(n[0]["n"].(float64)); got != ms["denoise"].Rows {
		t.Errorf("DuckDB following the manifest counts %d rows, manifest %d", got, ms["denoise"].Rows)
	}
}

func needDuckDB(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(repo, ".cache", "duckdb", "node_modules", "@duckdb", "node-api")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("DuckDB is not installed: scripts/setup.sh installs it")
		}
		t.Skip("DuckDB not installed (run scripts/setup.sh)")
	}
}

// duckQuery runs sql with DuckDB (scripts/duckdb-query.mjs) and returns its rows.
func duckQuery(t *testing.T, sql string) []map[string]any {
	t.Helper()
	cmd := exec.Command("node", filepath.Join(repo, "scripts", "duckdb-query.mjs"), sql)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb %q: %v\n%s", sql, err, stderr.String())
	}
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("duckdb output %s: %v", b, err)
	}
	return rows
}

func TestMatchFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.jpg", "b.png", "sub/c.jpg", "sub/deep/d.jpg", "sub/e.txt"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
	}
	for _, tc := range []struct {
		pattern string
		limit   int
		want    []string
	}{
		{"/**", 0, []string{"a.jpg", "b.png", "sub/c.jpg", "sub/deep/d.jpg", "sub/e.txt"}},
		{"/**/*.jpg", 0, []string{"a.jpg", "sub/c.jpg", "sub/deep/d.jpg"}},
		{"/*.jpg", 0, []string{"a.jpg"}},
		{"/sub/*", 0, []string{"c.jpg", "e.txt"}},
		{"/**", 2, []string{"a.jpg", "b.png"}},
		{"/sub/c.jpg", 0, []string{"c.jpg"}},
		{"/s?b/**/[cd].jpg", 0, []string{"sub/c.jpg", "sub/deep/d.jpg"}},
	} {
		m, err := MatchFiles(context.Background(), dir+tc.pattern, "", tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range m.Refs {
			keys = append(keys, r.Key)
		}
		sort.Strings(keys)
		if fmt.Sprint(keys) != fmt.Sprint(tc.want) {
			t.Errorf("%s limit %d: keys %v, want %v", tc.pattern, tc.limit, keys, tc.want)
		}
	}
	if _, err := MatchFiles(context.Background(), filepath.Join(dir, "missing")+"/**", "", 0); err == nil {
		t.Error("a missing folder matched without error")
	}
}

// TestNoSideInputs builds the pipeline of every shipped config and fails on
// any ParDo that reads a side input: prism reschedules such a stage in a
// busy loop for as long as its bundle runs (1.5 million turns, a third of
// the CPU of a short text run at GOMAXPROCS=1), so pipelines pass what a
// side input would carry as data (bucketJobs, Finalize's keyed tally).
func TestNoSideInputs(t *testing.T) {
	for _, name := range []string{"quickstart.yaml", "colorize.yaml", "text-bert.yaml", "audio.yaml", "av.yaml"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := configs.Load(filepath.Join(repo, "configs", name))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Output = t.TempDir()
			if cfg.Text.Vocab != "" {
				cfg.Text.Vocab = filepath.Join(repo, cfg.Text.Vocab)
			}
			p, s := beam.NewPipelineWithRoot()
			Build(s, cfg, mustPlan(t, cfg))
			edges, _, err := p.Build()
			if err != nil {
				t.Fatal(err)
			}
			pardos := 0
			for _, e := range edges {
				if e.Op != graph.ParDo {
					continue
				}
				pardos++
				for _, in := range e.Input[1:] {
					t.Errorf("%s reads a side input (%s)", e.Name(), in.Kind)
				}
			}
			if pardos < 5 {
				t.Fatalf("%d ParDos in the %s pipeline: not the pipeline", pardos, name)
			}
		})
	}
}
