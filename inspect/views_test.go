package inspect

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// labelViews makes views rows of the image fixtures with the task's own
// labeller, as the image pipeline does: each source prepared with im, then
// labelled with cfg; it returns the rows and their statistics.
func labelViews(t *testing.T, im vision.Options, cfg vision.ViewsConfig) ([]vision.ViewsRow, map[string]int64) {
	t.Helper()
	conf, _ := json.Marshal(cfg)
	l, err := vision.NewLabelers([]vision.TaskSpec{{Name: vision.TaskViews, Config: conf}})
	if err != nil {
		t.Fatal(err)
	}
	var rows []vision.ViewsRow
	stats := map[string]int64{}
	for _, name := range []string{"chelsea.jpg", "coffee.jpg", "astronaut.jpg", "gray/camera.png"} {
		source := filepath.Join("..", "testdata", "images", name)
		data, err := os.ReadFile(source)
		if err != nil {
			t.Fatal(err)
		}
		ex, stage, reason, _ := vision.Prepare(name, source, data, im, transforms.Split{Train: 1})
		if stage != "" {
			t.Fatalf("%s: %s %s", name, stage, reason)
		}
		pending, err := l.Label(7, ex)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pending {
			rows = append(rows, p.Row.(vision.ViewsRow))
			for _, s := range p.Stats {
				stats[s]++
			}
		}
	}
	return rows, stats
}

// The views gates pass the labeller's rows, each view made again from its
// source, and fail a labeller that flips a view without saying so in its
// params, that writes one view twice, or that crops outside crop_scale.
func TestViewsGates(t *testing.T) {
	im := vision.DefaultOptions()
	im.Size, im.Encoding = 48, "png"
	cfg := vision.DefaultViewsConfig()
	cfg.Variants = 16
	rows, stats := labelViews(t, im, cfg)
	ds := testDataset{Task: vision.TaskViews, Modality: "image", Config: cfg, Image: im, Stats: stats}
	run := func(rows []vision.ViewsRow) (*Report, *Dataset) {
		t.Helper()
		dir := t.TempDir()
		commitRows(t, dir, ds, rows, nil)
		rep, err := Run(context.Background(), Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return rep, rep.Datasets[0]
	}
	fails := func(what string, rows []vision.ViewsRow, gate string) {
		t.Helper()
		rep, _ := run(rows)
		msg := strings.Join(rep.Failures, "\n")
		if rep.OK || !strings.Contains(msg, "views: "+gate+":") {
			t.Errorf("%s: failures %v, want gate %q to fail", what, rep.Failures, gate)
		}
	}
	rep, d := run(rows)
	if !rep.OK {
		t.Fatalf("the labeller's rows fail: %v", rep.Failures)
	}
	if d.Metrics["reproduced_rows_judged"] != reproduceRows {
		t.Errorf("%v rows judged from their sources, want %d", d.Metrics["reproduced_rows_judged"], reproduceRows)
	}
	gates := map[string]bool{}
	for _, g := range d.Gates {
		gates[g.Name] = true
	}
	for _, g := range []string{"the two views differ", "params fit the row", "parameters drawn in range", "flip share", "jitter share", "gray share", "blur share", "manifest stats match rows", "views reproduce from their params"} {
		if !gates[g] {
			t.Errorf("no gate %q", g)
		}
	}

	// A view flipped after the fact: its params no longer make it.
	flipped := append([]vision.ViewsRow(nil), rows...)
	for i := range flipped {
		img, err := decodeImage(flipped[i].ViewB, "png", int(flipped[i].Width), int(flipped[i].Height))
		if err != nil {
			t.Fatal(err)
		}
		if flipped[i].ViewB, err = vision.Encode(imaging.FlipH(img), vision.Encoding{Format: "png"}); err != nil {
			t.Fatal(err)
		}
	}
	fails("view_b flipped, params_b not", flipped, "views reproduce from their params")

	// One view written twice.
	same := append([]vision.ViewsRow(nil), rows...)
	for i := range same {
		same[i].ViewB, same[i].ParamsB = same[i].ViewA, same[i].ParamsA
	}
	fails("view_b = view_a", same, "the two views differ")

	// A crop smaller than crop_scale allows, its view made to match.
	small := append([]vision.ViewsRow(nil), rows...)
	p, err := vision.ParseViewParams(small[0].ParamsA)
	if err != nil {
		t.Fatal(err)
	}
	p.Crop = [4]int{0, 0, 3, 3}
	b, _ := json.Marshal(p)
	small[0].ParamsA = string(b)
	fails("a 3×3 crop of a 48×48 image", small, "parameters drawn in range")

	// Sources that cannot be read: nothing is made again, and the report
	// says so rather than passing the gate.
	moved := append([]vision.ViewsRow(nil), rows...)
	for i := range moved {
		moved[i].Source = filepath.Join(t.TempDir(), "gone.jpg")
	}
	rep, d = run(moved)
	for _, g := range d.Gates {
		if g.Name == "views reproduce from their params" {
			t.Errorf("sources unreadable: the reproducibility gate ran: %+v", g)
		}
	}
	found := false
	for _, f := range d.Facts {
		found = found || (f.Name == "reproducibility" && strings.Contains(f.Value, "no row could be judged"))
	}
	if !rep.OK || !found {
		t.Errorf("sources unreadable: OK %v, facts %v", rep.OK, d.Facts)
	}
}
