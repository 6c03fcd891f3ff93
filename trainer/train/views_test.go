package train

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// viewsShards writes a views dataset made by the task's own labeller
// (vision.Labelers, SimCLR's defaults) from images small and distinct
// enough to tell apart: each a background, a disc and a stripe of colours
// of its own, at a place of its own. It returns the dataset's folder.
func viewsShards(t *testing.T, dir string, images, size int) string {
	t.Helper()
	cfg := vision.DefaultViewsConfig()
	conf, _ := json.Marshal(cfg)
	l, err := vision.NewLabelers([]vision.TaskSpec{{Name: vision.TaskViews, Config: conf}})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	colour := func() [3]uint8 { return [3]uint8{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256))} }
	shards := filepath.Join(dir, "shards", vision.TaskViews)
	_, err = shardtest.Write(shards, vision.TaskViews, 5, map[string]any{"task": vision.TaskViews, "modality": "image", "config": cfg}, 2, images/2,
		func(k, i int) (vision.ViewsRow, error) {
			bg, disc, stripe := colour(), colour(), colour()
			cx, cy, r := rng.Float64()*float64(size), rng.Float64()*float64(size), float64(size)/6+rng.Float64()*float64(size)/4
			sy := rng.IntN(size)
			img := image.NewNRGBA(image.Rect(0, 0, size, size))
			for y := range size {
				for x := range size {
					c := bg
					if dx, dy := float64(x)-cx, float64(y)-cy; dx*dx+dy*dy < r*r {
						c = disc
					}
					if y >= sy && y < sy+size/5 {
						c = stripe
					}
					p := img.Pix[y*img.Stride+4*x:]
					p[0], p[1], p[2], p[3] = c[0], c[1], c[2], 255
				}
			}
			key := fmt.Sprintf("img%04d.png", k*images/2+i)
			pending, err := l.Label(5, &vision.Example{Key: key, Source: key, Split: "train", Image: img, Encoding: vision.Encoding{Format: "png"}})
			if err != nil {
				return vision.ViewsRow{}, err
			}
			return pending[0].Row.(vision.ViewsRow), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return shards
}

// viewsConfig trains a 2-layer encoder on shards with NT-Xent at
// temperature tau.
func viewsConfig(dir, shards string, size int, tau float64, steps int) Config {
	cfg := Default()
	cfg.Output = filepath.Join(dir, fmt.Sprintf("run-%g-%d", tau, steps))
	cfg.Model = model.Conv{Channels: []int{8, 16}, InChannels: 3, Size: size}
	cfg.Data = []Dataset{{Dir: shards, Task: vision.TaskViews, Loss: "l2", Region: "all", Params: map[string]float64{"temperature": tau}}}
	cfg.Train = Schedule{Steps: steps, BatchSize: 8, LearningRate: 1e-2, ShuffleBuffer: 16, CheckpointEvery: 3, Keep: 2, LogEvery: 10}
	return cfg
}

// TestViews trains the projection head and the encoder with NT-Xent on
// rows made by the views labeller: the loss falls clearly; another
// temperature gives another first loss (τ reaches the graph); the
// checkpoint holds head_views; a run stopped and resumed ends with the
// weights of an uninterrupted one.
func TestViews(t *testing.T) {
	const size = 16
	dir := t.TempDir()
	shards := viewsShards(t, dir, 48, size)

	cfg := viewsConfig(dir, shards, size, 0.5, 200)
	cfg.Train.CheckpointEvery, cfg.Train.LogEvery = 200, 25
	var log strings.Builder
	res, err := Run(context.Background(), cfg, Options{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("τ 0.5: loss %.4f → %.4f", res.FirstLoss, res.LastLoss)
	if res.LastLoss >= 0.8*res.FirstLoss {
		t.Errorf("loss %.4f → %.4f in %d steps, want a fall of at least 20%%\n%s", res.FirstLoss, res.LastLoss, cfg.Train.Steps, log.String())
	}
	found := false
	for name := range weights(t, cfg.Output) {
		found = found || strings.HasPrefix(name, "/head_"+vision.TaskViews+"/")
	}
	if !found {
		t.Errorf("no /head_%s variables in the checkpoint", vision.TaskViews)
	}

	// The same run at another temperature starts at another loss.
	hot, err := Run(context.Background(), viewsConfig(dir, shards, size, 2, 1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cold, err := Run(context.Background(), viewsConfig(dir, shards, size, 0.5, 1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first loss: τ 0.5 %.4f, τ 2 %.4f", cold.FirstLoss, hot.FirstLoss)
	if cold.FirstLoss != res.FirstLoss || hot.FirstLoss == cold.FirstLoss {
		t.Errorf("first loss: τ 0.5 %v (and %v), τ 2 %v: want τ to change it, and nothing else", cold.FirstLoss, res.FirstLoss, hot.FirstLoss)
	}

	// Resume: stopped after 4 of 8 steps, resumed from step 3.
	short := viewsConfig(dir, shards, size, 0.5, 8)
	if _, err := Run(context.Background(), short, Options{}); err != nil {
		t.Fatal(err)
	}
	want := weights(t, short.Output)
	_, resumed := interruptAndResume(t, short, dir)
	sameWeights(t, weights(t, resumed.Output), want, 6)
}
