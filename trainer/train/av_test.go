package train

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	gcontext "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/av"
)

// tinyAVConfig is a run of a tiny two-tower network on av_correspond
// fixture shards (16×16 frames, 12×12 log-mel windows) written under dir.
func tinyAVConfig(t *testing.T, dir string) Config {
	t.Helper()
	shards := filepath.Join(dir, "shards", av.TaskCorrespond)
	if _, err := shardtest.AV(shards, 2, 24, 16, 12, 12, 5); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Output = filepath.Join(dir, "run")
	cfg.AV = &model.AV{Frame: model.Conv{Channels: []int{4, 8}, InChannels: 3, Size: 16}, Audio: []int{4, 8}, Hidden: 16}
	cfg.Data = []Dataset{{Dir: shards, Task: av.TaskCorrespond, Loss: "l2", Region: "all"}}
	cfg.Train = Schedule{Steps: 8, BatchSize: 8, LearningRate: 1e-2, ShuffleBuffer: 16, CheckpointEvery: 3, Keep: 2, LogEvery: 1}
	return cfg
}

// TestAVResume: a run of the two-tower network stopped after 4 of 8 steps
// and resumed ends with exactly the weights, Adam state included, of an
// uninterrupted one; the progress lines report the head's accuracy.
func TestAVResume(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyAVConfig(t, dir)
	var log strings.Builder
	full, err := Run(context.Background(), cfg, Options{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("uninterrupted: %+v\n%s", full, log.String())
	if full.Step != 8 || full.Params == 0 || !(full.Accuracy >= 0 && full.Accuracy <= 1) {
		t.Errorf("uninterrupted run: %+v, want 8 steps, parameters and an accuracy", full)
	}
	if !strings.Contains(log.String(), " acc ") {
		t.Errorf("no accuracy in the progress lines:\n%s", log.String())
	}
	want := weights(t, cfg.Output)

	rest, cfg2 := interruptAndResume(t, cfg, dir)
	if rest.Accuracy != full.Accuracy || rest.LastLoss != full.LastLoss {
		t.Errorf("resumed run ends with loss %v, accuracy %v; uninterrupted %v, %v", rest.LastLoss, rest.Accuracy, full.LastLoss, full.Accuracy)
	}
	got := weights(t, cfg2.Output)
	scopes := map[string]bool{}
	for name := range want {
		scopes[strings.Split(name, "/")[1]] = true
	}
	for _, s := range []string{model.EncoderScope, model.AVAudioScope, model.AVHeadScope} {
		if !scopes[s] {
			t.Errorf("no variables under /%s in the checkpoint (scopes %v)", s, scopes)
		}
	}
	// Fine-tuning rebuilds the encoder from the checkpoint's config.model:
	// for an AV run, the frame tower.
	if w := want["/"+model.EncoderScope+"/c0/conv/weights"]; len(w) != 3*3*3*4 {
		t.Errorf("frame tower's first kernel has %d values, want 3×3×3×4", len(w))
	}
	ctx := gcontext.New()
	if _, err := checkpoints.Build(ctx).Dir(filepath.Join(cfg.Output, CheckpointDir)).Immediate().Done(); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Config struct {
			Model model.Conv `json:"model"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(gcontext.GetParamOr(ctx, stateParam, "")), &st); err != nil || !reflect.DeepEqual(st.Config.Model, cfg.AV.Frame) {
		t.Errorf("checkpoint's config.model = %+v (%v), want the frame tower %+v", st.Config.Model, err, cfg.AV.Frame)
	}
	sameWeights(t, got, want, 12)
}

// TestAVLossFalls: on the fixture, where the label is whether the audio's
// band is the one of the frame's colour, the loss falls well below chance's
// (log 2) and the head gets most pairs right.
func TestAVLossFalls(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 150 steps")
	}
	cfg := tinyAVConfig(t, t.TempDir())
	cfg.Train.Steps, cfg.Train.CheckpointEvery, cfg.Train.LogEvery = 150, 150, 25
	var log strings.Builder
	res, err := Run(context.Background(), cfg, Options{Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v\n%s", res, log.String())
	if !(res.LastLoss < 0.7*math.Ln2) || !(res.LastLoss < 0.8*res.FirstLoss) {
		t.Errorf("loss %.4f → %.4f, want it under %.4f (0.7 × chance)", res.FirstLoss, res.LastLoss, 0.7*math.Ln2)
	}
	if !(res.Accuracy > 0.7) {
		t.Errorf("accuracy %.3f, want > 0.7", res.Accuracy)
	}
	curve, err := readCurve(filepath.Join(cfg.Output, LossCSV), 150)
	if err != nil || len(curve) != 150 {
		t.Fatalf("loss.csv: %d rows, %v", len(curve), err)
	}
	if last := curve[149].Accuracy; math.Abs(last-res.Accuracy) > 1e-5 {
		t.Errorf("loss.csv's last accuracy %v, the run's %v", last, res.Accuracy)
	}
}

// TestAVWrongTask: shards of another task under the av model, AV shards
// under the image model, and an av_correspond dataset without the av
// section each fail before training with an error naming what is wrong.
func TestAVWrongTask(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyAVConfig(t, dir)
	images := filepath.Join(dir, "shards", "denoise")
	if _, err := shardtest.Images(images, "denoise", 1, 8, 16, 3); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want []string
	}{
		{"denoise shards as av_correspond", func(c *Config) { c.Data[0].Dir = images }, []string{"denoise", av.TaskCorrespond}},
		{"av shards as denoise", func(c *Config) {
			c.AV, c.Model = nil, model.Conv{Channels: []int{4, 8}, InChannels: 1, Size: 16}
			c.Data[0].Task = "denoise"
		}, []string{"denoise", av.TaskCorrespond}},
		{"av_correspond without av", func(c *Config) { c.AV = nil }, []string{"av:", av.TaskCorrespond}},
		{"av with an image dataset", func(c *Config) {
			c.Data = append(c.Data, Dataset{Dir: images, Task: "denoise", Loss: "l2", Region: "all"})
		}, []string{"av:", "every dataset"}},
		{"frames of another size", func(c *Config) { c.AV.Frame.Size = 32 }, []string{"16×16 frames", "av.frame.size"}},
	} {
		c := tinyAVConfig(t, t.TempDir())
		c.Data[0].Dir = cfg.Data[0].Dir
		c.AV.Frame.Channels = append([]int(nil), cfg.AV.Frame.Channels...)
		tc.edit(&c)
		_, err := Run(context.Background(), c, Options{})
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want it to name %q", tc.name, err, w)
			}
		}
	}
}

// TestAVConfig: configs/train-av.yaml loads with the two-tower model, and a
// bad av section is reported field by field.
func TestAVConfig(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "configs", "train-av.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AV == nil || cfg.BERT != nil || len(cfg.Data) != 1 || cfg.Data[0].Task != av.TaskCorrespond {
		t.Errorf("configs/train-av.yaml: %+v, av %+v", cfg, cfg.AV)
	}
	_, err = Parse([]byte("output: x\nav: {frame: {channels: [0], in_channels: 2, size: 16}, audio_channels: [], hidden: 0}\n" +
		"data: [{dir: d, task: av_correspond}]\n"))
	for _, want := range []string{"av.frame.channels[0]", "av.frame.in_channels", "av.audio_channels", "av.hidden"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
	_, err = Parse([]byte("output: x\nav: {frame: {channels: [4], in_channels: 3, size: 16}, audio_channels: [4], hidden: 4}\n" +
		"bert: {layers: 1, width: 8, heads: 2, max_positions: 8}\ndata: [{dir: d, task: av_correspond}]\n"))
	if err == nil || !strings.Contains(err.Error(), "bert: and av:") {
		t.Errorf("bert and av: err = %v, want a refusal", err)
	}
}
