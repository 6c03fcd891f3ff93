package pipelines

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"

	"github.com/pretext-dev/pretext/inspect"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/av"
	"github.com/pretext-dev/pretext/transforms/text"
)

func mustInspect(t testing.TB, opts inspect.Options) *inspect.Report {
	t.Helper()
	rep, err := inspect.Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("inspect %s: %v", opts.Dir, err)
	}
	return rep
}

// passes fails the test with the report's summary unless every gate passed.
func passes(t *testing.T, rep *inspect.Report) {
	t.Helper()
	if !rep.OK {
		var b bytes.Buffer
		rep.WriteText(&b)
		t.Fatalf("inspect %s should pass:\n%s", rep.Dir, b.String())
	}
}

// failsWith asserts that the report failed and that each want is part of
// some failure line.
func failsWith(t *testing.T, rep *inspect.Report, want ...string) {
	t.Helper()
	if rep.OK {
		t.Fatalf("inspect %s passed; want failures naming %q", rep.Dir, want)
	}
	all := strings.Join(rep.Failures, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no failure names %q; failures:\n%s", w, all)
		}
	}
}

func datasetOf(t *testing.T, rep *inspect.Report, name string) *inspect.Dataset {
	t.Helper()
	for _, d := range rep.Datasets {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("report of %s has no dataset %s", rep.Dir, name)
	return nil
}

// near asserts that the inspector's value equals an independent reader's.
func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s: inspect measures %.9f, DuckDB %.9f", what, got, want)
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func editManifest(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	name := filepath.Join(dir, sinks.ManifestName)
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sumDuck(t *testing.T, sql string) map[string]any {
	t.Helper()
	rows := duckQuery(t, sql)
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows", sql, len(rows))
	}
	return rows[0]
}

// The quickstart's datasets pass; each kind of damage fails naming what is
// wrong; the report renders; a copy on an object store measures the same.
func TestInspectImages(t *testing.T) {
	out := t.TempDir()
	ms := runVision(t, "prism", quickstart(t, out))
	rep := mustInspect(t, inspect.Options{Dir: out, Sample: 4})
	passes(t, rep)
	if len(rep.Datasets) != 4 {
		t.Fatalf("%d datasets; want colorize, denoise, inpaint, _dead_letters", len(rep.Datasets))
	}
	den := datasetOf(t, rep, "denoise")
	for _, kind := range []string{"gaussian", "salt_pepper", "poisson", "speckle", "masking"} {
		want := float64(ms["denoise"].Stats["noise/"+kind]) / float64(ms["denoise"].Rows)
		if got := den.Metrics["noise_share/"+kind]; math.Abs(got-want) > 1e-12 {
			t.Errorf("denoise %s share %v, manifest %v", kind, got, want)
		}
		if den.Metrics["psnr_db/"+kind] <= 0 {
			t.Errorf("denoise %s: no PSNR measured", kind)
		}
	}
	if got := datasetOf(t, rep, "_dead_letters").Metrics["dead/read/empty_file"]; got != 1 {
		t.Errorf("dead letters read/empty_file: %v, want 1", got)
	}

	t.Run("duckdb", func(t *testing.T) {
		needDuckDB(t)
		glob := func(task string) string { return filepath.Join(out, task, "*.parquet") }
		r := sumDuck(t, fmt.Sprintf("select avg((noise = 'gaussian')::INTEGER)::DOUBLE as g, avg((noise = 'speckle')::INTEGER)::DOUBLE as s from read_parquet('%s')", glob("denoise")))
		near(t, "denoise gaussian share", den.Metrics["noise_share/gaussian"], r["g"].(float64))
		near(t, "denoise speckle share", den.Metrics["noise_share/speckle"], r["s"].(float64))
		r = sumDuck(t, fmt.Sprintf("select avg(source_is_gray::INTEGER)::DOUBLE as g from read_parquet('%s')", glob("colorize")))
		near(t, "colorize gray share", datasetOf(t, rep, "colorize").Metrics["gray_share"], r["g"].(float64))
		r = sumDuck(t, fmt.Sprintf("select avg((mask_kind = 'center')::INTEGER)::DOUBLE as c from read_parquet('%s')", glob("inpaint")))
		near(t, "inpaint center share", datasetOf(t, rep, "inpaint").Metrics["mask_kind_share/center"], r["c"].(float64))
	})

	t.Run("html", func(t *testing.T) {
		page, err := rep.HTML()
		if err != nil {
			t.Fatal(err)
		}
		s := string(page)
		for _, want := range []string{"<svg", "data:image/png;base64,", "noise share: gaussian", "resolution (rows)"} {
			if !strings.Contains(s, want) {
				t.Errorf("HTML report lacks %q", want)
			}
		}
		if n := strings.Count(s, "data:image/png;base64,"); n != 3 {
			t.Errorf("%d contact sheets; want one per image task", n)
		}
		if keys := datasetOf(t, rep, "inpaint").SampleKeys; len(keys) != 4 {
			t.Errorf("inpaint sample %v; want 4 rows", keys)
		}
		screenshot(t, page)
	})

	t.Run("task and thresholds", func(t *testing.T) {
		th, err := inspect.ParseThresholds([]byte("max_dead_letter_share: 0.05\nmax_duplicate_rate: 0.01\n"))
		if err != nil {
			t.Fatal(err)
		}
		r := mustInspect(t, inspect.Options{Dir: out, Task: "denoise", Thresholds: th})
		if len(r.Datasets) != 1 || r.Datasets[0].Task != "denoise" {
			t.Fatalf("--task denoise inspected %d datasets", len(r.Datasets))
		}
		failsWith(t, r, "denoise: dead-letter share: measured 0.2857 (4 of 14 inputs)")
		if strings.Contains(strings.Join(r.Failures, "\n"), "duplicate") {
			t.Errorf("duplicate rate failed: %v", r.Failures)
		}
		if _, err := inspect.ParseThresholds([]byte("max_dead_letters: 1\n")); err == nil {
			t.Error("an unknown threshold key was accepted")
		}
	})

	t.Run("object store", func(t *testing.T) {
		root := "memfs://inspect-images"
		var written []string
		write := func(name string, data []byte) {
			memfs.Write(name, data)
			written = append(written, name)
		}
		t.Cleanup(func() { // memfs lives as long as the process (go test -count=N)
			ctx := context.Background()
			mfs, err := sinks.NewFS(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range written {
				mfs.(sinks.Remover).Remove(ctx, name)
			}
		})
		err := filepath.WalkDir(filepath.Join(out, "denoise"), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			write(root+"/denoise/"+filepath.Base(p), data)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		r := mustInspect(t, inspect.Options{Dir: root})
		passes(t, r)
		if got := datasetOf(t, r, "denoise").Metrics; fmt.Sprint(got) != fmt.Sprint(den.Metrics) {
			t.Errorf("memfs copy measures %v, local %v", got, den.Metrics)
		}
		// An object store has no folders: a staging folder is only seen
		// through the files in it.
		write(root+"/denoise/.staging-run1/part-0.rows.zst", []byte("x"))
		failsWith(t, mustInspect(t, inspect.Options{Dir: root}), "denoise: integrity: .staging-run1: staging folder left behind")
	})

	shard := func(task string, k int) string {
		return filepath.Join(task, fmt.Sprintf("%s-%05d-of-%05d.parquet", task, k, len(ms[task].Shards)))
	}
	for _, tc := range []struct {
		name   string
		damage func(dir string)
		want   []string
	}{
		{"shard removed", func(dir string) { os.Remove(filepath.Join(dir, shard("denoise", 1))) },
			[]string{"denoise: integrity: denoise-00001-of-00004.parquet: missing or unreadable"}},
		{"byte flipped", func(dir string) {
			name := filepath.Join(dir, shard("inpaint", 0))
			data, _ := os.ReadFile(name)
			data[len(data)/2] ^= 0x40
			os.WriteFile(name, data, 0o644)
		}, []string{"inpaint: integrity: inpaint-00000-of-00004.parquet: sha256"}},
		{"manifest count changed", func(dir string) {
			editManifest(t, filepath.Join(dir, "colorize"), func(m map[string]any) { m["labeled"] = m["labeled"].(float64) + 1 })
		}, []string{"colorize: integrity: manifest: inputs 14 != labeled 10 + filtered 1 + dead letters 4"}},
		{"manifest rows changed", func(dir string) {
			editManifest(t, filepath.Join(dir, "denoise"), func(m map[string]any) { m["rows"] = m["rows"].(float64) - 1 })
		}, []string{"denoise: integrity: manifest: rows 17 but shards hold 18"}},
		{"manifest stats changed", func(dir string) {
			editManifest(t, filepath.Join(dir, "denoise"), func(m map[string]any) {
				st := m["stats"].(map[string]any)
				st["noise/gaussian"] = st["noise/gaussian"].(float64) + 1
			})
		}, []string{"denoise: manifest stats match rows"}},
		{"no manifest", func(dir string) { os.Remove(filepath.Join(dir, "inpaint", sinks.ManifestName)) },
			[]string{"inpaint: complete: measured no _manifest.json", "inpaint: dataset is incomplete"}},
		{"manifest does not decode", func(dir string) {
			os.WriteFile(filepath.Join(dir, "colorize", sinks.ManifestName), []byte(`{"task": "colorize", "rows": "nine"}`), 0o644)
		}, []string{"colorize: integrity: sinks: bad manifest"}},
		{"stray shard", func(dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, shard("colorize", 0)))
			os.WriteFile(filepath.Join(dir, "colorize", "colorize-00004-of-00005.parquet"), data, 0o644)
		}, []string{"colorize: integrity: colorize-00004-of-00005.parquet: a shard that the manifest does not list"}},
		{"staging left behind", func(dir string) {
			os.MkdirAll(filepath.Join(dir, "denoise", ".staging-run1"), 0o755)
			os.WriteFile(filepath.Join(dir, "denoise", ".staging-run1", "p0.rows.zst"), []byte("x"), 0o644)
		}, []string{"denoise: integrity: .staging-run1: staging folder left behind"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, out)
			tc.damage(dir)
			r := mustInspect(t, inspect.Options{Dir: dir})
			failsWith(t, r, tc.want...)
			if _, err := r.HTML(); err != nil {
				t.Errorf("HTML of a damaged run: %v", err)
			}
		})
	}

	t.Run("dataset folder without manifest", func(t *testing.T) {
		dir := copyDir(t, filepath.Join(out, "denoise"))
		os.Remove(filepath.Join(dir, sinks.ManifestName))
		r := mustInspect(t, inspect.Options{Dir: dir})
		failsWith(t, r, "denoise: complete")
		if d := r.Datasets[0]; d.Status != "incomplete" || d.Task != "denoise" {
			t.Errorf("status %q task %q; want incomplete denoise", d.Status, d.Task)
		}
	})
}

