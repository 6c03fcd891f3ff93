package data

import (
	"context"
	"io"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
)

// Loader throughput: one epoch per iteration, batches of 32 through a
// 1024-row shuffle buffer. MB/s counts shard bytes (compressed, as on disk).
//
//	go test -run XXX -bench Loader -benchtime 5x ./trainer/data
func BenchmarkLoader(b *testing.B) {
	// Row groups as the pipelines cut them: 16 MB of payload (sink.row_group_mb).
	var unmasked, masked [][]sinks.MLMRow
	for k := range 4 {
		rows := mlmRows(5000, 128, 5000*k)
		unmasked, masked = append(unmasked, rows), append(masked, maskStatic(rows))
	}
	text, textNone := b.TempDir(), b.TempDir()
	writeDatasetGroups(b, text, "mlm_nsp", masked, textConfig("static", 128), 16<<20/600)
	writeDatasetGroups(b, textNone, "mlm_nsp", unmasked, textConfig("none", 128), 16<<20/600)
	png, raw := b.TempDir(), b.TempDir()
	for _, ds := range []struct{ dir, format string }{{png, "png"}, {raw, "raw"}} {
		var shards [][]sinks.DenoiseRow
		for k := range 2 {
			rows, _ := denoiseRows(b, 150, 128, 128, ds.format, 150*k)
			shards = append(shards, rows)
		}
		group := int64(16 << 20 / (len(shards[0][0].Input) + len(shards[0][0].Target)))
		writeDatasetGroups(b, ds.dir, "denoise", shards, nil, group)
	}
	vocab := testVocab(b)

	for _, bc := range []struct {
		name string
		dir  string
		opts func(*Options)
	}{
		{"text/static", text, func(*Options) {}},
		{"text/dynamic", textNone, func(o *Options) { o.Vocab = vocab }},
		{"denoise-128px/png", png, func(*Options) {}},
		{"denoise-128px/png/1worker", png, func(o *Options) { o.Workers = 1 }},
		{"denoise-128px/raw", raw, func(*Options) {}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := sinks.ReadManifest(context.Background(), bc.dir)
			if err != nil {
				b.Fatal(err)
			}
			var size int64
			for _, sh := range m.Shards {
				size += sh.Bytes
			}
			o := DefaultOptions()
			bc.opts(&o)
			b.SetBytes(size)
			b.ReportAllocs()
			rows := 0
			for b.Loop() {
				l, err := Open(context.Background(), bc.dir, o)
				if err != nil {
					b.Fatal(err)
				}
				for {
					batch, err := l.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					rows += batch.Len()
				}
				l.Close()
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
