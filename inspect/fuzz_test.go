package inspect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
	_ "github.com/pretext-dev/pretext/sinks/beamsink"

	"github.com/pretext-dev/pretext/sinks"
)

// fuzzShard is a denoise or dead-letter shard as the sink writes it, with
// its footer, of n rows.
func fuzzShard(t testing.TB, deadLetters bool, n int) []byte {
	t.Helper()
	task := "denoise"
	if deadLetters {
		task = sinks.DeadLetters
	}
	var buf bytes.Buffer
	meta := map[string]string{
		"pretext.task": task, "pretext.schema_version": sinks.SchemaVersion, "pretext.config_hash": "fuzz",
		"pretext.seed": "7", "pretext.version": sinks.Version,
	}
	var err error
	if deadLetters {
		w := sinks.NewShardWriter[sinks.DeadLetter](&buf, sinks.ShardOptions{RowGroupRows: 2, Metadata: meta})
		for i := range n {
			_, err = w.Write([]sinks.DeadLetter{{Key: fmt.Sprintf("bad/%d.jpg", i), Source: "/in/bad.jpg", Stage: "decode", Reason: "decode_error", Detail: "<script>"}})
		}
		if err == nil {
			err = w.Close()
		}
	} else {
		w := sinks.NewShardWriter[sinks.DenoiseRow](&buf, sinks.ShardOptions{RowGroupRows: 2, Metadata: meta})
		for i := range n {
			img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
			for p := range 64 {
				img.Set(p%8, p/8, color.NRGBA{uint8(p * 4), uint8(i * 40), 99, 255})
			}
			var enc bytes.Buffer
			png.Encode(&enc, img)
			_, err = w.Write([]sinks.DenoiseRow{{Key: fmt.Sprintf("img/%d.jpg", i), Split: "train", Width: 8, Height: 8, Encoding: "png",
				Input: enc.Bytes(), Target: enc.Bytes(), Noise: "gaussian", NoiseLevel: 10}})
		}
		if err == nil {
			err = w.Close()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzInspectShard feeds arbitrary bytes to the inspector as a committed
// shard: the manifest states the bytes' own size, SHA-256 and row count, so
// integrity checks pass and the statistics, contact sheets and HTML report
// run on whatever parquet-go decodes. Every outcome but a panic or a hang is
// acceptable: a report (ok or failed), or an error.
func FuzzInspectShard(f *testing.F) {
	for _, dl := range []bool{false, true} {
		data := fuzzShard(f, dl, 5)
		f.Add(dl, data)
		f.Add(dl, data[:len(data)*2/3])
		f.Add(dl, data[len(data)/4:])
	}
	f.Fuzz(func(t *testing.T, deadLetters bool, data []byte) {
		task := "denoise"
		if deadLetters {
			task = sinks.DeadLetters
		}
		dir := t.TempDir()
		name := task + "-00000-of-00001.parquet"
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		rows := numRows(data)
		sum := sha256.Sum256(data)
		m := sinks.Manifest{
			Task: task, SchemaVersion: sinks.SchemaVersion, PretextVersion: sinks.Version,
			Seed: 7, ConfigHash: "fuzz", Inputs: rows, Labeled: rows, Rows: rows,
			Filtered: map[string]int64{}, DeadLetterReasons: map[string]int64{},
			Stats:  map[string]int64{"noise/gaussian": rows},
			Shards: []sinks.ShardEntry{{Path: name, Rows: rows, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}},
		}
		mj, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sinks.ManifestName), mj, 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := Run(context.Background(), Options{Dir: dir, Task: task, Sample: 4, TempDir: t.TempDir()})
		if err != nil {
			t.Logf("run: %v", err)
			return
		}
		if _, err := rep.HTML(); err != nil {
			t.Logf("html: %v", err)
		}
		t.Logf("ok %v, failures %q", rep.OK, rep.Failures)
	})
}

// numRows is the row count data's footer claims, or 1 where it has none.
func numRows(data []byte) (n int64) {
	defer func() {
		if recover() != nil {
			n = 1
		}
	}()
	pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return 1
	}
	return pf.NumRows()
}
