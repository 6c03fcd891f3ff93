package sinks

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// hostileKeys are keys a listing can give (object names are free text) that
// would escape a folder if a key ever named a file.
var hostileKeys = []string{
	"../../escape.jpg", "/etc/passwd", "a/../../../b.png", `..\..\windows.jpg`, "./.staging-r1/x",
	"_manifest.json", "denoise-00000-of-00002.parquet", "nul\x00byte.jpg", "<script>alert(1)</script>.jpg",
}

// Keys are data, never paths: rows keyed by path-like strings are written
// only under the dataset folder, under the sink's own names, and read back
// with their keys unchanged.
func TestKeysNeverBecomePaths(t *testing.T) {
	root := t.TempDir()
	c := dataset(filepath.Join(root, "out"), 2)
	var rows []DenoiseRow
	for i, k := range hostileKeys {
		r := testRows(len(hostileKeys))[i]
		r.Key, r.Variant = k, 0
		rows = append(rows, r)
	}
	m := writeDataset(t, c, rows, 3)
	if got, want := folder(t, root), prefixed("out/denoise/", committedFolder(2)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("files written: %v, want %v", got, want)
	}
	got := readKeys(t, c, m)
	for _, k := range hostileKeys {
		if _, ok := got[k+"/0"]; !ok {
			t.Errorf("key %q did not come back as written", k)
		}
	}
}

func prefixed(p string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + n
	}
	return out
}

// A dataset name or run id names one path element: one that could leave the
// output folder fails the writer and the commit before anything is written.
func TestDatasetNamesStayInFolder(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []struct{ name, runID string }{
		{"../escape", "r1"}, {"/abs", "r1"}, {"..", "r1"}, {"", "r1"}, {`a\b`, "r1"},
		{"denoise", "../../r"}, {"denoise", "/tmp/x"}, {"denoise", ""},
	} {
		root := t.TempDir()
		c := dataset(filepath.Join(root, "out"), 1)
		c.Name, c.RunID = bad.name, bad.runID
		c.Dir = Join(filepath.Join(root, "out"), "denoise")
		if _, err := NewWriter(ctx, c.Dataset); err == nil {
			t.Errorf("NewWriter accepted name %q, run id %q", bad.name, bad.runID)
		}
		if _, err := stage(t, c, nil); err == nil {
			t.Errorf("merge accepted name %q, run id %q", bad.name, bad.runID)
		}
		if err := commitStaged(c, nil, 0, 0); err == nil {
			t.Errorf("commit accepted name %q, run id %q", bad.name, bad.runID)
		}
		if files := folder(t, root); len(files) > 0 {
			t.Errorf("name %q, run id %q: files written %v", bad.name, bad.runID, files)
		}
	}
}
