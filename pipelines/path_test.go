package pipelines

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
)

// Object names are free text, so an input's key can look like a path that
// leaves a folder. Keys are data: a run over such objects writes only under
// its output folder and stores the keys verbatim in its rows.
func TestHostileKeysStayData(t *testing.T) {
	ctx := context.Background()
	// Three path elements each, so that one pattern matches them all on memfs
	// (whose listing, like an object store's, matches * across "..").
	keys := []string{"../../escape.jpg", "/etc/absolute.jpg", "./../up.jpg", `..\a/../<script>alert(1)<\script>.jpg`}
	photo, err := os.ReadFile(filepath.Join(repo, "testdata", "images", "photos", "flower.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	fs := memfs.New(ctx)
	for i, k := range keys {
		// A trailing byte after the JPEG's end makes each object distinct for dedupe.
		if err := sinks.WriteFile(ctx, fs, "memfs://hostile-keys/in/"+k, append(append([]byte{}, photo...), byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	out := filepath.Join(root, "out")
	cfg := quickstart(t, out)
	cfg.Input = "memfs://hostile-keys/in/*/*/*"
	ms := runVision(t, "prism", cfg)
	if m := ms["colorize"]; m.Inputs != int64(len(keys)) || m.Labeled != int64(len(keys)) {
		t.Errorf("%d inputs, %d labeled; want %d", m.Inputs, m.Labeled, len(keys))
	}
	got := map[string]bool{}
	for _, r := range readRows[sinks.ColorizeRow](t, filepath.Join(out, "colorize"), ms["colorize"]) {
		got[r.Key] = true
	}
	for _, k := range keys {
		if !got[k] {
			t.Errorf("no row keyed %q (rows: %v)", k, got)
		}
	}
	err = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(out, p); strings.HasPrefix(rel, "..") && p != root {
			t.Errorf("%s written outside the output folder", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(root, "escape.jpg"), "/etc/absolute.jpg", filepath.Join(filepath.Dir(root), "escape.jpg")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists", p)
		}
	}
}

// Config values name no folder but the output: task names must be
// registered tasks (a path-like one is a config error), and every dataset
// of a plan is one folder directly in the output.
func TestConfigNamesStayInOutput(t *testing.T) {
	for _, yaml := range []string{
		"modality: image\ninput: x/*\noutput: out\ntasks:\n  ../escape: {}\n",
		"modality: image\ninput: x/*\noutput: out\ntasks:\n  /tmp/abs: {}\n",
	} {
		cfg, err := configs.Parse([]byte(yaml))
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			t.Errorf("config accepted:\n%s", yaml)
		}
	}
	out := t.TempDir()
	plan, err := NewPlan(context.Background(), quickstart(t, out), "run-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plan.Commits {
		if err := c.CheckNames(); err != nil {
			t.Error(err)
		}
		if filepath.Dir(c.Dir) != out {
			t.Errorf("dataset %s goes to %s, not a folder of %s", c.Name, c.Dir, out)
		}
	}
}
