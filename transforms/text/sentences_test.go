package text

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitSentences(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Call me Ishmael. Some years ago I went to sea.", []string{"Call me Ishmael.", "Some years ago I went to sea."}},
		{"Mr. Smith met Dr. Jones at St. Paul's. They talked.", []string{"Mr. Smith met Dr. Jones at St. Paul's.", "They talked."}},
		{"The U.S. Army grew. It cost $3.5 billion in 1942. Really?", []string{"The U.S. Army grew.", "It cost $3.5 billion in 1942.", "Really?"}},
		{"Pi is 3.14 or so. \"Is it?\" she asked. \"Yes!\" He nodded.", []string{"Pi is 3.14 or so.", "\"Is it?\" she asked.", "\"Yes!\"", "He nodded."}},
		{"J. R. R. Tolkien wrote. Then he stopped... and thought. Done.", []string{"J. R. R. Tolkien wrote.", "Then he stopped... and thought.", "Done."}},
		{"Fruit, e.g. apples, is good. Eat it.", []string{"Fruit, e.g. apples, is good.", "Eat it."}},
		{"  no end punctuation  ", []string{"no end punctuation"}},
		{"", nil},
	} {
		if got := SplitSentences(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestSingleSpaced(t *testing.T) {
	for _, s := range []string{
		"", " ", "a", "a b", "a  b", " a", "a ", "a\tb", "a\nb", "a\u00a0b", "a\u2028b", "é ü", "a\u3000b",
		"x\xffy", "\xff", "a \xff b", "Mr. Smith went.  He did.", "one\r", "\u0085", "a\u200bb",
	} {
		want := strings.Join(strings.Fields(s), " ") == s
		if got := singleSpaced(s); got != want {
			t.Errorf("singleSpaced(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzSingleSpaced(f *testing.F) {
	f.Add("a b")
	f.Add("a\u00a0 b ")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := singleSpaced(s), strings.Join(strings.Fields(s), " ") == s; got != want {
			t.Fatalf("singleSpaced(%q) = %v, want %v", s, got, want)
		}
	})
}

// splitSentencesRef is SplitSentences before its fast paths (no Fields/Join
// when the paragraph is single-spaced, IndexAny to the next terminator).
func splitSentencesRef(paragraph string) []string {
	p := strings.Join(strings.Fields(paragraph), " ")
	var out []string
	start := 0
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		if r != '.' && r != '!' && r != '?' {
			i += size
			continue
		}
		end := i + size
		for end < len(p) && strings.ContainsRune(".!?", rune(p[end])) {
			end++
		}
		for end < len(p) {
			c, cs := utf8.DecodeRuneInString(p[end:])
			if !strings.ContainsRune("\"')]}’”»", c) {
				break
			}
			end += cs
		}
		if end >= len(p) || p[end] != ' ' || !startsSentence(p[end+1:]) || (r == '.' && isAbbreviation(p[start:i])) {
			i = end
			continue
		}
		out = append(out, strings.TrimSpace(p[start:end]))
		start = end + 1
		i = start
	}
	if rest := strings.TrimSpace(p[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

func FuzzSplitSentencesRef(f *testing.F) {
	f.Add("Mr. Smith went to Washington. He did! Did he? \"Yes.\" 3.14 is pi... and e.g. this.")
	f.Add("A.\u00a0B.  C?\xff D.")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := SplitSentences(s), splitSentencesRef(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("SplitSentences(%q) = %q, want %q", s, got, want)
		}
	})
}
