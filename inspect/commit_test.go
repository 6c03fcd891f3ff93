package inspect

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
)

// testDataset says what commitRows writes: a task's dataset of one shard
// under dir, with the label config and the manifest info the pipeline
// would record.
type testDataset struct {
	Task, Modality string
	Config         any              // the task's config, marshalled into the manifest
	Image          any              // the label config's image section (vision.Options); nil for none
	Info           map[string]any   // the manifest's info; nil for none
	Stats          map[string]int64 // label statistics counted at once, besides count's per row
}

// commitRows commits rows as the dataset ds under dir, with the manifest
// the pipeline would write for them: count adds each row's label
// statistics to the writer (nil: none).
func commitRows[T sinks.Row](t *testing.T, dir string, ds testDataset, rows []T, count func(w *sinks.Writer, r T)) {
	t.Helper()
	ctx := context.Background()
	conf, err := json.Marshal(ds.Config)
	if err != nil {
		t.Fatal(err)
	}
	lc := sinks.LabelConfig{Task: ds.Task, Modality: ds.Modality, Config: conf, Split: json.RawMessage(`{}`), Sink: json.RawMessage(`{}`)}
	if ds.Image != nil {
		if lc.Image, err = json.Marshal(ds.Image); err != nil {
			t.Fatal(err)
		}
	}
	doc, _ := json.Marshal(lc)
	c := sinks.Commit{
		Dataset: sinks.Dataset{Name: ds.Task, Format: sinks.FormatOf[T]().Name(), Dir: filepath.Join(dir, ds.Task),
			RunID: "t", NumShards: 1, RowGroupRows: 1000, RowGroupBytes: 1 << 20, MaxBufferBytes: 1 << 20},
		Task: ds.Task, Seed: 1, ConfigHash: "test", Config: doc,
	}
	for k, v := range ds.Info {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if c.Info == nil {
			c.Info = map[string]json.RawMessage{}
		}
		c.Info[k] = raw
	}
	w, err := sinks.NewWriter(ctx, c.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Add(ctx, r.RowKey(), r, 100); err != nil {
			t.Fatal(err)
		}
		if count != nil {
			count(w, r)
		}
	}
	for k, v := range ds.Stats {
		w.Count(k, v)
	}
	var temps []sinks.TempFile
	if err := w.Finish(ctx, func(tf sinks.TempFile) { temps = append(temps, tf) }); err != nil {
		t.Fatal(err)
	}
	var inputs []string
	stats := map[string]int64{}
	var n int64
	for _, tf := range temps {
		inputs = append(inputs, tf.Path)
		n += tf.Rows
		for k, v := range tf.Stats {
			stats[k] += v
		}
	}
	sh, err := sinks.MergePartition(ctx, c, 0, inputs, n, stats)
	if err != nil {
		t.Fatal(err)
	}
	done := false
	next := func(s *sinks.StagedShard) bool {
		if done {
			return false
		}
		*s, done = sh, true
		return true
	}
	if _, err := sinks.Publish(ctx, c, next, map[string]int64{sinks.OutcomeInput: 1, sinks.OutcomeLabeled: 1}); err != nil {
		t.Fatal(err)
	}
	if err := sinks.RemoveRun(ctx, dir, "t"); err != nil {
		t.Fatal(err)
	}
}
