package data

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"
	_ "github.com/pretext-dev/pretext/sinks/beamsink"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/text"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// Fixtures: small datasets written as the pipelines write them (shards by
// sinks.NewShardWriter with the footer keys, a manifest committing them),
// from rows drawn by seeded generators.

const fixtureSeed = 7

// fatal is the part of testing.TB the fixtures use, so that examples can
// make fixtures too.
type fatal interface {
	Helper()
	Fatal(args ...any)
}

// panicT is a fatal for examples.
type panicT struct{}

func (panicT) Helper()           {}
func (panicT) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// writeDataset writes shards (one slice of rows per shard) and a manifest of
// task into dir; config is the manifest's resolved config (nil for none).
// Row groups have 16 rows, so that reading crosses row groups.
func writeDataset[T any](t fatal, dir, task string, shards [][]T, config any) *sinks.Manifest {
	t.Helper()
	return writeDatasetGroups(t, dir, task, shards, config, 16)
}

// writeDatasetGroups is writeDataset with row groups of rowGroup rows.
func writeDatasetGroups[T any](t fatal, dir, task string, shards [][]T, config any, rowGroup int64) *sinks.Manifest {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &sinks.Manifest{
		Task: task, SchemaVersion: sinks.SchemaVersion, PretextVersion: sinks.Version,
		Seed: fixtureSeed, ConfigHash: "fixture-" + task,
		Filtered: map[string]int64{}, DeadLetterReasons: map[string]int64{},
		Shards: []sinks.ShardEntry{},
	}
	if config != nil {
		raw, err := json.Marshal(config)
		if err != nil {
			t.Fatal(err)
		}
		m.Config = raw
	}
	for k, rows := range shards {
		name := fmt.Sprintf("%s-%05d-of-%05d.parquet", task, k, len(shards))
		size, sum := writeShard(t, filepath.Join(dir, name), task, m, rows, rowGroup)
		m.Shards = append(m.Shards, sinks.ShardEntry{Path: name, Rows: int64(len(rows)), Bytes: size, SHA256: sum})
		m.Rows += int64(len(rows))
	}
	m.Inputs, m.Labeled = m.Rows, m.Rows
	writeManifest(t, dir, m)
	return m
}

func writeShard[T any](t fatal, name, task string, m *sinks.Manifest, rows []T, rowGroup int64) (int64, string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w := sinks.NewShardWriter[T](f, sinks.ShardOptions{RowGroupRows: rowGroup, Metadata: map[string]string{
		footerTask: task, footerSchemaVersion: m.SchemaVersion, footerConfigHash: m.ConfigHash,
		footerSeed: strconv.FormatInt(m.Seed, 10), "pretext.version": sinks.Version,
	}})
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return fileSum(t, name)
}

func fileSum(t fatal, name string) (int64, string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return n, hex.EncodeToString(h.Sum(nil))
}

func writeManifest(t fatal, dir string, m *sinks.Manifest) {
	t.Helper()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sinks.ManifestName), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// toMemfs copies a local dataset folder to memfs://name and returns its URI.
func toMemfs(t fatal, dir, name string) string {
	t.Helper()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	uri := "memfs://" + name
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		memfs.Write(uri+"/"+f.Name(), data)
	}
	return uri
}

// splitOf gives rows a fixed mix of splits: 60% train, 20% val, 20% test.
func splitOf(i int) string {
	return [...]string{"train", "val", "train", "test", "train"}[i%5]
}

// randomImage draws an RGB image whose pixels vary smoothly plus noise, so
// that PNG and JPEG do some work.
func randomImage(rng *rand.Rand, w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	ox, oy := rng.IntN(256), rng.IntN(256)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := img.Pix[y*img.Stride+4*x:]
			p[0] = uint8(ox + 3*x + rng.IntN(16))
			p[1] = uint8(oy + 2*y + rng.IntN(16))
			p[2] = uint8(x*y/3 + rng.IntN(16))
			p[3] = 255
		}
	}
	return img
}

