package text

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated fixtures")

const bertCorpus = "../../testdata/text/moby-dick-bert.txt"

// bertFormat renders paragraph-format chapters in BERT's format: one
// sentence per line, a blank line between documents (chapters).
func bertFormat(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob("../../testdata/text/moby-dick/chapter_*.txt")
	sort.Slice(files, func(i, j int) bool {
		var a, b int
		fmt.Sscanf(filepath.Base(files[i]), "chapter_%d.txt", &a)
		fmt.Sscanf(filepath.Base(files[j]), "chapter_%d.txt", &b)
		return a < b
	})
	if len(files) == 0 {
		t.Fatal("no chapters")
	}
	var b strings.Builder
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			b.WriteString("\n")
		}
		for _, para := range strings.Split(string(data), "\n\n") {
			for _, s := range SplitSentences(para) {
				b.WriteString(s + "\n")
			}
		}
	}
	return b.String()
}

// The committed BERT-format fixture is what the splitter makes of the chapters.
func TestBERTCorpusFixture(t *testing.T) {
	want := bertFormat(t)
	if *update {
		if err := os.WriteFile(bertCorpus, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(bertCorpus)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("testdata/text/moby-dick-bert.txt is stale: rerun with -update")
	}
}
