package finetune

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
	ptrain "github.com/pretext-dev/pretext/trainer/train"
)

// writeClasses writes a folder per class of 16×16 PNGs: class c is a bar at
// row 4c (+ noise), n images each.
func writeClasses(t *testing.T, dir string, classes, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	for c := range classes {
		cdir := filepath.Join(dir, fmt.Sprintf("class%d", c))
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			img := image.NewGray(image.Rect(0, 0, 16, 16))
			for j := range img.Pix {
				img.Pix[j] = uint8(rng.IntN(60))
			}
			y := 4*c + rng.IntN(3)
			for x := range 16 {
				img.Pix[y*16+x] = 250
			}
			f, err := os.Create(filepath.Join(cdir, fmt.Sprintf("%03d.png", i)))
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, img); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
}

func TestEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "cats"), 0o755) // a class folder without images
	_, err := Load(dir, "train", 16, 1)
	if !errors.Is(err, ErrNoImages) || !strings.Contains(err.Error(), dir) {
		t.Errorf("err = %v, want ErrNoImages naming %s", err, dir)
	}
}

func TestSubsetDeterministic(t *testing.T) {
	dir := t.TempDir()
	writeClasses(t, dir, 3, 20, 1)
	l, err := Load(dir, "train", 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 60 || len(l.Classes) != 3 {
		t.Fatalf("loaded %d images of %d classes, want 60 of 3", l.Len(), len(l.Classes))
	}
	a, _ := Subset(l, 5, 7)
	b, _ := Subset(l, 5, 7)
	c, _ := Subset(l, 5, 8)
	if !slices.Equal(a, b) || slices.Equal(a, c) || len(a) != 15 {
		t.Errorf("subsets: seed 7 %v and %v, seed 8 %v: want 15, equal for one seed, different for another", a, b, c)
	}
	for k, i := range a {
		if l.Labels[i] != k/5 {
			t.Errorf("subset[%d] is of class %d, want %d", k, l.Labels[i], k/5)
		}
	}
	if _, err := Subset(l, 21, 7); err == nil {
		t.Error("21 per class of 20 was accepted")
	}
}

// TestRun: on an easy 3-class set, a pretrained encoder (a few steps of
// denoising), scratch and pixels all train, and the report has their rows.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	writeClasses(t, filepath.Join(dir, "train"), 3, 12, 1)
	writeClasses(t, filepath.Join(dir, "test"), 3, 10, 2)
	if _, err := shardtest.Images(filepath.Join(dir, "shards"), "denoise", 1, 16, 16, 3); err != nil {
		t.Fatal(err)
	}
	cfg := ptrain.Default()
	cfg.Output = filepath.Join(dir, "run")
	cfg.Model = model.Conv{Channels: []int{4, 8}, InChannels: 1, Size: 16}
	cfg.Data = []ptrain.Dataset{{Dir: filepath.Join(dir, "shards"), Task: "denoise", Loss: "l2", Region: "all"}}
	cfg.Train = ptrain.Schedule{Steps: 4, BatchSize: 4, LearningRate: 1e-2, ShuffleBuffer: 4, CheckpointEvery: 4, Keep: 1, LogEvery: 4}
	if _, err := ptrain.Run(context.Background(), cfg, ptrain.Options{}); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Pretrained, o.Train, o.Test = cfg.Output, filepath.Join(dir, "train"), filepath.Join(dir, "test")
	o.LabelsPerClass, o.ValPerClass, o.Steps, o.BatchSize = 6, 2, 30, 8
	o.LearningRates = []float64{1e-2, 3e-2}
	rep, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"pretrained-linear", "pretrained-full", "scratch", "pixels"} {
		r := rep.Row(m)
		if r == nil {
			t.Errorf("no row %s", m)
			continue
		}
		t.Logf("%+v", *r)
		if len(r.ValAccuracies) != 2 || r.TestAccuracy < 0.6 {
			t.Errorf("%s: %+v, want 2 grid points and test accuracy >= 0.6 on bars", m, *r)
		}
	}
	if rep.Best != "pretrained-linear" && rep.Best != "pretrained-full" {
		t.Errorf("best pretrained = %q", rep.Best)
	}
}
