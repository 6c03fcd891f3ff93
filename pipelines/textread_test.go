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

// FuzzReadDocuments: any bytes cut at any range boundaries are read without a
// panic; the ranges together emit each document once, in order, whatever the
// cut; line and document caps hold.
func FuzzReadDocuments(f *testing.F) {
	f.Add([]byte("a b.\nc d.\n\ne f.\n"), int64(3), 8, 64)
	f.Add([]byte("\n\n\x00\xff\nline\n\n\n"), int64(1), 4, 4)
	f.Add([]byte(strings.Repeat("word ", 100)+"\n\nx\n"), int64(7), 16, 1000)
	f.Fuzz(func(t *testing.T, data []byte, cut int64, maxLine, maxDoc int) {
		if maxLine < 1 || maxLine > 1<<16 || maxDoc < maxLine || maxDoc > 1<<20 {
			return
		}
		read := func(start, end int64) []TextDocument {
			var docs []TextDocument
			from := max(start-1, 0)
			err := ReadDocuments(bytes.NewReader(data[from:]), start, end, maxLine, maxDoc, func(d TextDocument) error {
				docs = append(docs, d)
				return nil
			})
			if err != nil {
				t.Fatalf("range [%d, %d): %v", start, end, err)
			}
			return docs
		}
		n := int64(len(data))
		whole := read(0, n)
		if cut <= 0 || cut >= n {
			return
		}
		parts := append(read(0, cut), read(cut, n)...)
		if len(parts) != len(whole) {
			t.Fatalf("cut at %d: %d documents, whole file %d", cut, len(parts), len(whole))
		}
		for i := range whole {
			if whole[i].Offset != parts[i].Offset || whole[i].Bad != parts[i].Bad || len(whole[i].Lines) != len(parts[i].Lines) {
				t.Fatalf("cut at %d: document %d differs: %+v vs %+v", cut, i, whole[i], parts[i])
			}
			for _, l := range whole[i].Lines {
				if len(l) > maxLine {
					t.Fatalf("a line of %d bytes passed max_line_bytes %d", len(l), maxLine)
				}
			}
		}
	})
}
