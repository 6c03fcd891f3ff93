package text

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// abbreviations end in a period without ending a sentence (lower-cased,
// without the final period).
var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "st": true, "jr": true, "sr": true, "prof": true,
	"rev": true, "gen": true, "col": true, "capt": true, "lt": true, "sgt": true, "gov": true, "sen": true,
	"rep": true, "hon": true, "messrs": true, "mme": true, "mlle": true, "vs": true, "etc": true, "e.g": true,
	"i.e": true, "viz": true, "cf": true, "no": true, "vol": true, "ch": true, "fig": true, "p": true, "pp": true,
	"jan": true, "feb": true, "mar": true, "apr": true, "jun": true, "jul": true, "aug": true, "sep": true,
	"sept": true, "oct": true, "nov": true, "dec": true, "inc": true, "ltd": true, "co": true, "corp": true,
	"u.s": true, "u.k": true, "a.m": true, "p.m": true, "mt": true, "ft": true,
}

// SplitSentences splits a paragraph into sentences by rule: a sentence ends
// at '.', '!' or '?' (and any closing quotes or brackets after it) followed
// by white space and then an upper-case letter, a digit or an opening quote
// — but not after a known abbreviation (Mr., U.S., e.g.), a single capital
// initial (J. Smith), inside a number (3.14, no space follows) or inside an
// ellipsis followed by a lower-case word.
func SplitSentences(paragraph string) []string {
	p := paragraph
	if !singleSpaced(p) {
		p = strings.Join(strings.Fields(paragraph), " ")
	}
	var out []string
	start := 0
	for i := 0; i < len(p); {
		// '.', '!' and '?' are ASCII: they never occur inside a multi-byte rune.
		k := strings.IndexAny(p[i:], ".!?")
		if k < 0 {
			break
		}
		i += k
		r := rune(p[i])
		end := i + 1
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

// singleSpaced reports whether strings.Join(strings.Fields(s), " ") == s:
// no leading, trailing or repeated white space and no white space but ' '.
func singleSpaced(s string) bool {
	prevSpace := true // a leading space is not single-spaced
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case ' ':
				if prevSpace {
					return false
				}
				prevSpace = true
			case '\t', '\n', '\v', '\f', '\r':
				return false
			default:
				prevSpace = false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			return false
		}
		prevSpace = false
		i += size
	}
	return !prevSpace || len(s) == 0
}

func startsSentence(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsUpper(r) || unicode.IsDigit(r) || strings.ContainsRune("\"'“‘([«", r)
}

// isAbbreviation reports whether text ends with an abbreviation or an initial.
func isAbbreviation(text string) bool {
	i := strings.LastIndexAny(text, " (\"“")
	word := strings.ToLower(strings.TrimLeft(text[i+1:], "\"'“‘("))
	if abbreviations[word] {
		return true
	}
	// A single letter (an initial, "J.") or dotted initials ("U.S", "e.g").
	if utf8.RuneCountInString(word) == 1 {
		r, _ := utf8.DecodeRuneInString(word)
		return unicode.IsLetter(r)
	}
	return strings.Contains(word, ".") && len(strings.ReplaceAll(word, ".", "")) <= 3
}
