package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/text"
)

// The pipelines count match dead letters as inputs like any other: a run
// over good images beside a broken link, a link loop, a name that is not
// UTF-8, a pipe and a stale file in the output folder (inside the pattern)
// labels the good images, a linked one and one whose name holds a newline
// among them, and writes one dead letter for each bad entry.
func TestMatchDeadLettersInVision(t *testing.T) {
	in := t.TempDir()
	photos := fixtures(t, "images/photos/*.jpg")
	if len(photos) < 3 {
		t.Fatalf("want 3 photos, have %d", len(photos))
	}
	copyFile := func(src, dst string) {
		t.Helper()
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		makeTree(t, in, map[string]string{dst: string(data)})
	}
	copyFile(photos[0], "good/plain.jpg")
	copyFile(photos[1], "good/new\nline.jpg")
	abs, err := filepath.Abs(photos[2])
	if err != nil {
		t.Fatal(err)
	}
	symlink(t, abs, filepath.Join(in, "good", "linked.jpg"))
	makeTree(t, in, map[string]string{"bad/name\xff.jpg": "x", "out/stale/old.jpg": "not an image"})
	symlink(t, filepath.Join(in, "missing.jpg"), filepath.Join(in, "bad", "broken.jpg"))
	symlink(t, filepath.Join(in, "bad", "loop.jpg"), filepath.Join(in, "bad", "loop.jpg"))
	if err := syscall.Mkfifo(filepath.Join(in, "bad", "pipe.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(in, "out")
	cfg := quickstart(t, out)
	cfg.Input = in + "/**"
	before := liveProgress()
	ms := runVision(t, "prism", cfg)
	checkLive(t, before, ms["colorize"])
	want := map[string]string{
		"good/plain.jpg":     labeled,
		"good/new\nline.jpg": labeled,
		"good/linked.jpg":    labeled,
		`bad/name\xff.jpg`:   "match/bad_name",
		"bad/broken.jpg":     "match/broken_link",
		"bad/loop.jpg":       "match/link_loop",
		"bad/pipe.jpg":       "match/not_a_file",
	}
	for _, task := range []string{"colorize", "denoise", "inpaint"} {
		checkOutcomes(t, out, task, ms, len(want), want)
	}
}

// A symlink at path P gives byte-identical rows to a regular file with the
// same bytes at P: the link is sized, ranged and read by its target (its own
// size once cut the file to its first document), keyed by its own path.
func TestTextSymlinkSameRows(t *testing.T) {
	book, err := filepath.Abs(filepath.Join(repo, "testdata", "text", "moby-dick-bert.txt"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(book)
	if err != nil {
		t.Fatal(err)
	}
	copied, linked := t.TempDir(), t.TempDir()
	makeTree(t, copied, map[string]string{"corpus/book.txt": string(data)})
	if err := os.MkdirAll(filepath.Join(linked, "corpus"), 0o755); err != nil {
		t.Fatal(err)
	}
	symlink(t, book, filepath.Join(linked, "corpus", "book.txt"))
	outA, outB := t.TempDir(), t.TempDir()
	cfgA, cfgB := textConfig(t, copied+"/corpus/*.txt", outA), textConfig(t, linked+"/corpus/*.txt", outB)
	cfgA.Text.RangeMB, cfgB.Text.RangeMB = 1, 1
	ma, mb := runText(t, "prism", cfgA)[text.TaskMLMNSP], runText(t, "prism", cfgB)[text.TaskMLMNSP]
	if ma.Inputs != 20 || mb.Inputs != ma.Inputs || mb.Rows != ma.Rows {
		t.Errorf("copy: %d inputs %d rows; link: %d inputs %d rows; want 20 documents each", ma.Inputs, ma.Rows, mb.Inputs, mb.Rows)
	}
	sameShards(t, "copy vs symlink", dirBytes(t, outA), dirBytes(t, outB))
}

// A text file of only blank lines (spaces, tabs, \r\n) is one input and a
// dead letter tokenize/no_tokens in every format, and a broken link beside
// it is one input and a dead letter match/broken_link: the manifest adds up
// and the live progress agrees.
func TestTextBlankFileAndMatchDeadLetters(t *testing.T) {
	chapters := fixtures(t, "text/moby-dick/chapter_*.txt")[:3]
	for _, format := range []string{"lines", "paragraphs"} {
		t.Run(format, func(t *testing.T) {
			in := t.TempDir()
			files := map[string]string{"blank.txt": "  \n\t\n\r\n\n \t \r\n"}
			for _, ch := range chapters {
				data, err := os.ReadFile(ch)
				if err != nil {
					t.Fatal(err)
				}
				files[filepath.Base(ch)] = string(data)
			}
			makeTree(t, in, files)
			symlink(t, filepath.Join(in, "gone.txt"), filepath.Join(in, "broken.txt"))
			out := t.TempDir()
			cfg := textConfig(t, in+"/*.txt", out)
			cfg.Text.Format = format
			before := liveProgress()
			ms := runText(t, "prism", cfg)
			m := ms[text.TaskMLMNSP]
			checkLive(t, before, m)
			var filtered int64
			for _, n := range m.Filtered {
				filtered += n
			}
			if m.Inputs != m.Labeled+filtered+m.DeadLetters || m.Labeled == 0 {
				t.Errorf("inputs %d != labeled %d + filtered %d + dead letters %d", m.Inputs, m.Labeled, filtered, m.DeadLetters)
			}
			got := map[string]string{}
			for _, d := range readRows[sinks.DeadLetter](t, filepath.Join(out, sinks.DeadLetters), ms[sinks.DeadLetters]) {
				got[d.Key] = d.Stage + "/" + d.Reason
			}
			want := map[string]string{DocKey("blank.txt", 0): "tokenize/no_tokens", "broken.txt": "match/broken_link"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("dead letters %v, want %v", got, want)
			}
			if m.DeadLetterReasons["match/broken_link"] != 1 || m.DeadLetterReasons["tokenize/no_tokens"] != 1 {
				t.Errorf("manifest dead-letter reasons %v", m.DeadLetterReasons)
			}
		})
	}
}

// Only the range at 0 reports a blank-only file, whatever the range size,
// and a file with a document after blank lines past the first range is not
// reported.
func TestReadDocumentsBlankFile(t *testing.T) {
	for _, tc := range []struct {
		data string
		want string
	}{
		{"  \n\t\n\r\n\n", "[{0 [] no_tokens the file has only blank lines}]"},
		{"\n\n\n   ", "[{0 [] no_tokens the file has only blank lines}]"},
		{"\n\n\n\n\n\nword.\n", "[{6 [word.]  }]"},
		{"\n\n\n\n\n\n" + strings.Repeat("x", 40) + "\n\n\n", "[{6 [xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx]  }]"},
	} {
		for _, rb := range []int64{0, 1, 2, 3, 5, 100} {
			if got := fmt.Sprint(readAllCapped(t, []byte(tc.data), rb, 1<<10, 1<<20)); got != tc.want {
				t.Errorf("%q range %d: %s, want %s", tc.data, rb, got, tc.want)
			}
		}
	}
}
