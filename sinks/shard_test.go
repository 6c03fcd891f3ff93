package sinks

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// Image payload columns carry no min/max statistics (they would copy whole
// images into page headers and the footer), text columns keep theirs, and
// a shard of incompressible images is about the size of its payload.
func TestShardBlobsWithoutStatistics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	blob := func() []byte {
		b := make([]byte, 20_000)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var rows []InpaintRow
	payload := 0
	for i := range 8 {
		r := InpaintRow{Key: string(rune('a' + i)), Source: "s", Encoding: "png", Input: blob(), Target: blob(), Mask: blob()}
		payload += r.RowBytes()
		rows = append(rows, r)
	}
	var buf bytes.Buffer
	w := NewShardWriter[InpaintRow](&buf, ShardOptions{RowGroupRows: 100})
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > payload+payload/10 {
		t.Errorf("shard is %d bytes for %d bytes of payload", buf.Len(), payload)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			name := c.MetaData.PathInSchema[0]
			st := c.MetaData.Statistics
			hasStats := len(st.MinValue) > 0 || len(st.MaxValue) > 0
			switch name {
			case "input", "target", "mask":
				if hasStats {
					t.Errorf("column %s has min/max statistics", name)
				}
			case "key":
				if !hasStats {
					t.Errorf("column key lost its statistics")
				}
			}
		}
	}
	// The rows read back whole.
	got, err := parquet.Read[InpaintRow](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil || len(got) != len(rows) || !bytes.Equal(got[3].Mask, rows[3].Mask) {
		t.Fatalf("read back %d rows, err %v", len(got), err)
	}
}

// Keeping a media shard's pages on disk until its row group is complete
// changes no byte of the shard.
func TestShardPagesOnDiskSameBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var rows []DenoiseRow
	for i := range 40 {
		b := make([]byte, 30_000+rng.IntN(1000))
		for j := range b {
			b[j] = byte(rng.IntN(16)) // compressible, like pixels
		}
		rows = append(rows, DenoiseRow{Key: string(rune('a' + i)), Input: b, Target: b[:len(b)/2], Noise: "gaussian"})
	}
	write := func(extra ...parquet.WriterOption) []byte {
		var buf bytes.Buffer
		w := NewShardWriter[DenoiseRow](&buf, ShardOptions{RowGroupRows: 16, Metadata: map[string]string{"task": "denoise"}}, extra...)
		for i := 0; i < len(rows); i += 7 {
			if _, err := w.Write(rows[i:min(i+7, len(rows))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	onDisk := write()
	inMemory := write(parquet.ColumnPageBuffers(parquet.NewBufferPool()))
	if !bytes.Equal(onDisk, inMemory) {
		t.Fatalf("shard bytes differ: %d on disk, %d in memory", len(onDisk), len(inMemory))
	}
}

// Every sink.compression_level writes the same rows, in standard zstd that
// parquet-go reads back; fastest is larger than default, best smaller.
func TestShardCompressionLevels(t *testing.T) {
	rows := testRows(300)
	for i := range rows {
		// Compressible payloads, as raw pixels are.
		for j := range rows[i].Input {
			rows[i].Input[j] = byte(j / 7)
		}
	}
	size := map[string]int{}
	for _, level := range []string{"fastest", "", "best"} {
		var buf bytes.Buffer
		w := NewShardWriter[DenoiseRow](&buf, ShardOptions{RowGroupRows: 100, CompressionLevel: level})
		if _, err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		size[level] = buf.Len()
		got, err := parquet.Read[DenoiseRow](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("level %q: %v", level, err)
		}
		if !reflect.DeepEqual(got, rows) {
			t.Fatalf("level %q: rows differ", level)
		}
	}
	if !(size["fastest"] > size[""] && size[""] > size["best"]) {
		t.Errorf("shard bytes fastest %d, default %d, best %d", size["fastest"], size[""], size["best"])
	}
	var buf bytes.Buffer
	w := NewShardWriter[DenoiseRow](&buf, ShardOptions{CompressionLevel: "max"})
	_, err := w.Write(rows)
	if err == nil {
		err = w.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "max") {
		t.Errorf("unknown level: %v", err)
	}
}
