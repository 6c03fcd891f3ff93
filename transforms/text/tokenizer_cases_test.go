package text

import (
	"slices"
	"strings"
	"testing"
)

// Hard cases beyond the golden file, each expectation produced by
// google-research/bert's tokenization.py (FullTokenizer) with the
// bert-base-uncased vocabulary.
func TestTokenizeReferenceCases(t *testing.T) {
	v := loadVocab(t)
	for _, tc := range []struct {
		name  string
		lower bool
		in    string
		want  []string
	}{
		{"final sigma", true, "ΟΔΟΣ ΟΔΟΣ. Σ ΑΣ", []string{"ο", "##δ", "##ος", "ο", "##δ", "##ος", ".", "σ", "α", "##ς"}},
		{"final sigma across case-ignorables", true, "ΣΑ'Σ ἈΣ.", []string{"σ", "##α", "'", "ς", "α", "##ς", "."}},
		{"private use is kept", true, "private \ue000x\ue001 use", []string{"private", "[UNK]", "use"}},
		{"unicode white space", true, "a\u2028b\u2029c\u3000d\u00a0e", []string{"a", "b", "c", "d", "e"}},
		{"punctuation after NFD", true, "why\u037e yes\u0387no", []string{"why", ";", "yes", "·", "no"}},
		{"CJK compatibility ideographs", true, "\uf900\uf901abc\u4e00", []string{"[UNK]", "[UNK]", "abc", "一"}},
		{"controls dropped", true, "tab\x0bvt\x0cff\x1cfs\u0085nel\x00x\ufffdy", []string{"tab", "##v", "##tf", "##ffs", "##nel", "##xy"}},
		{"format characters dropped", true, "x\u00adsoft\u200bzw\u200dj", []string{"x", "##so", "##ft", "##z", "##w", "##j"}},
		{"special casing", true, "İstanbul ǅemal Straße", []string{"istanbul", "[UNK]", "st", "##raße"}},
		{"cased keeps accents", false, "Héllo, WORLD! naïve café", []string{"[UNK]", ",", "[UNK]", "!", "[UNK]", "[UNK]"}},
		{"ASCII punctuation", true, "$5^2`~ a#b", []string{"$", "5", "^", "2", "`", "~", "a", "#", "b"}},
		{"100 characters", true, strings.Repeat("a", 100), append(append([]string{"aaa"}, slices.Repeat([]string{"##aa"}, 48)...), "##a")},
		{"101 characters", true, strings.Repeat("a", 101), []string{"[UNK]"}},
		{"101 characters after accent stripping", true, strings.Repeat("é", 101), []string{"[UNK]"}},
		{"accents do not count", true, strings.Repeat("e\u0301", 60), append([]string{"ee"}, slices.Repeat([]string{"##ee"}, 29)...)},
		// Python decodes bytes with errors="ignore": invalid UTF-8 vanishes.
		{"invalid UTF-8", true, "\xffab\xfe c", []string{"ab", "c"}},
		{"empty", true, " \t\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toks, ids := NewTokenizer(v, tc.lower).TokenizeIDs(tc.in)
			if len(toks) == 0 {
				toks = nil
			}
			if !slices.Equal(toks, tc.want) {
				t.Fatalf("got %q\nwant %q", toks, tc.want)
			}
			for i, id := range ids {
				if v.Token(id) != toks[i] {
					t.Fatalf("id %d is %q, token %q", id, v.Token(id), toks[i])
				}
			}
		})
	}
}

func TestBasicTokenize(t *testing.T) {
	got := BasicTokenize("Héllo,\u00a0WORLD!\x00 日本", true)
	if want := []string{"hello", ",", "world", "!", "日", "本"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestTokenizeAllocs(t *testing.T) {
	tok := NewTokenizer(loadVocab(t), true)
	line := "Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse."
	if n := testing.AllocsPerRun(100, func() { tok.TokenizeIDs(line) }); n > 2 {
		t.Errorf("%v allocations per sentence, want the two result slices", n)
	}
}
