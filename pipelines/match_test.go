package pipelines

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// makeTree writes files (name → content) under dir, making their folders.
func makeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// matchSummary is "key" for a reference and "key=stage/reason" for a dead
// letter, sorted.
func matchSummary(m Matches) []string {
	var out []string
	for _, r := range m.Refs {
		out = append(out, r.Key)
	}
	for _, d := range m.Dead {
		out = append(out, d.Key+"="+d.Stage+"/"+d.Reason)
	}
	sort.Strings(out)
	return out
}

// Whatever a local pattern covers is an input or a dead letter of stage
// match: broken links, link loops, names that are not UTF-8 and pipes are
// dead letters; linked files are inputs sized by their targets; linked
// folders and the output folder are left out, each with one warning.
func TestMatchAccountsForEveryFile(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{
		"a.txt":              "aaaa",
		"new\nline.txt":      "n",
		"bad\xffname.txt":    "b",
		"sub/c.txt":          "cc",
		"out/stale.txt":      "an earlier run's file",
		"elsewhere/big.txt":  strings.Repeat("x", 1000),
		"elsewhere/deep.txt": "d",
	})
	symlink(t, filepath.Join(dir, "elsewhere", "big.txt"), filepath.Join(dir, "link.txt"))
	symlink(t, filepath.Join(dir, "missing.txt"), filepath.Join(dir, "broken.txt"))
	symlink(t, filepath.Join(dir, "loop.txt"), filepath.Join(dir, "loop.txt"))
	symlink(t, filepath.Join(dir, "elsewhere"), filepath.Join(dir, "sub", "linkdir"))
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		pattern  string
		want     []string
		warnings int
	}{
		{"/*.txt", []string{
			"a.txt", "bad\\xffname.txt=match/bad_name", "broken.txt=match/broken_link", "link.txt",
			"loop.txt=match/link_loop", "new\nline.txt", "pipe.txt=match/not_a_file",
		}, 0},
		{"/**/*.txt", []string{
			"a.txt", "bad\\xffname.txt=match/bad_name", "broken.txt=match/broken_link",
			"elsewhere/big.txt", "elsewhere/deep.txt", "link.txt",
			"loop.txt=match/link_loop", "new\nline.txt", "pipe.txt=match/not_a_file", "sub/c.txt",
		}, 2}, // the output folder; sub/linkdir
		{"/sub/**", []string{"c.txt"}, 1}, // sub/linkdir
	} {
		m, err := MatchFiles(context.Background(), dir+tc.pattern, out, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchSummary(m); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.pattern, got, tc.want)
		}
		if len(m.Warnings) != tc.warnings {
			t.Errorf("%s: warnings %q, want %d", tc.pattern, m.Warnings, tc.warnings)
		}
		for _, r := range m.Refs {
			if r.Key == "link.txt" && (r.Size != 1000 || r.Source != filepath.Join(dir, "link.txt")) {
				t.Errorf("a linked file is listed as %+v: want the target's size 1000 and the link's path", r)
			}
		}
		for _, d := range m.Dead {
			if d.Source == "" || d.Detail == "" {
				t.Errorf("dead letter without source or detail: %+v", d)
			}
		}
	}
	// The limit counts dead letters as inputs, in key order.
	m, err := MatchFiles(context.Background(), dir+"/*.txt", out, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%q", matchSummary(m)), `["a.txt" "bad\\xffname.txt=match/bad_name" "broken.txt=match/broken_link"]`; got != want {
		t.Errorf("limit 3: %s, want %s", got, want)
	}
}

// A folder that cannot be listed is a dead letter list_error keyed by its
// path (with a trailing '/'), once, and the entries read before the error are
// still walked; a folder no match could be in is neither listed nor a dead
// letter. Root is not stopped by chmod 000, so the listing fails through
// walkLocal's readDir parameter.
func TestMatchListError(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"a.jpg": "a", "locked/b.jpg": "b", "locked/c.jpg": "c", "open/d.jpg": "d"})
	readDir := func(d string) ([]fs.DirEntry, error) {
		entries, err := os.ReadDir(d)
		if filepath.Base(d) == "locked" {
			// As a listing that fails half way: one entry, then the error.
			return entries[:1], &fs.PathError{Op: "readdirent", Path: d, Err: syscall.EACCES}
		}
		return entries, err
	}
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"/**", []string{"a.jpg", "locked/=match/list_error", "locked/b.jpg", "open/d.jpg"}},
		{"/l*/*.jpg", []string{"locked/=match/list_error", "locked/b.jpg"}},
		{"/*.jpg", []string{"a.jpg"}},
		{"/open/*.jpg", []string{"d.jpg"}},
	} {
		pattern := dir + tc.pattern
		re, err := globRegexp(pattern)
		if err != nil {
			t.Fatal(err)
		}
		m, err := walkLocal(pattern, FixedPrefix(pattern), "", re, readDir, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchSummary(m); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %q, want %q", tc.pattern, got, tc.want)
		}
		for _, d := range m.Dead {
			if !strings.Contains(d.Detail, "permission denied") || d.Source != filepath.Join(dir, "locked") {
				t.Errorf("list_error %+v: want the folder and the error", d)
			}
		}
	}
	// The pattern's own folder unlistable is a mistake in the config: an error.
	re, _ := globRegexp(dir + "/**")
	fail := func(string) ([]fs.DirEntry, error) { return nil, syscall.EACCES }
	if _, err := walkLocal(dir+"/**", dir+"/", "", re, fail, false); err == nil {
		t.Error("an unlistable root matched without error")
	}
}

