package text

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

func loadVocab(t testing.TB) *Vocab {
	t.Helper()
	f, err := os.Open("../../testdata/wordpiece/vocab-bert-base-uncased.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := ReadVocab(f)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Every line of the reference tokenizer's output is reproduced exactly.
func TestGoldenUncased(t *testing.T) {
	tok := NewTokenizer(loadVocab(t), true)
	f, err := os.Open("../../testdata/wordpiece/uncased.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	n := 0
	for sc.Scan() {
		var g struct {
			Text   string   `json:"text"`
			Tokens []string `json:"tokens"`
			IDs    []int32  `json:"ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			t.Fatal(err)
		}
		n++
		toks, ids := tok.TokenizeIDs(g.Text)
		if len(toks) == 0 && len(g.Tokens) == 0 {
			continue
		}
		if !reflect.DeepEqual(toks, g.Tokens) || !reflect.DeepEqual(ids, g.IDs) {
			t.Errorf("line %d %q:\n got %q %v\nwant %q %v", n, g.Text, toks, ids, g.Tokens, g.IDs)
		}
	}
	if n < 50 {
		t.Fatalf("only %d golden lines", n)
	}
	t.Logf("%d golden lines", n)
}

// A vocab that cannot work is refused with the reason: bytes that are not
// UTF-8 (a binary file given as text.vocab), a missing special token, no
// word pieces.
func TestVocabRefused(t *testing.T) {
	for _, c := range []struct{ name, vocab, read, check string }{
		{"binary", "[PAD]\n[UNK]\n\xff\xfe\x00\x01\n", "line 3 is not UTF-8", ""},
		{"only [UNK]", "[UNK]\n", "", "vocab lacks [PAD], [CLS], [SEP], [MASK]"},
		{"no [PAD]", "[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n", "", "vocab lacks [PAD]"},
		{"only specials", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", "", "no word pieces"},
		{"enough", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := ReadVocab(strings.NewReader(c.vocab))
			if c.read != "" {
				if err == nil || !strings.Contains(err.Error(), c.read) {
					t.Fatalf("ReadVocab: %v, want %q", err, c.read)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = CheckVocab(v)
			if c.check == "" && err != nil || c.check != "" && (err == nil || !strings.Contains(err.Error(), c.check)) {
				t.Errorf("CheckVocab: %v, want %q", err, c.check)
			}
		})
	}
}
