package text

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzTokenize: any bytes, valid UTF-8 or not, tokenize without a panic into
// ids that are in the vocabulary and tokens that match them, and sentence
// splitting loses no non-space character.
func FuzzTokenize(f *testing.F) {
	vf, err := os.Open(filepath.Join("..", "..", "testdata", "wordpiece", "vocab-bert-base-uncased.txt"))
	if err != nil {
		f.Fatal(err)
	}
	v, err := ReadVocab(vf)
	vf.Close()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"Call me Ishmael.", "Mr. Smith paid $3.50 in the U.S. on 1.5.2020.", "naïve café 北京 \u0000\u00ad", "\xff\xfe broken", ""} {
		f.Add(s)
	}
	if data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "text", "moby-dick", "chapter_1.txt")); err == nil {
		f.Add(string(data[:min(len(data), 2000)]))
	}
	tok := NewTokenizer(v, true)
	cased := NewTokenizer(v, false)
	f.Fuzz(func(t *testing.T, s string) {
		for _, tk := range []*Tokenizer{tok, cased} {
			toks, ids := tk.TokenizeIDs(s)
			if len(toks) != len(ids) {
				t.Fatalf("%d tokens, %d ids", len(toks), len(ids))
			}
			for i, id := range ids {
				if id < 0 || int(id) >= v.Size() || v.Token(id) != toks[i] {
					t.Fatalf("token %q has id %d (%q)", toks[i], id, v.Token(id))
				}
			}
		}
		if !utf8.ValidString(s) {
			return
		}
		count := func(x string) (n int) {
			for _, r := range x {
				if r != ' ' && r != '\t' && r != '\n' && r != '\r' {
					n++
				}
			}
			return n
		}
		total := 0
		for _, sent := range SplitSentences(s) {
			total += count(sent)
		}
		if total > count(s) {
			t.Fatalf("sentences hold %d characters, the paragraph %d", total, count(s))
		}
	})
}
