package text

import (
	"reflect"
	"testing"
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
