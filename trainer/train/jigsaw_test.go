package train

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/trainer/backend"
	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/seeding"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// jigsawShards writes a jigsaw dataset made by the task's registered
// labeller, as the pipeline makes it, into dir: 2×2 puzzles of 24×24
// images (cells of 12, tiles of 10) whose brightness grows with the
// distance from a centre near the middle, so that each tile's gradient,
// which per-tile normalisation keeps, points away from the centre and
// tells the cell it came from. The manifest records the permutation set.
func jigsawShards(t *testing.T, dir string, cfg vision.JigsawConfig) {
	t.Helper()
	const size = 24
	task, _ := transforms.Lookup(vision.TaskJigsaw)
	lab := task.Impl.(vision.Labeler)
	rng := rand.New(rand.NewPCG(5, 5))
	const rows = 32
	_, err := shardtest.Write(dir, vision.TaskJigsaw, 3, map[string]any{"task": vision.TaskJigsaw, "modality": "image", "config": cfg}, 2, rows, func(k, i int) (vision.JigsawRow, error) {
		img := image.NewNRGBA(image.Rect(0, 0, size, size))
		cx, cy := 10+rng.Float64()*4, 10+rng.Float64()*4
		for y := range size {
			for x := range size {
				v := math.Hypot(float64(x)-cx, float64(y)-cy)*12 + rng.Float64()*20
				p := img.Pix[img.PixOffset(x, y):]
				p[0], p[1], p[2], p[3] = uint8(v), uint8(v), uint8(v), 255
			}
		}
		key := fmt.Sprintf("j%04d", k*rows+i)
		ex := &vision.Example{Key: key, Split: "train", Image: img, Encoding: vision.Encoding{Format: "png"}}
		row, _, _, err := lab.Label(ex, &cfg, 0, seeding.New(1, vision.TaskJigsaw, key, 0))
		if err != nil {
			return vision.JigsawRow{}, err
		}
		return row.(vision.JigsawRow), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The pipeline's manifest carries the set in info: add it.
	path := filepath.Join(dir, sinks.ManifestName)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m sinks.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	perms, _ := json.Marshal(task.Info(&cfg)["permutations"])
	m.Info = map[string]json.RawMessage{"permutations": perms}
	if raw, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// jigsawConfig is a run of a 2-layer encoder on the jigsaw shards of dir.
func jigsawConfig(t *testing.T, dir string) Config {
	t.Helper()
	jc := vision.DefaultJigsawConfig()
	jc.Grid, jc.NumPermutations = 2, 6
	shards := filepath.Join(dir, "shards", vision.TaskJigsaw)
	jigsawShards(t, shards, jc)
	cfg := Default()
	cfg.Output = filepath.Join(dir, "run")
	cfg.Model = model.Conv{Channels: []int{8, 16}, InChannels: 1, Size: 24}
	cfg.Data = []Dataset{{Dir: shards, Task: vision.TaskJigsaw, Loss: "l2", Region: "all"}}
	cfg.Train = Schedule{Steps: 60, BatchSize: 16, LearningRate: 1e-2, ShuffleBuffer: 32, CheckpointEvery: 60, Keep: 1, LogEvery: 10}
	return cfg
}

// TestJigsaw trains the jigsaw head on the labeller's rows: the loss (6
// permutations, ln 6 = 1.79 at chance) falls clearly, and the checkpoint
// holds head_jigsaw beside the shared encoder.
func TestJigsaw(t *testing.T) {
	dir := t.TempDir()
	cfg := jigsawConfig(t, dir)
	var log strings.Builder
	res, err := Run(context.Background(), cfg, Options{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("loss %.4f → %.4f\n%s", res.FirstLoss, res.LastLoss, log.String())
	// Labels drawn at random instead (nothing to learn but the 64 rows by
	// heart) go from 1.96 to 1.54 in these 60 steps.
	if res.LastLoss >= 0.4*res.FirstLoss {
		t.Errorf("loss %.4f → %.4f in %d steps, want a fall of at least 60%%\n%s", res.FirstLoss, res.LastLoss, cfg.Train.Steps, log.String())
	}
	var head, encoder bool
	for name := range weights(t, cfg.Output) {
		head = head || strings.HasPrefix(name, "/head_"+vision.TaskJigsaw+"/")
		encoder = encoder || strings.HasPrefix(name, "/"+model.EncoderScope+"/")
	}
	if !head || !encoder {
		t.Errorf("checkpoint: head_%s variables %v, encoder variables %v", vision.TaskJigsaw, head, encoder)
	}
}

// TestJigsawResume: a jigsaw run stopped after 4 of 8 steps and resumed
// from its step-3 checkpoint ends with the weights of a run never stopped.
func TestJigsawResume(t *testing.T) {
	dir := t.TempDir()
	cfg := jigsawConfig(t, dir)
	cfg.Train = Schedule{Steps: 8, BatchSize: 8, LearningRate: 1e-2, ShuffleBuffer: 16, CheckpointEvery: 3, Keep: 2, LogEvery: 1}
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	want := weights(t, cfg.Output)
	_, cfg2 := interruptAndResume(t, cfg, dir)
	sameWeights(t, weights(t, cfg2.Output), want, 8)
}

// A jigsaw dataset whose manifest has no permutation set fails before
// training, saying what is missing.
func TestJigsawNoPermutations(t *testing.T) {
	dir := t.TempDir()
	cfg := jigsawConfig(t, dir)
	path := filepath.Join(cfg.Data[0].Dir, sinks.ManifestName)
	raw, _ := os.ReadFile(path)
	var m sinks.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m.Info = nil
	raw, _ = json.Marshal(m)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "info.permutations") {
		t.Errorf("err = %v, want one naming info.permutations", err)
	}
}

// cutTiles puts each puzzle's tile i, row-major, at p·grid² + i, and
// normalizeTiles makes each tile's mean 0 and deviation about 1.
func TestJigsawTiles(t *testing.T) {
	be, _, err := backend.New("go")
	if err != nil {
		t.Fatal(err)
	}
	const n, g, s, ch = 2, 3, 4, 2
	side := g * s
	px := make([]float32, n*side*side*ch)
	for i := range px {
		px[i] = float32(i)
	}
	x := tensors.FromFlatDataAndDimensions(px, n, side, side, ch)
	out := graph.MustNewExec(be, func(x *graph.Node) *graph.Node { return cutTiles(x, g, s) }).MustExec1(x)
	if d := out.Shape().Dimensions; len(d) != 4 || d[0] != n*g*g || d[1] != s || d[2] != s || d[3] != ch {
		t.Fatalf("tiles %v, want [%d %d %d %d]", d, n*g*g, s, s, ch)
	}
	got := tensors.MustCopyFlatData[float32](out)
	for p := range n {
		for i := range g * g {
			for y := range s {
				for xx := range s {
					for c := range ch {
						want := px[((p*side+i/g*s+y)*side+i%g*s+xx)*ch+c]
						if v := got[(((p*g*g+i)*s+y)*s+xx)*ch+c]; v != want {
							t.Fatalf("puzzle %d tile %d (%d,%d,%d) = %v, want %v", p, i, xx, y, c, v, want)
						}
					}
				}
			}
		}
	}
	// Scaled to pixel-like values (a tile's deviation about 0.25), far
	// above the epsilon's 0.03: the deviation comes out just under 1.
	norm := tensors.MustCopyFlatData[float32](graph.MustNewExec(be, func(x *graph.Node) *graph.Node {
		return normalizeTiles(graph.MulScalar(cutTiles(x, g, s), 0.01))
	}).MustExec1(x))
	per := s * s * ch
	for k := range n * g * g {
		var mean, sq float64
		for _, v := range norm[k*per : (k+1)*per] {
			mean += float64(v)
			sq += float64(v) * float64(v)
		}
		mean /= float64(per)
		if dev := math.Sqrt(sq/float64(per) - mean*mean); math.Abs(mean) > 1e-4 || dev < 0.9 || dev > 1 {
			t.Errorf("tile %d: mean %g, deviation %g after normalising", k, mean, dev)
		}
	}
}
