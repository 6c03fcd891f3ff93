package train

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms"
)

// stripesTask is a classification task that exists in this test only, to
// show that a task's whole trainer side is one file's init, as a new task's
// file in this package would have it: its reader (data.Register, an image
// batcher over its own row type that sets the batch's Class) and its Task
// (the conv model with a class head). Its rows are noisy stripes of one of
// four directions (horizontal, vertical, two diagonals): the class, which
// local features averaged over the image tell, as they tell a rotation.
const stripesTask = "stripes_test"

type stripesRow struct {
	Key       string `parquet:"key"`
	Split     string `parquet:"split"`
	Width     int32  `parquet:"width"`
	Height    int32  `parquet:"height"`
	Encoding  string `parquet:"encoding"`
	Input     []byte `parquet:"input"`
	Direction int32  `parquet:"direction"`
}

func init() {
	data.Register(stripesTask, data.Rows[stripesRow]{
		Key:   func(r *stripesRow) string { return r.Key },
		Split: func(r *stripesRow) string { return r.Split },
		Batcher: data.ImageBatcher(stripesTask, func(r *stripesRow) data.ImageRow {
			return data.ImageRow{Key: r.Key, Width: r.Width, Height: r.Height, Encoding: r.Encoding, Input: r.Input, InputChannels: 3}
		}, func(b *data.ImageBatch, rows []stripesRow) error {
			b.Class = make([]int32, len(rows))
			for i := range rows {
				b.Class[i] = rows[i].Direction
			}
			return nil
		}),
	})
	Register(Task{Name: stripesTask, Model: ConvModel,
		Params: []Param{{Name: "scale", Default: 1, Min: 0.5, Max: 2}},
		Tensors: func(f Feed, b data.Batch) ([]*tensors.Tensor, []*tensors.Tensor, ConvHead, error) {
			ib, in, err := imageInput(f.Config.Model, b)
			if err != nil {
				return nil, nil, nil, err
			}
			lab, err := classLabels(ib, 4)
			return in, lab, classHead{scope: "head_" + stripesTask, classes: 4}, err
		}})
}

