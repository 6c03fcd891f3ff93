package text

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Vocab is a WordPiece vocabulary: token i is line i of vocab.txt.
type Vocab struct {
	ids    map[string]int32
	tokens []string
	sp     specials
}

// ReadVocab reads a vocab.txt: one token per line, its id the line number.
// An empty file, a blank line or a repeated token is an error.
func ReadVocab(r io.Reader) (*Vocab, error) {
	v := &Vocab{ids: map[string]int32{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		tok := strings.TrimRight(sc.Text(), "\r")
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return nil, fmt.Errorf("vocab line %d is empty", len(v.tokens)+1)
		}
		if _, dup := v.ids[tok]; dup {
			return nil, fmt.Errorf("vocab line %d repeats %q", len(v.tokens)+1, tok)
		}
		v.ids[tok] = int32(len(v.tokens))
		v.tokens = append(v.tokens, tok)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(v.tokens) == 0 {
		return nil, errors.New("vocab is empty")
	}
	if _, ok := v.ids[UNK]; !ok {
		return nil, fmt.Errorf("vocab has no %s token", UNK)
	}
	v.sp = specialsOf(v)
	return v, nil
}

// Special tokens.
const (
	PAD  = "[PAD]"
	UNK  = "[UNK]"
	CLS  = "[CLS]"
	SEP  = "[SEP]"
	MASK = "[MASK]"
)

// ID returns the id of tok.
func (v *Vocab) ID(tok string) (int32, bool) {
	id, ok := v.ids[tok]
	return id, ok
}

// Token returns the token of id ("" if out of range).
func (v *Vocab) Token(id int32) string {
	if id < 0 || int(id) >= len(v.tokens) {
		return ""
	}
	return v.tokens[id]
}

// Size is the number of tokens.
func (v *Vocab) Size() int { return len(v.tokens) }

// maxInputCharsPerWord is BERT's limit: a longer word becomes [UNK].
const maxInputCharsPerWord = 100

// Tokenizer is BERT's FullTokenizer: BasicTokenizer (clean text, split CJK
// characters, whitespace, optional lower-casing with accent stripping,
// punctuation) followed by greedy longest-match-first WordPiece.
type Tokenizer struct {
	v         *Vocab
	lowerCase bool
	unk       int32
}

// NewTokenizer returns a tokenizer over v; lowerCase is BERT's do_lower_case.
func NewTokenizer(v *Vocab, lowerCase bool) *Tokenizer {
	unk, _ := v.ID(UNK)
	return &Tokenizer{v: v, lowerCase: lowerCase, unk: unk}
}

// Tokenize returns the WordPiece tokens of text.
func (t *Tokenizer) Tokenize(text string) []string {
	toks, _ := t.TokenizeIDs(text)
	return toks
}

// TokenizeIDs returns the WordPiece tokens of text and their ids.
func (t *Tokenizer) TokenizeIDs(text string) ([]string, []int32) {
	var toks []string
	var ids []int32
	for _, w := range BasicTokenize(text, t.lowerCase) {
		toks, ids = t.wordPiece(w, toks, ids)
	}
	return toks, ids
}

// Words returns the words of text as BERT's BasicTokenizer splits them.
func (t *Tokenizer) Words(text string) []string { return BasicTokenize(text, t.lowerCase) }

func (t *Tokenizer) wordPiece(word string, toks []string, ids []int32) ([]string, []int32) {
	if utf8.RuneCountInString(word) > maxInputCharsPerWord {
		return append(toks, UNK), append(ids, t.unk)
	}
	n0 := len(toks)
	start := 0
	var buf strings.Builder
	for start < len(word) {
		end := len(word)
		found := false
		for end > start {
			buf.Reset()
			if start > 0 {
				buf.WriteString("##")
			}
			buf.WriteString(word[start:end])
			if id, ok := t.v.ids[buf.String()]; ok {
				toks = append(toks, buf.String())
				ids = append(ids, id)
				found = true
				break
			}
			// Step back one rune.
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if !found {
			return append(toks[:n0], UNK), append(ids[:n0], t.unk)
		}
		start = end
	}
	return toks, ids
}

// BasicTokenize is BERT's BasicTokenizer.tokenize.
func BasicTokenize(text string, lowerCase bool) []string {
	text = cleanText(text)
	text = tokenizeCJK(text)
	var out []string
	for _, tok := range strings.Fields(text) {
		if lowerCase {
			tok = stripAccents(strings.ToLower(tok))
		}
		out = splitPunctuation(tok, out)
	}
	return out
}

// cleanText drops NUL, U+FFFD and control characters and maps whitespace to
// a space, as BERT's _clean_text.
func cleanText(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range text {
		if r == 0 || r == 0xfffd || isControl(r) {
			continue
		}
		if isWhitespace(r) {
			b.WriteByte(' ')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isWhitespace(r rune) bool {
	if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
		return true
	}
	return unicode.Is(unicode.Zs, r)
}

func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

// isPunctuation is BERT's _is_punctuation: ASCII non-alphanumerics are
// punctuation even where Unicode says otherwise ("^", "$", "`").
func isPunctuation(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return unicode.IsPunct(r)
}

// isCJK is BERT's _is_chinese_char: the CJK Unified Ideographs blocks.
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

func tokenizeCJK(text string) string {
	has := false
	for _, r := range text {
		if isCJK(r) {
			has = true
			break
		}
	}
	if !has {
		return text
	}
	var b strings.Builder
	for _, r := range text {
		if isCJK(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stripAccents decomposes (NFD) and drops nonspacing marks (Mn).
func stripAccents(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// splitPunctuation appends the pieces of tok, each punctuation character
// on its own.
func splitPunctuation(tok string, out []string) []string {
	start := 0
	for i, r := range tok {
		if isPunctuation(r) {
			if i > start {
				out = append(out, tok[start:i])
			}
			out = append(out, string(r))
			start = i + utf8.RuneLen(r)
		}
	}
	if start < len(tok) {
		out = append(out, tok[start:])
	}
	return out
}