// ** and * agree on what a name may hold: any byte but '/', a newline too;
// literal non-ASCII characters in a pattern match themselves.
func TestGlobNames(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"d/*", "d/new\nline.jpg", true},
		{"d/**", "d/new\nline.jpg", true},
		{"d/**", "d/sub\nfolder/x.jpg", true},
		{"d/**/*.jpg", "d/a\n/b\n.jpg", true},
		{"d/?.jpg", "d/\n.jpg", true},
		{"d/*", "d/sub/x.jpg", false},
		{"d/**.jpg", "d/x.jpg\n", false},
		{"données/*.jpg", "données/été.jpg", true},
		{"d/[é]*", "d/été", true},
		{`d/\*.jpg`, "d/*.jpg", true},
		{`d/\é.jpg`, "d/é.jpg", true},
	} {
		re, err := globRegexp(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if got := re.MatchString(tc.name); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

// The output folder is left out however the pattern names it, and only
// when it is inside what the pattern covers is there a warning.
func TestMatchLeavesOutTheOutput(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"in/a.txt": "a", "in/run/_manifest.json": "{}", "in/run/x/part.txt": "p"})
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	relOut, err := filepath.Rel(wd, filepath.Join(dir, "in", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pattern, output string
		want            []string
		warn            bool
	}{
		{dir + "/in/**", dir + "/in/run", []string{"a.txt"}, true},
		{dir + "/in/**", dir + "/in/run/", []string{"a.txt"}, true},
		{dir + "/in/**", relOut, []string{"a.txt"}, true},
		{dir + "/in/*.txt", dir + "/in/run", []string{"a.txt"}, false},
		{dir + "/in/**", dir + "/elsewhere", []string{"a.txt", "run/_manifest.json", "run/x/part.txt"}, false},
		{dir + "/in/**", "", []string{"a.txt", "run/_manifest.json", "run/x/part.txt"}, false},
	} {
		m, err := MatchFiles(context.Background(), tc.pattern, tc.output, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchSummary(m); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s out %s: %q, want %q", tc.pattern, tc.output, got, tc.want)
		}
		if tc.warn != (len(m.Warnings) == 1) || len(m.Warnings) > 1 {
			t.Errorf("%s out %s: warnings %q", tc.pattern, tc.output, m.Warnings)
		}
		if tc.warn && len(m.Warnings) == 1 && !strings.Contains(m.Warnings[0], "output folder") {
			t.Errorf("warning %q does not name the output folder", m.Warnings[0])
		}
	}
}

// A launch's check stops at the first folder that gives an input instead of
// walking the tree the pipeline walks again: it lists the root and one
// folder of three; the full walk lists all four. An empty tree, or one the
// pattern leaves out, has no match.
func TestAnyLocalMatchStopsEarly(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, map[string]string{"a/1.jpg": "x", "b/2.jpg": "x", "c/3.jpg": "x"})
	re, err := globRegexp(dir + "/**")
	if err != nil {
		t.Fatal(err)
	}
	for _, first := range []bool{true, false} {
		lists := 0
		readDir := func(d string) ([]fs.DirEntry, error) { lists++; return os.ReadDir(d) }
		m, err := walkLocal(dir+"/**", dir+"/", "", re, readDir, first)
		if err != nil {
			t.Fatal(err)
		}
		want, refs := 4, 3
		if first {
			want, refs = 2, 1
		}
		if lists != want || len(m.Refs) != refs {
			t.Errorf("first=%v: %d listings and %d refs, want %d and %d", first, lists, len(m.Refs), want, refs)
		}
	}
	for pattern, want := range map[string]bool{dir + "/**": true, dir + "/*/*.png": false, t.TempDir() + "/**": false} {
		if got, err := AnyLocalMatch(pattern, ""); err != nil || got != want {
			t.Errorf("AnyLocalMatch(%q) = %v, %v; want %v", pattern, got, err, want)
		}
	}
}
