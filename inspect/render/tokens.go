package render

import (
	"html"
	"strings"
)

// Token is one token of a text row.
type Token struct {
	Text     string // the token shown (e.g. "[MASK]", "##ing")
	Segment  int32  // 0 = sentence A, 1 = sentence B
	Masked   bool   // a masked-LM position
	Original string // for a masked position, the original token
}

// TokensHTML renders one text row as an HTML fragment: the caption, then the
// tokens in order, those of segment A (0) and B (any other value) on
// different background tints, masked positions outlined in orange with the
// original token as a superscript and a tooltip (a masked position whose
// token was kept or replaced at random, as BERT does for 20% of them, looks
// the same), and special tokens such as [CLS] and [SEP] dimmed. Its classes
// are styled by the stylesheet of Page. All text is escaped.
func TokensHTML(caption string, tokens []Token) string {
	var b strings.Builder
	b.WriteString(`<div class="tokrow"><div class="tokcap">`)
	b.WriteString(html.EscapeString(caption))
	b.WriteString(`</div><div class="toks">`)
	for i, t := range tokens {
		if i > 0 {
			b.WriteByte(' ')
		}
		class := "tok seg-a"
		if t.Segment != 0 {
			class = "tok seg-b"
		}
		if special(t.Text) && !t.Masked {
			class += " special"
		}
		if !t.Masked {
			b.WriteString(`<span class="` + class + `">` + html.EscapeString(t.Text) + `</span>`)
			continue
		}
		b.WriteString(`<span class="` + class + ` masked"`)
		if t.Original != "" {
			b.WriteString(` title="was: ` + html.EscapeString(t.Original) + `"`)
		}
		b.WriteString(`>` + html.EscapeString(t.Text))
		if t.Original != "" {
			b.WriteString(`<sup>` + html.EscapeString(t.Original) + `</sup>`)
		}
		b.WriteString(`</span>`)
	}
	b.WriteString(`</div></div>`)
	return b.String()
}

// special reports whether tok is a vocabulary's special token: bracketed,
// like [CLS], [SEP], [PAD], [UNK] and [unused0].
func special(tok string) bool {
	return len(tok) > 2 && tok[0] == '[' && tok[len(tok)-1] == ']'
}
