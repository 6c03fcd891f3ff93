package pipelines

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func readAll(t *testing.T, data []byte, rangeBytes int64, maxLine int) []TextDocument {
	return readAllCapped(t, data, rangeBytes, maxLine, 1<<30)
}

func readAllCapped(t *testing.T, data []byte, rangeBytes int64, maxLine, maxDoc int) []TextDocument {
	t.Helper()
	var docs []TextDocument
	for _, r := range SplitRanges(struct{ Source, Key string }{"f", "f"}, int64(len(data)), rangeBytes) {
		from := max(r.Start-1, 0)
		err := ReadDocuments(bytes.NewReader(data[from:]), r.Start, r.End, maxLine, maxDoc, func(d TextDocument) error {
			if d.Offset < r.Start && r.Start > 0 {
				t.Errorf("range %d-%d emitted a document at %d", r.Start, r.End, d.Offset)
			}
			docs = append(docs, d)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return docs
}

// Every range size reads every document exactly once, whole.
func TestReadDocumentsAnyRangeSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for trial := 0; trial < 30; trial++ {
		var b strings.Builder
		if rng.IntN(3) == 0 {
			b.WriteString("\n\n")
		}
		for d := 0; d < 1+rng.IntN(12); d++ {
			for l := 0; l < 1+rng.IntN(5); l++ {
				fmt.Fprintf(&b, "doc %d line %d %s\n", d, l, strings.Repeat("x", rng.IntN(40)))
			}
			b.WriteString(strings.Repeat("\n", 1+rng.IntN(3)))
			if rng.IntN(4) == 0 {
				b.WriteString("   \r\n")
			}
		}
		data := []byte(b.String())
		if rng.IntN(2) == 0 {
			data = bytes.TrimRight(data, "\n \r")
		}
		want := readAll(t, data, 0, 1<<20)
		for _, rb := range []int64{1, 2, 3, 7, 16, 50, 333} {
			if got := readAll(t, data, rb, 1<<20); !reflect.DeepEqual(got, want) {
				t.Fatalf("trial %d range %d:\n got %v\nwant %v", trial, rb, got, want)
			}
		}
	}
}

func TestReadDocumentsBadLines(t *testing.T) {
	data := []byte("good one\ngood two\n\n" + strings.Repeat("y", 5000) + "\nsame doc\n\nbad \xff utf8\n\nlast\n")
	docs := readAll(t, data, 0, 100)
	var got []string
	for _, d := range docs {
		if d.Bad != "" {
			got = append(got, d.Bad)
		} else {
			got = append(got, strings.Join(d.Lines, "|"))
		}
	}
	want := []string{"good one|good two", "line_too_long", "not_utf8", "last"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestReadDocumentsSizeCap(t *testing.T) {
	data := []byte("short doc\n\n" + strings.Repeat("many short lines\n", 100) + "\nlast\n")
	var got []string
	for _, d := range readAllCapped(t, data, 0, 100, 500) {
		if d.Bad != "" {
			got = append(got, d.Bad)
		} else {
			got = append(got, strings.Join(d.Lines, "|"))
		}
	}
	want := []string{"short doc", "document_too_large", "last"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}
