package text

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
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