func mobyDick() string { return filepath.Join(repo, "testdata", "text", "moby-dick-bert.txt") }

func bertVocab() string {
	return filepath.Join(repo, "testdata", "wordpiece", "vocab-bert-base-uncased.txt")
}

// mlm_nsp: the measured mask rate, split and random-next share are what
// DuckDB computes; with no vocab the [MASK] id is inferred; a dataset made
// with masked_lm_prob 0.30 fails against the 0.15 config.
func TestInspectText(t *testing.T) {
	out := t.TempDir()
	cfg := textConfig(t, mobyDick(), out)
	runText(t, "prism", cfg)
	rep := mustInspect(t, inspect.Options{Dir: out, VocabPath: bertVocab(), Sample: 3})
	passes(t, rep)
	d := datasetOf(t, rep, "mlm_nsp")
	if d.Metrics["unk_rate"] != 0 || d.Metrics["mask_id"] != 103 || len(d.SampleKeys) != 3 {
		t.Errorf("unk rate %v, [MASK] id %v, sample %v", d.Metrics["unk_rate"], d.Metrics["mask_id"], d.SampleKeys)
	}
	page, err := rep.HTML()
	if err != nil || !bytes.Contains(page, []byte(`class="tok seg-a masked"`)) || !bytes.Contains(page, []byte("[MASK]")) {
		t.Errorf("HTML report has no masked tokens (err %v)", err)
	}

	t.Run("duckdb", func(t *testing.T) {
		needDuckDB(t)
		r := sumDuck(t, fmt.Sprintf("select sum(len(masked_lm_positions))::DOUBLE / sum(len(input_ids) - 3) as rate, "+
			"sum(len(list_filter(input_ids, x -> x = 103)))::DOUBLE / sum(len(masked_lm_positions)) as mask, "+
			"avg(is_random_next::INTEGER)::DOUBLE as rn from read_parquet('%s')", filepath.Join(out, "mlm_nsp", "*.parquet")))
		near(t, "effective mask rate", d.Metrics["mask_rate"], r["rate"].(float64))
		near(t, "[MASK] share", d.Metrics["mask_token_share"], r["mask"].(float64))
		near(t, "random-next share", d.Metrics["random_next_share"], r["rn"].(float64))
	})

	t.Run("no vocab", func(t *testing.T) {
		r := mustInspect(t, inspect.Options{Dir: out})
		passes(t, r)
		nd := datasetOf(t, r, "mlm_nsp")
		if nd.Metrics["mask_id"] != 103 || nd.Metrics["mask_token_share"] != d.Metrics["mask_token_share"] {
			t.Errorf("inferred [MASK] id %v share %v; with the vocab 103, %v", nd.Metrics["mask_id"], nd.Metrics["mask_token_share"], d.Metrics["mask_token_share"])
		}
		if !strings.Contains(strings.Join(nd.Notes, " "), "no vocabulary") {
			t.Errorf("notes %q do not say the vocab is missing", nd.Notes)
		}
	})

	t.Run("masked_lm_prob 0.30 against 0.15", func(t *testing.T) {
		hot := t.TempDir()
		c30 := textConfig(t, mobyDick(), hot)
		c30.Tasks["mlm_nsp"].(*text.InstanceConfig).MaskedLMProb = 0.30
		runText(t, "prism", c30)
		passes(t, mustInspect(t, inspect.Options{Dir: hot, VocabPath: bertVocab()})) // against its own manifest
		r := mustInspect(t, inspect.Options{Dir: hot, VocabPath: bertVocab(), Config: &cfg, ConfigName: "configs/text-bert.yaml"})
		failsWith(t, r, "mlm_nsp: mask rate: measured", "mlm_nsp: masked positions per row")
		if nd := datasetOf(t, r, "mlm_nsp"); nd.ConfigSource != "configs/text-bert.yaml" || !strings.Contains(strings.Join(nd.Notes, " "), "not the one the dataset was made with") {
			t.Errorf("config source %q, notes %q", nd.ConfigSource, nd.Notes)
		}
	})
}

