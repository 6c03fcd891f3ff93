package text

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestLearnedVocabOnRealText learns a vocabulary from a few MB of real text
// (fetched by scripts/fetch-text.sh) and tokenizes held-out text of the same
// kinds with it and with bert-base-uncased's vocabulary.
func TestLearnedVocabOnRealText(t *testing.T) {
	dir := "../../.cache/text/moby-dick"
	if _, err := os.Stat(filepath.Join(dir, "chapter_135.txt")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("corpus missing: scripts/setup.sh runs scripts/fetch-text.sh")
		}
		t.Skip("corpus not fetched: run scripts/fetch-text.sh")
	}
	read := func(from, to int) string {
		var b strings.Builder
		for i := from; i <= to; i++ {
			data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("chapter_%d.txt", i)))
			if err != nil {
				t.Fatal(err)
			}
			b.Write(data)
			b.WriteByte('\n')
		}
		return b.String()
	}
	// Training text: Moby-Dick chapters 1–115 and the State of the Union
	// addresses up to 1999; held out: chapters 116–135 and the addresses
	// since 2000.
	sotu, _ := filepath.Glob("../../.cache/text/sotu/*.txt")
	sort.Strings(sotu)
	var trainB, heldB strings.Builder
	trainB.WriteString(read(1, 115))
	heldB.WriteString(read(116, 135))
	for _, f := range sotu {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) < "2000" {
			trainB.Write(data)
		} else {
			heldB.Write(data)
		}
		trainB.WriteByte('\n')
	}
	train, heldOut := trainB.String(), heldB.String()
	counts := map[string]int64{}
	for _, line := range strings.Split(train, "\n") {
		for _, w := range BasicTokenize(line, true) {
			counts[w]++
		}
	}
	words := make([]WordCount, 0, len(counts))
	for w, n := range counts {
		words = append(words, WordCount{w, n})
	}
	sort.Slice(words, func(i, j int) bool { return words[i].Word < words[j].Word })
	cfg := DefaultLearnConfig()
	learned := LearnVocab(words, cfg)
	if len(learned) > cfg.Size || len(learned) < cfg.Size*9/10 {
		t.Errorf("learned %d entries for a target of %d", len(learned), cfg.Size)
	}
	for i, r := range cfg.Reserved {
		if learned[i] != r {
			t.Fatalf("entry %d is %q, want %q", i, learned[i], r)
		}
	}
	v, err := ReadVocab(strings.NewReader(strings.Join(learned, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	measure := func(v *Vocab) (unk, perWord float64) {
		tok := NewTokenizer(v, true)
		var nWords, nPieces, nUnk int
		for _, line := range strings.Split(heldOut, "\n") {
			for _, w := range BasicTokenize(line, true) {
				nWords++
				pieces := tok.Tokenize(w)
				nPieces += len(pieces)
				if len(pieces) == 1 && pieces[0] == UNK {
					nUnk++
				}
			}
		}
		return float64(nUnk) / float64(nWords), float64(nPieces) / float64(nWords)
	}
	unk, ours := measure(v)
	bertUnk, bert := measure(loadVocab(t))
	t.Logf("learned %d entries from %d words (%d types, %.1f MB); held-out: [UNK] %.4f%% (bert-base %.4f%%), pieces per word %.4f (bert-base-uncased %.4f, ratio %.3f)",
		len(learned), sumCounts(words), len(words), float64(len(train))/1e6, 100*unk, 100*bertUnk, ours, bert, ours/bert)
	if unk >= 0.01 {
		t.Errorf("[UNK] rate %.4f on held-out text", unk)
	}
	if math.Abs(ours/bert-1) > 0.15 {
		t.Errorf("pieces per word %.4f vs bert-base-uncased %.4f", ours, bert)
	}
}

func sumCounts(words []WordCount) int64 {
	var n int64
	for _, w := range words {
		n += w.Count
	}
	return n
}

func TestLearnVocabSmall(t *testing.T) {
	words := []WordCount{{"jump", 20}, {"jumping", 40}, {"run", 30}, {"running", 50}, {"the", 100}, {"walking", 10}}
	cfg := DefaultLearnConfig()
	cfg.Size = 45
	v := LearnVocab(words, cfg)
	if len(v) > cfg.Size {
		t.Fatalf("%d entries, limit %d", len(v), cfg.Size)
	}
	has := map[string]bool{}
	for _, p := range v {
		if has[p] {
			t.Fatalf("%q twice", p)
		}
		has[p] = true
	}
	for _, want := range []string{"[PAD]", "[UNK]", "the", "j", "##g", "running"} {
		if !has[want] {
			t.Errorf("vocabulary lacks %q: %v", want, v)
		}
	}
	if fmt.Sprint(LearnVocab(words, cfg)) != fmt.Sprint(v) {
		t.Error("not deterministic")
	}
}
