package data

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/pretext-dev/pretext/sinks"
)

// FuzzShardReader feeds arbitrary bytes to the loader as a committed shard:
// the manifest states the bytes' own size, SHA-256 and row count, so
// verification passes and parquet-go's reader and the row decoding get to
// run on them. Every outcome but a panic or a hang is acceptable: batches,
// or an error naming the shard. Seeds: a denoise and an mlm_nsp shard as the
// sink writes them, whole and cut.
func FuzzShardReader(f *testing.F) {
	for _, task := range []string{"denoise", "mlm_nsp"} {
		dir := f.TempDir()
		switch task {
		case "denoise":
			denoiseDataset(f, dir, 8, 8, "png", 5)
		default:
			textDataset(f, dir, "none", 32, 5)
		}
		data, err := os.ReadFile(filepath.Join(dir, task+"-00000-of-00001.parquet"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(task == "denoise", data)
		f.Add(task == "denoise", data[:len(data)/2])
		f.Add(task == "denoise", data[len(data)/3:])
	}
	f.Fuzz(func(t *testing.T, image bool, data []byte) {
		task, config := "mlm_nsp", any(textConfig("none", 128))
		if image {
			task, config = "denoise", nil
		}
		dir := t.TempDir()
		name := task + "-00000-of-00001.parquet"
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		rows := numRows(data)
		sum := sha256.Sum256(data)
		m := &sinks.Manifest{
			Task: task, SchemaVersion: sinks.SchemaVersion, PretextVersion: sinks.Version,
			Seed: fixtureSeed, ConfigHash: "fixture-" + task, Inputs: rows, Labeled: rows, Rows: rows,
			Filtered: map[string]int64{}, DeadLetterReasons: map[string]int64{},
			Shards: []sinks.ShardEntry{{Path: name, Rows: rows, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}},
		}
		if config != nil {
			raw, err := json.Marshal(config)
			if err != nil {
				t.Fatal(err)
			}
			m.Config = raw
		}
		writeManifest(t, dir, m)

		opts := DefaultOptions()
		opts.Task, opts.BatchSize, opts.Epochs, opts.VerifyChecksums = task, 4, 1, true
		if !image {
			opts.Vocab = testVocab(t)
		}
		l, err := Open(context.Background(), dir, opts)
		if err != nil {
			t.Logf("open: %v", err)
			return
		}
		defer l.Close()
		for i := int64(0); i <= rows/4+1; i++ {
			if _, err := l.Next(); err != nil {
				t.Logf("%d batches, then %v", i, err)
				if err != io.EOF && err.Error() == "" {
					t.Fatal("an error without a message")
				}
				return
			}
		}
		t.Fatalf("more than %d batches from %d rows", rows/4+1, rows)
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
