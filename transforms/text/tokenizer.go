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
	// cont holds the continuation pieces ("##ing") keyed without their
	// "##"; maxWord and maxCont are the longest keys of ids and cont in
	// bytes.
	cont             map[string]int32
	maxWord, maxCont int
}

// ReadVocab reads a vocab.txt: one token per line, its id the line number.
// Lines are trimmed of surrounding white space, as BERT's load_vocab does.
// An empty file, a line that is not UTF-8, a blank line, a repeated token
// or a vocabulary without [UNK] is an error.
func ReadVocab(r io.Reader) (*Vocab, error) {
	v := &Vocab{ids: map[string]int32{}, cont: map[string]int32{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if !utf8.Valid(sc.Bytes()) {
			return nil, fmt.Errorf("vocab line %d is not UTF-8 text (is this a vocab.txt, one token a line?)", len(v.tokens)+1)
		}
		tok := strings.TrimSpace(sc.Text())
		if tok == "" {
			return nil, fmt.Errorf("vocab line %d is empty", len(v.tokens)+1)
		}
		if _, dup := v.ids[tok]; dup {
			return nil, fmt.Errorf("vocab line %d repeats %q", len(v.tokens)+1, tok)
		}
		id := int32(len(v.tokens))
		v.ids[tok] = id
		v.tokens = append(v.tokens, tok)
		v.maxWord = max(v.maxWord, len(tok))
		if body, ok := strings.CutPrefix(tok, "##"); ok && body != "" {
			v.cont[body] = id
			v.maxCont = max(v.maxCont, len(body))
		}
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
// punctuation) followed by greedy longest-match-first WordPiece. It
// reproduces google-research/bert's tokenization.py token for token,
// including Python's context-dependent lower-casing of a final capital
// sigma. A Tokenizer keeps no state between calls and is safe for
// concurrent use.
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

// TokenizeIDs returns the WordPiece tokens of text and their ids. The
// token strings are the vocabulary's own (no copies).
func (t *Tokenizer) TokenizeIDs(text string) ([]string, []int32) {
	b := basic{lowerCase: t.lowerCase, t: t}
	// English text has a token for every four to five bytes.
	b.toks = make([]string, 0, len(text)/4+4)
	b.ids = make([]int32, 0, cap(b.toks))
	b.run(text)
	return b.toks, b.ids
}

// Words returns the words of text as BERT's BasicTokenizer splits them.
func (t *Tokenizer) Words(text string) []string { return BasicTokenize(text, t.lowerCase) }

// BasicTokenize is BERT's BasicTokenizer.tokenize.
func BasicTokenize(text string, lowerCase bool) []string {
	b := basic{lowerCase: lowerCase}
	b.run(text)
	return b.words
}

// basic is BERT's BasicTokenizer in one pass over the text, without a
// copy of it: _clean_text (drop NUL, U+FFFD, invalid UTF-8 and control
// characters; white space separates), _tokenize_chinese_chars (a CJK
// ideograph is a token of its own), whitespace split, lower-casing and
// accent stripping when lowerCase, and _run_split_on_punc. Each token goes
// to WordPiece when t is set, else to words.
type basic struct {
	lowerCase bool
	t         *Tokenizer
	toks      []string
	ids       []int32
	words     []string
	// Scratch for the rare white-space token that lower-casing lengthens
	// or that NFD changes.
	low, nfd []byte
}

func (b *basic) run(text string) {
	// The current white-space token; a local array, so that it stays on
	// the stack.
	var buf [128]byte
	word := buf[:0]
	ascii := true
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r':
				b.flush(word, ascii)
				word, ascii = word[:0], true
			case c < 0x20 || c == 0x7f:
				// Control (Cc), NUL included.
			default:
				word = append(word, c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		raw := text[i : i+size]
		i += size
		switch {
		case r == utf8.RuneError:
			// U+FFFD, or a byte that is not UTF-8 (Python's
			// decode(errors="ignore") drops it too).
		case isControl(r):
		case unicode.IsSpace(r):
			// Zs, and the line and paragraph separators Python's
			// str.split also splits on.
			b.flush(word, ascii)
			word, ascii = word[:0], true
		case isCJK(r):
			b.flush(word, ascii)
			b.flush(append(word[:0], raw...), false)
			word, ascii = word[:0], true
		default:
			word = append(word, raw...)
			ascii = false
		}
	}
	b.flush(word, ascii)
}

// wordPiece appends the WordPiece tokens of one basic token, or [UNK] when
// it is longer than 100 characters or some part of it matches no piece.
func (t *Tokenizer) wordPiece(word []byte, toks []string, ids []int32) ([]string, []int32) {
	if len(word) > maxInputCharsPerWord && utf8.RuneCount(word) > maxInputCharsPerWord {
		return append(toks, UNK), append(ids, t.unk)
	}
	n0 := len(toks)
	for start := 0; start < len(word); {
		m, limit := t.v.ids, t.v.maxWord
		if start > 0 {
			m, limit = t.v.cont, t.v.maxCont
		}
		// Longest first, one rune shorter each time; nothing longer than
		// the longest entry can match, so the search starts there. The
		// lookup key is the bytes themselves (no "##" to prepend, no
		// string allocated).
		end := len(word)
		if end-start > limit {
			end = start + limit
			for end > start && !utf8.RuneStart(word[end]) {
				end--
			}
		}
		id := int32(-1)
		for end > start {
			if got, ok := m[string(word[start:end])]; ok {
				id = got
				break
			}
			end--
			for end > start && !utf8.RuneStart(word[end]) {
				end--
			}
		}
		if id < 0 {
			return append(toks[:n0], UNK), append(ids[:n0], t.unk)
		}
		toks = append(toks, t.v.tokens[id])
		ids = append(ids, id)
		start = end
	}
	return toks, ids
}

// asciiPunct is BERT's _is_punctuation for ASCII: every printable
// character that is neither a letter nor a digit ("^", "$", "`" included,
// which Unicode does not class as punctuation).
var asciiPunct = func() (p [utf8.RuneSelf]bool) {
	for c := 33; c <= 126; c++ {
		p[c] = !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
	}
	return p
}()

// flush lower-cases, strips accents from and splits on punctuation the
// white-space token w (overwriting it); ascii says it is all ASCII.
func (b *basic) flush(w []byte, ascii bool) {
	if len(w) == 0 {
		return
	}
	if b.lowerCase {
		if ascii {
			// NFD leaves ASCII as it is.
			for i, c := range w {
				if 'A' <= c && c <= 'Z' {
					w[i] = c + 'a' - 'A'
				}
			}
		} else {
			w = b.lowerStrip(w)
		}
	}
	start := 0
	for i := 0; i < len(w); {
		c := w[i]
		size := 1
		punct := false
		if c < utf8.RuneSelf {
			punct = asciiPunct[c]
		} else {
			var r rune
			r, size = utf8.DecodeRune(w[i:])
			punct = unicode.IsPunct(r)
		}
		if punct {
			if i > start {
				b.emit(w[start:i])
			}
			b.emit(w[i : i+size])
			start = i + size
		}
		i += size
	}
	if start < len(w) {
		b.emit(w[start:])
	}
}

func (b *basic) emit(piece []byte) {
	if b.t != nil {
		b.toks, b.ids = b.t.wordPiece(piece, b.toks, b.ids)
	} else {
		b.words = append(b.words, string(piece))
	}
}

// lowerStrip is Python's str.lower followed by BERT's _run_strip_accents
// (NFD, then drop nonspacing marks), in place where it can be.
func (b *basic) lowerStrip(w []byte) []byte {
	inLow := false
	for i := 0; i < len(w); {
		r, size := utf8.DecodeRune(w[i:])
		if l := lower(w, i, r, size); l != r {
			if utf8.RuneLen(l) != size {
				// A handful of letters change length: start over into a
				// buffer (lower-casing twice changes nothing).
				w, inLow = b.lowerInto(w), true
				break
			}
			utf8.EncodeRune(w[i:], l)
		}
		i += size
	}
	if !nfdStable(w) {
		// Through b.low: Append's argument escapes, and w may be on
		// the stack.
		if !inLow {
			b.low = append(b.low[:0], w...)
		}
		b.nfd = norm.NFD.Append(b.nfd[:0], b.low...)
		w = b.nfd
	}
	out := w[:0]
	for i := 0; i < len(w); {
		r, size := utf8.DecodeRune(w[i:])
		if r < utf8.RuneSelf || !unicode.Is(unicode.Mn, r) {
			out = append(out, w[i:i+size]...)
		}
		i += size
	}
	return out
}

// nfdStable reports whether NFD leaves w as it is because no rune of it
// decomposes or combines (a cheaper, allocation-free stand-in for
// norm.NFD.IsNormal, whose argument escapes).
func nfdStable(w []byte) bool {
	for i := 0; i < len(w); {
		if w[i] < utf8.RuneSelf {
			i++
			continue
		}
		if r, _ := utf8.DecodeRune(w[i:]); r >= 0xAC00 && r <= 0xD7A3 {
			return false // Hangul syllables decompose algorithmically
		}
		p := norm.NFD.Properties(w[i:])
		if p.Size() == 0 || p.Decomposition() != nil || p.CCC() != 0 {
			return false
		}
		i += p.Size()
	}
	return true
}

// lowerInto lower-cases w into b.low.
func (b *basic) lowerInto(w []byte) []byte {
	b.low = b.low[:0]
	for i := 0; i < len(w); {
		r, size := utf8.DecodeRune(w[i:])
		b.low = utf8.AppendRune(b.low, lower(w, i, r, size))
		i += size
	}
	return b.low
}

// lower is Python's lower-casing of the rune r at w[i:i+size]: simple case
// mapping, but a capital sigma becomes 'ς' in Unicode's Final_Sigma
// context. (Python also maps U+0130 to "i" + U+0307, which accent
// stripping turns into the 'i' returned here.)
func lower(w []byte, i int, r rune, size int) rune {
	if r != 'Σ' {
		return unicode.ToLower(r)
	}
	if finalSigma(w, i, size) {
		return 'ς'
	}
	return 'σ'
}

// finalSigma reports whether the capital sigma at w[i:i+size] is in the
// Final_Sigma context: a cased letter before it and none after it,
// skipping case-ignorable characters. Lower-casing keeps both properties,
// so w may already be lower-cased around it.
func finalSigma(w []byte, i, size int) bool {
	j := i
	for {
		if j == 0 {
			return false
		}
		r, n := utf8.DecodeLastRune(w[:j])
		j -= n
		if !caseIgnorable(r) {
			if !cased(r) {
				return false
			}
			break
		}
	}
	for j = i + size; j < len(w); {
		r, n := utf8.DecodeRune(w[j:])
		j += n
		if !caseIgnorable(r) {
			return !cased(r)
		}
	}
	return true
}

// cased is Unicode's Cased property.
func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// caseIgnorable is Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk
// and the Word_Break classes MidLetter, MidNumLet and Single_Quote.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// isControl is BERT's _is_control for non-ASCII runes: categories Cc and
// Cf. Private-use (Co) characters are not control characters: BERT keeps
// them (they become [UNK]).
func isControl(r rune) bool {
	return r >= 0x80 && r <= 0x9f || unicode.Is(unicode.Cf, r)
}

// isCJK is BERT's _is_chinese_char: the CJK Unified Ideographs blocks.
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}