// writeStripes writes a stripesTask dataset of size×size images.
func writeStripes(t *testing.T, dir string, shards, rows, size int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 5))
	_, err := shardtest.Write(dir, stripesTask, 5, nil, shards, rows, func(k, i int) (stripesRow, error) {
		d, phase := rng.IntN(4), rng.IntN(4)
		img := image.NewNRGBA(image.Rect(0, 0, size, size))
		for y := range size {
			for x := range size {
				u := [4]int{y, x, x + y, x - y + size}[d] + phase
				v := uint8(rng.IntN(60))
				if u%4 < 2 {
					v += 150
				}
				p := img.Pix[y*img.Stride+4*x:]
				p[0], p[1], p[2], p[3] = v, v, v, 255
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			return stripesRow{}, err
		}
		return stripesRow{Key: fmt.Sprintf("s%04d", k*rows+i), Split: "train", Width: int32(size), Height: int32(size),
			Encoding: "png", Input: b.Bytes(), Direction: int32(d)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestClassificationTask: a task registered from one file trains a class
// head on the conv encoder (its loss falls), alone and beside an image task
// of another head in one run, each head in its own scope.
func TestClassificationTask(t *testing.T) {
	dir := t.TempDir()
	stripes := filepath.Join(dir, "shards", stripesTask)
	writeStripes(t, stripes, 2, 24, 16)
	cfg := Default()
	cfg.Output = filepath.Join(dir, "run")
	cfg.Model = model.Conv{Channels: []int{8, 16}, InChannels: 1, Size: 16}
	cfg.Data = []Dataset{{Dir: stripes, Task: stripesTask, Loss: "l2", Region: "all"}}
	cfg.Train = Schedule{Steps: 40, BatchSize: 8, LearningRate: 1e-2, ShuffleBuffer: 16, CheckpointEvery: 40, Keep: 1, LogEvery: 10}
	var log strings.Builder
	res, err := Run(context.Background(), cfg, Options{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("loss %.4f → %.4f", res.FirstLoss, res.LastLoss)
	if res.LastLoss >= 0.8*res.FirstLoss {
		t.Errorf("loss %.4f → %.4f in 40 steps, want a fall of at least 20%%\n%s", res.FirstLoss, res.LastLoss, log.String())
	}

	images := filepath.Join(dir, "shards", "denoise")
	if _, err := shardtest.Images(images, "denoise", 1, 8, 16, 3); err != nil {
		t.Fatal(err)
	}
	cfg.Output = filepath.Join(dir, "mixed")
	cfg.Data = append(cfg.Data, Dataset{Dir: images, Task: "denoise", Loss: "l1", Region: "all"})
	cfg.Train.Steps, cfg.Train.CheckpointEvery = 4, 4
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	scopes := map[string]bool{}
	for name := range weights(t, cfg.Output) {
		scopes[strings.SplitN(name, "/", 3)[1]] = true
	}
	for _, s := range []string{model.EncoderScope, "decoder", "head_" + stripesTask} {
		if !scopes[s] {
			t.Errorf("no /%s variables in the mixed run's checkpoint (scopes %v)", s, scopes)
		}
	}
}

// Every task the trainer trains is one the loader reads and the pipelines
// register (the test's own task aside), and Tasks lists them by model.
func TestTasksAreRegistered(t *testing.T) {
	names := Tasks()
	if len(names) < 6 {
		t.Fatalf("Tasks() = %v", names)
	}
	for _, name := range names {
		if !slices.Contains(data.Tasks(), name) {
			t.Errorf("task %s has no reader in trainer/data", name)
		}
		if _, ok := transforms.Lookup(name); !ok && name != stripesTask {
			t.Errorf("task %s is not registered by any pipeline", name)
		}
	}
	for i := 1; i < len(names); i++ {
		a, _ := Lookup(names[i-1])
		b, _ := Lookup(names[i])
		if a.Model > b.Model || (a.Model == b.Model && a.Name > b.Name) {
			t.Errorf("Tasks() = %v: not by model, then name", names)
		}
	}
	for name, reg := range map[string]func(){
		"twice":      func() { Register(Task{Name: "denoise", Tensors: restoreTensors}) },
		"no tensors": func() { Register(Task{Name: "test_none"}) },
		"bad model":  func() { Register(Task{Name: "test_model", Model: Model(9), Tensors: restoreTensors}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			reg()
		}()
	}
}

// Every shipped training config loads and validates.
func TestTrainConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "train-*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("configs/train-*.yaml: %v %v", files, err)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// TestTaskParams: data[i].params takes the parameters the task declares,
// each in its range, naming every bad one; Feed.Param is the entry's value
// or the declared default.
func TestTaskParams(t *testing.T) {
	cfg := Default()
	cfg.Model = model.Conv{Channels: []int{8, 16}, InChannels: 1, Size: 16}
	cfg.Data = []Dataset{{Dir: "x", Task: stripesTask, Loss: "l2", Region: "all", Params: map[string]float64{"scale": 5, "nope": 1}}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("params scale 5 and nope: no error")
	}
	for _, want := range []string{"data[0].params.scale: must be in [0.5, 2] (got 5)", "data[0].params.nope: task stripes_test takes no parameter nope (it takes scale)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	cfg.Data[0].Params = map[string]float64{"scale": 1.5}
	if err := cfg.Validate(); err != nil {
		t.Errorf("params scale 1.5: %v", err)
	}
	if got := (Feed{Data: cfg.Data[0]}).Param("scale"); got != 1.5 {
		t.Errorf("Param(scale) = %g, want the entry's 1.5", got)
	}
	if got := (Feed{Data: Dataset{Task: stripesTask}}).Param("scale"); got != 1 {
		t.Errorf("Param(scale) = %g, want the default 1", got)
	}
}