// audio_mask on the committed audio: every gate passes and the counts from
// the rows are the manifest's.
func TestInspectAudio(t *testing.T) {
	needFFmpeg(t)
	out := t.TempDir()
	ms := runText(t, "prism", loadConfig(t, "audio.yaml", filepath.Join(repo, "testdata", "audio")+"/**", out, nil))
	rep := mustInspect(t, inspect.Options{Dir: out, Sample: 2})
	passes(t, rep)
	d := datasetOf(t, rep, "audio_mask")
	m := ms["audio_mask"]
	near(t, "masked cell share", d.Metrics["masked_cell_share"], float64(m.Stats["masked_cells"])/float64(m.Stats["cells"]))
	if page, err := rep.HTML(); err != nil || strings.Count(string(page), "data:image/png;base64,") != 1 {
		t.Errorf("HTML report: %v, want one contact sheet", err)
	}
	if got := datasetOf(t, rep, sinks.DeadLetters).Metrics["dead/decode/truncated"]; got != 1 {
		t.Errorf("dead letters decode/truncated: %v, want 1", got)
	}
}

// av_correspond on the committed clips: every gate passes, and the positive
// share is what DuckDB computes.
func TestInspectVideo(t *testing.T) {
	needFFmpeg(t)
	out := t.TempDir()
	runText(t, "prism", loadConfig(t, "av.yaml", filepath.Join(repo, "testdata", "video")+"/**", out, nil))
	rep := mustInspect(t, inspect.Options{Dir: out, Sample: 3})
	passes(t, rep)
	d := datasetOf(t, rep, av.TaskCorrespond)
	t.Run("duckdb", func(t *testing.T) {
		needDuckDB(t)
		r := sumDuck(t, fmt.Sprintf("select avg(label)::DOUBLE as p, avg((negative_kind = 'time_shift')::INTEGER) filter (where label = 0) as ts from read_parquet('%s')",
			filepath.Join(out, av.TaskCorrespond, "*.parquet")))
		near(t, "positive share", d.Metrics["positive_share"], r["p"].(float64))
		near(t, "time_shift share of negatives", d.Metrics["time_shift_share"], r["ts"].(float64))
	})
}

