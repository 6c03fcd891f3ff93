package sinks

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func randomMLMRow(rng *rand.Rand) MLMRow {
	ints := func(n int) []int32 {
		if n == 0 {
			return nil // gob decodes an empty list as nil; so does the hand codec
		}
		s := make([]int32, n)
		for i := range s {
			switch rng.IntN(4) {
			case 0:
				s[i] = -rng.Int32() // not made by the pipeline, but must survive
			default:
				s[i] = rng.Int32N(40000)
			}
		}
		return s
	}
	return MLMRow{
		Key:               strings.Repeat("k/é", rng.IntN(5)),
		DocIDA:            "doc-a",
		DocIDB:            strings.Repeat("b", rng.IntN(300)),
		Dupe:              rng.Int32N(10),
		InputIDs:          ints(rng.IntN(130)),
		SegmentIDs:        ints(rng.IntN(130)),
		MaskedLMPositions: ints(rng.IntN(21)),
		MaskedLMIDs:       ints(rng.IntN(21)),
		IsRandomNext:      rng.IntN(2) == 1,
		NumTokens:         rng.Int32(),
	}
}

// The hand codec of text rows reads back what it wrote, as gob did.
func TestTempCodecRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []MLMRow
	for range 500 {
		rows = append(rows, randomMLMRow(rng))
	}
	rows = append(rows, MLMRow{})
	var buf bytes.Buffer
	encode := newTempEncoder[MLMRow](&buf)
	for i := range rows {
		if err := encode(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	decode := newTempDecoder[MLMRow](bytes.NewReader(buf.Bytes()))
	for i := range rows {
		var got MLMRow
		if err := decode(&got); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, rows[i]) {
			t.Fatalf("row %d: got %+v, want %+v", i, got, rows[i])
		}
	}
	var extra MLMRow
	if err := decode(&extra); err != io.EOF {
		t.Fatalf("after the last row: %v, want io.EOF", err)
	}

	// A cut inside a row is an error, never a panic or a silent short row.
	// (A cut between rows reads as a shorter file, as with gob: the merge
	// counts rows against the bundles' counts.)
	b := buf.Bytes()[:len(buf.Bytes())/3]
	decode = newTempDecoder[MLMRow](bytes.NewReader(b))
	var err error
	for err == nil {
		var row MLMRow
		err = decode(&row)
	}
	if err == io.EOF || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("stream cut inside a row: %v, want an unexpected EOF", err)
	}
}

// Rows without the hand codec (images) still travel as gob.
func TestTempCodecGobFallback(t *testing.T) {
	row := DenoiseRow{Key: "a", Input: []byte{1, 2, 3}, Target: []byte{4}}
	var buf bytes.Buffer
	if err := newTempEncoder[DenoiseRow](&buf)(&row); err != nil {
		t.Fatal(err)
	}
	var got DenoiseRow
	if err := newTempDecoder[DenoiseRow](&buf)(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, row) {
		t.Fatalf("got %+v, want %+v", got, row)
	}
}

func FuzzTempCodec(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 4 {
		row := randomMLMRow(rng)
		f.Add(row.appendTemp(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var row MLMRow
		if err := row.readTemp(b, nil); err != nil {
			return
		}
		// What reads without error writes back to the same row.
		var again MLMRow
		if err := again.readTemp(row.appendTemp(nil), &int32Arena{}); err != nil || !reflect.DeepEqual(again, row) {
			t.Fatalf("re-encoding %+v: %v, got %+v", row, err, again)
		}
	})
}

// gobMLM is MLMRow without the hand codec: the temporary-file encoding of
// text rows before it, for BenchmarkTempRows.
type gobMLM MLMRow

func (r gobMLM) RowKey() string    { return r.Key }
func (r gobMLM) RowVariant() int32 { return r.Dupe }

// BenchmarkTempRows writes 1,000 BERT instances (128 tokens) to a temporary
// file and reads them back, as a bundle's spill and the merge do: gob (the
// encoding before) against the hand codec.
func BenchmarkTempRows(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	rows := make([]MLMRow, 1000)
	for i := range rows {
		r := randomMLMRow(rng)
		r.InputIDs, r.SegmentIDs = make([]int32, 128), make([]int32, 128)
		for j := range r.InputIDs {
			r.InputIDs[j], r.SegmentIDs[j] = rng.Int32N(30522), int32(j/64)
		}
		rows[i] = r
	}
	gobRows := make([]gobMLM, len(rows))
	for i, r := range rows {
		gobRows[i] = gobMLM(r)
	}
	b.Run("gob", func(b *testing.B) { benchTempRows(b, gobRows) })
	b.Run("hand", func(b *testing.B) { benchTempRows(b, rows) })
}

func benchTempRows[T Row](b *testing.B, rows []T) {
	b.ReportAllocs()
	var size int
	for b.Loop() {
		p := &partition[T]{rows: slices.Clone(rows)}
		var buf bytes.Buffer
		if err := p.WriteSorted(&buf); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
		decode := newTempDecoder[T](newTempStreamReader(&buf))
		for range rows {
			var row T
			if err := decode(&row); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(size)/float64(len(rows)), "file-bytes/row")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}
