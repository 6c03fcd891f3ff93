// Package shardtest writes small image datasets the way the pipelines write
// them (shards with pretext's footer keys, a manifest committing them), from
// seeded generators, for the trainer's tests.
package shardtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pretext-dev/pretext/sinks"
)

// Images writes an image dataset of task ("denoise" or "inpaint") into dir:
// shards shards of rows rows each, of size×size gray blobs (as RGB PNGs), the
// input corrupted by noise (denoise) or a square hole of zeros (inpaint).
// It returns the dataset's manifest.
func Images(dir, task string, shards, rows, size int, seed uint64) (*sinks.Manifest, error) {
	rng := rand.New(rand.NewPCG(seed, 1))
	key := func(k, i int) string { return fmt.Sprintf("img%05d.png", k*rows+i) }
	switch task {
	case "denoise":
		return Write(dir, task, seed, nil, shards, rows, func(k, i int) (sinks.DenoiseRow, error) {
			clean, noisy, _ := sample(rng, size, task)
			return sinks.DenoiseRow{
				Key: key(k, i), Source: "shardtest", Split: "train", Width: int32(size), Height: int32(size),
				Encoding: "png", Input: encodePNG(noisy), Target: encodePNG(clean), Noise: "gaussian", NoiseLevel: 20,
			}, nil
		})
	case "inpaint":
		return Write(dir, task, seed, nil, shards, rows, func(k, i int) (sinks.InpaintRow, error) {
			clean, holed, hole := sample(rng, size, task)
			return sinks.InpaintRow{
				Key: key(k, i), Source: "shardtest", Split: "train", Width: int32(size), Height: int32(size),
				Encoding: "png", Input: encodePNG(holed), Target: encodePNG(clean), Mask: encodePNG(hole),
				MaskKind: "random_blocks", MaskRatio: 0.25,
			}, nil
		})
	}
	return nil, fmt.Errorf("shardtest: task %q", task)
}

// Write writes task's dataset of row type T into dir as the pipelines do:
// shards shards of rows rows each, row(k, i) making row i of shard k
// (called in that order), the manifest last, with config (marshalled to
// JSON) as its config when not nil. A test of a task of its own writes its
// rows with it.
func Write[T any](dir, task string, seed uint64, config any, shards, rows int, row func(k, i int) (T, error)) (*sinks.Manifest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	m := &sinks.Manifest{
		Task: task, SchemaVersion: sinks.SchemaVersion, PretextVersion: sinks.Version,
		Seed: int64(seed), ConfigHash: "shardtest-" + task,
		Filtered: map[string]int64{}, DeadLetterReasons: map[string]int64{},
		Shards: []sinks.ShardEntry{},
	}
	if config != nil {
		raw, err := json.Marshal(config)
		if err != nil {
			return nil, err
		}
		m.Config = raw
	}
	for k := range shards {
		var buf bytes.Buffer
		w := sinks.NewShardWriter[T](&buf, shardOptions(task, m))
		for i := range rows {
			r, err := row(k, i)
			if err != nil {
				return nil, err
			}
			if _, err := w.Write([]T{r}); err != nil {
				return nil, err
			}
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		if err := addShard(dir, fmt.Sprintf("%s-%05d-of-%05d.parquet", task, k, shards), buf.Bytes(), rows, m); err != nil {
			return nil, err
		}
	}
	return m, writeManifest(dir, m)
}

func shardOptions(task string, m *sinks.Manifest) sinks.ShardOptions {
	return sinks.ShardOptions{RowGroupRows: 16, Metadata: map[string]string{
		"pretext.task": task, "pretext.schema_version": m.SchemaVersion, "pretext.config_hash": m.ConfigHash,
		"pretext.seed": strconv.FormatInt(m.Seed, 10), "pretext.version": sinks.Version,
	}}
}

// sample draws a gray blob image, its corrupted copy and the hole mask.
func sample(rng *rand.Rand, size int, task string) (clean, corrupt *image.NRGBA, hole *image.Gray) {
	clean = image.NewNRGBA(image.Rect(0, 0, size, size))
	corrupt = image.NewNRGBA(clean.Rect)
	hole = image.NewGray(clean.Rect)
	cx, cy, r := rng.Float64()*float64(size), rng.Float64()*float64(size), 2+rng.Float64()*float64(size)/3
	hx, hy, hs := rng.IntN(size/2), rng.IntN(size/2), size/4
	for y := range size {
		for x := range size {
			dx, dy := float64(x)-cx, float64(y)-cy
			v := 0.0
			if dx*dx+dy*dy < r*r {
				v = 230
			}
			n := v
			inHole := x >= hx && x < hx+hs && y >= hy && y < hy+hs
			if task == "denoise" {
				n = min(max(v+rng.NormFloat64()*40, 0), 255)
			} else if inHole {
				n = 0
				hole.Pix[y*hole.Stride+x] = 255
			}
			for c := range 3 {
				clean.Pix[y*clean.Stride+4*x+c] = uint8(v)
				corrupt.Pix[y*corrupt.Stride+4*x+c] = uint8(n)
			}
			clean.Pix[y*clean.Stride+4*x+3], corrupt.Pix[y*corrupt.Stride+4*x+3] = 255, 255
		}
	}
	return clean, corrupt, hole
}

func encodePNG(img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // in-memory encoding of a valid image does not fail
	}
	return b.Bytes()
}

// addShard writes a shard's bytes as dir/name and lists it in m.
func addShard(dir, name string, data []byte, rows int, m *sinks.Manifest) error {
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	m.Shards = append(m.Shards, sinks.ShardEntry{Path: name, Rows: int64(rows), Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	m.Rows += int64(rows)
	return nil
}

// writeManifest commits m in dir, every input labeled.
func writeManifest(dir string, m *sinks.Manifest) error {
	m.Inputs, m.Labeled = m.Rows, m.Rows
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, sinks.ManifestName), data, 0o644)
}