// Inspecting 10× the rows holds no more memory: the peak live heap of
// inspecting a text dataset and 10 copies of it differ by less than 8 MB.
func TestInspectMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 50,000 rows")
	}
	corpus := t.TempDir()
	data, err := os.ReadFile(mobyDick())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := os.WriteFile(filepath.Join(corpus, fmt.Sprintf("copy%02d.txt", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	one, ten := t.TempDir(), t.TempDir()
	runText(t, "prism", textConfig(t, mobyDick(), one))
	runText(t, "prism", textConfig(t, filepath.Join(corpus, "*.txt"), ten))
	// With the collector running at every 1% of growth, the heap in use is
	// the live heap (what the inspector holds) plus little garbage, rather
	// than an amount that depends on GC timing; it is sampled every
	// millisecond.
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	peak := func(dir string) (uint64, int64) {
		// The runner of the pipelines before may still be releasing memory:
		// wait until the heap has settled, so that the baseline holds.
		var base runtime.MemStats
		for i, last := 0, uint64(0); i < 50; i++ {
			runtime.GC()
			runtime.ReadMemStats(&base)
			if i > 0 && max(base.HeapInuse, last)-min(base.HeapInuse, last) < 256<<10 {
				break
			}
			last = base.HeapInuse
			time.Sleep(50 * time.Millisecond)
		}
		var top uint64
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				top = max(top, ms.HeapInuse)
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		rep := mustInspect(t, inspect.Options{Dir: dir, VocabPath: bertVocab()})
		close(stop)
		<-done
		passes(t, rep)
		return top - min(top, base.HeapInuse), datasetOf(t, rep, "mlm_nsp").Counts.RowsRead
	}
	p1, n1 := peak(one)
	p10, n10 := peak(ten)
	t.Logf("peak heap in use above the baseline (GC at 1%%): %d rows %.1f MB, %d rows %.1f MB", n1, float64(p1)/(1<<20), n10, float64(p10)/(1<<20))
	if n10 < 9*n1 {
		t.Fatalf("%d and %d rows: the larger dataset is not 10×", n1, n10)
	}
	if p10 > p1+8<<20 {
		t.Errorf("peak heap grew from %.1f MB to %.1f MB with 10× the rows", float64(p1)/(1<<20), float64(p10)/(1<<20))
	}
}

// screenshot renders page with headless Chromium (scripts/screenshot-report.sh)
// and checks that what a person sees holds the contact sheets and charts:
// a page of text and boxes has a few hundred colours, photos thousands.
// Skipped without Chromium, except under CI, whose set-up installs it.
func screenshot(t *testing.T, page []byte) {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil && os.Getenv("CI") == "" {
		t.Log("no chromium: the report's screenshot is not taken (scripts/setup.sh installs it under CI)")
		return
	}
	dir := t.TempDir()
	html, shot := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.png")
	if err := os.WriteFile(html, page, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(repo, "scripts", "screenshot-report.sh"), html, shot, "1280,3000")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("screenshot-report.sh: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != 1280 || b.Dy() != 3000 {
		t.Errorf("screenshot is %v; want 1280×3000", b)
	}
	colours := map[[3]uint32]bool{}
	blue := 0 // the histograms' bars, #3b7dd8
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r>>8 < 0x50 && g>>8 > 0x60 && g>>8 < 0x90 && bl>>8 > 0xc0 {
				blue++
			}
		}
	}
	if len(colours) < 2000 {
		t.Errorf("the screenshot has %d colours: the contact sheets did not render", len(colours))
	}
	if blue < 1000 {
		t.Errorf("the screenshot has %d bar-blue pixels: the histograms did not render", blue)
	}
	t.Logf("screenshot %v: %d colours, %d bar-blue pixels", b, len(colours), blue)
}