func encode(t fatal, img image.Image, format string) []byte {
	t.Helper()
	data, err := vision.Encode(img, vision.Encoding{Format: format, PNGLevel: "best_speed", JPEGQuality: 95})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// denoiseRows makes n denoise rows of w×h images; the input is the target
// with a pixel-wise offset, so that the two differ.
func denoiseRows(t fatal, n, w, h int, format string, from int) ([]sinks.DenoiseRow, []*image.NRGBA) {
	rng := rand.New(rand.NewPCG(fixtureSeed, uint64(from)))
	rows := make([]sinks.DenoiseRow, n)
	targets := make([]*image.NRGBA, n)
	for i := range rows {
		target := randomImage(rng, w, h)
		noisy := image.NewNRGBA(target.Rect)
		copy(noisy.Pix, target.Pix)
		for j := 0; j < len(noisy.Pix); j += 4 {
			noisy.Pix[j] ^= 0x10
		}
		rows[i] = sinks.DenoiseRow{
			Key: fmt.Sprintf("img%05d.png", from+i), Source: "fixture", Split: splitOf(from + i),
			Width: int32(w), Height: int32(h), Encoding: format,
			Input: encode(t, noisy, format), Target: encode(t, target, format),
			Noise: "gaussian", NoiseLevel: 10,
		}
		targets[i] = target
	}
	return rows, targets
}

// denoiseDataset writes shards of denoise rows, rowsPerShard[k] in shard k.
func denoiseDataset(t fatal, dir string, w, h int, format string, rowsPerShard ...int) [][]sinks.DenoiseRow {
	var shards [][]sinks.DenoiseRow
	from := 0
	for _, n := range rowsPerShard {
		rows, _ := denoiseRows(t, n, w, h, format, from)
		shards = append(shards, rows)
		from += n
	}
	writeDataset(t, dir, "denoise", shards, nil)
	return shards
}

// testVocab is a small WordPiece vocabulary: the specials at BERT's ids
// order ([PAD] 0), unused entries, words and "##" pieces.
func testVocab(t fatal) *text.Vocab {
	t.Helper()
	toks := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", "[unused1]"}
	for i := range 200 {
		toks = append(toks, fmt.Sprintf("w%d", i))
	}
	for i := range 50 {
		toks = append(toks, fmt.Sprintf("##p%d", i))
	}
	v, err := text.ReadVocab(strings.NewReader(strings.Join(toks, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Ids in testVocab.
const (
	idPAD, idCLS, idSEP, idMASK = 0, 2, 3, 4
	firstWord, words            = 7, 200
	firstCont, conts            = 207, 50
)

// mlmRows makes n unmasked BERT instances of 20 to maxLen tokens (masking:
// none), a fifth of the word pieces "##" continuations.
func mlmRows(n, maxLen, from int) []sinks.MLMRow {
	rng := rand.New(rand.NewPCG(fixtureSeed, uint64(1000+from)))
	rows := make([]sinks.MLMRow, n)
	for i := range rows {
		length := 20 + rng.IntN(maxLen-20+1)
		a := 1 + rng.IntN(length-4)
		ids := []int32{idCLS}
		seg := []int32{0}
		for j := 0; j < length-3; j++ {
			id := int32(firstWord + rng.IntN(words))
			if j > 0 && rng.IntN(5) == 0 {
				id = int32(firstCont + rng.IntN(conts))
			}
			s := int32(0)
			if j >= a {
				s = 1
			}
			if j == a {
				ids, seg = append(ids, idSEP), append(seg, 0)
			}
			ids, seg = append(ids, id), append(seg, s)
		}
		ids, seg = append(ids, idSEP), append(seg, 1)
		rows[i] = sinks.MLMRow{
			Key: fmt.Sprintf("doc%05d.txt@0", from+i), DocIDA: "a", DocIDB: "b", Dupe: int32(i % 3),
			InputIDs: ids, SegmentIDs: seg, IsRandomNext: rng.IntN(2) == 0, NumTokens: int32(len(ids)),
		}
	}
	return rows
}

// maskStatic masks rows as a masking: static shard holds them: every 7th
// token that is not [CLS] or [SEP] becomes [MASK].
func maskStatic(rows []sinks.MLMRow) []sinks.MLMRow {
	out := make([]sinks.MLMRow, len(rows))
	for i, r := range rows {
		r.InputIDs = append([]int32(nil), r.InputIDs...)
		r.MaskedLMPositions, r.MaskedLMIDs = nil, nil
		for j := 1; j < len(r.InputIDs); j += 7 {
			if id := r.InputIDs[j]; id != idSEP {
				r.MaskedLMPositions = append(r.MaskedLMPositions, int32(j))
				r.MaskedLMIDs = append(r.MaskedLMIDs, id)
				r.InputIDs[j] = idMASK
			}
		}
		out[i] = r
	}
	return out
}

// textConfig is the resolved config of a text dataset as its manifest holds it.
func textConfig(masking string, maxSeqLen int) map[string]any {
	return map[string]any{
		"task": "mlm_nsp", "modality": "text",
		"config": map[string]any{
			"max_seq_length": maxSeqLen, "max_predictions_per_seq": 20, "masked_lm_prob": 0.15,
			"dupe_factor": 1, "short_seq_prob": 0.1, "do_whole_word_mask": false, "masking": masking,
		},
	}
}

// textDataset writes shards of n unmasked rows each, masked statically
// unless masking is "none".
func textDataset(t fatal, dir, masking string, maxLen int, rowsPerShard ...int) [][]sinks.MLMRow {
	var shards [][]sinks.MLMRow
	from := 0
	for _, n := range rowsPerShard {
		rows := mlmRows(n, maxLen, from)
		if masking != "none" {
			rows = maskStatic(rows)
		}
		shards = append(shards, rows)
		from += n
	}
	writeDataset(t, dir, "mlm_nsp", shards, textConfig(masking, 128))
	return shards
}
