package train

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	gcontext "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
)

// tinyConfig is a run of a 2-layer model on 16×16 denoise and inpaint
// fixtures written under dir.
func tinyConfig(t *testing.T, dir string) Config {
	t.Helper()
	for _, task := range []string{"denoise", "inpaint"} {
		if _, err := shardtest.Images(filepath.Join(dir, "shards", task), task, 2, 12, 16, 3); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Default()
	cfg.Output = filepath.Join(dir, "run")
	cfg.Model = model.Conv{Channels: []int{4, 8}, InChannels: 1, Size: 16}
	cfg.Data = []Dataset{
		{Dir: filepath.Join(dir, "shards", "denoise"), Task: "denoise", Loss: "l2", Region: "all"},
		{Dir: filepath.Join(dir, "shards", "inpaint"), Task: "inpaint", Loss: "l1", Region: "hole"},
	}
	cfg.Train = Schedule{Steps: 8, BatchSize: 4, LearningRate: 1e-2, ShuffleBuffer: 8, CheckpointEvery: 3, Keep: 2, LogEvery: 1}
	return cfg
}

// weights loads the last checkpoint of a run: every variable, by scope and name.
func weights(t *testing.T, run string) map[string][]float32 {
	t.Helper()
	ctx := gcontext.New()
	if _, err := checkpoints.Build(ctx).Dir(filepath.Join(run, CheckpointDir)).Immediate().Done(); err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for v := range ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		if data, err := tensors.CopyFlatData[float32](val); err == nil {
			out[v.ScopeAndName()] = data
		}
	}
	return out
}

// TestResume: a run stopped after 4 of 8 steps (its last checkpoint at step
// 3) and started again ends with exactly the weights, Adam state included, of
// a run that was never stopped; and the first run's loss falls.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t, dir)
	var log strings.Builder
	full, err := Run(context.Background(), cfg, Options{Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("uninterrupted: %+v\n%s", full, log.String())
	if full.Step != 8 || full.LastLoss >= full.FirstLoss {
		t.Errorf("uninterrupted run: %+v, want 8 steps and a falling loss", full)
	}
	want := weights(t, cfg.Output)

	_, cfg2 := interruptAndResume(t, cfg, dir)
	sameWeights(t, weights(t, cfg2.Output), want, 8)
	for _, f := range []string{LossCSV, LossPNG} {
		a, err1 := os.ReadFile(filepath.Join(cfg.Output, f))
		b, err2 := os.ReadFile(filepath.Join(cfg2.Output, f))
		if err1 != nil || err2 != nil || len(a) == 0 || len(b) == 0 {
			t.Errorf("%s: %v %v", f, err1, err2)
		}
	}
	csv, _ := os.ReadFile(filepath.Join(cfg2.Output, LossCSV))
	if n := strings.Count(string(csv), "\n"); n != 9 {
		t.Errorf("resumed run's %s has %d lines, want a header and 8 steps:\n%s", LossCSV, n, csv)
	}
}

// TestResumeOtherConfig: a checkpoint of another configuration is refused.
func TestResumeOtherConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t, dir)
	cfg.Train.Steps = 3
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	cfg.Train.LearningRate = 0.5
	cfg.Train.Steps = 6
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "another configuration") {
		t.Errorf("resuming with another learning rate: err = %v, want a refusal", err)
	}
}

// TestWrongTask: a denoise folder given as inpaint fails before training,
// naming both tasks.
func TestWrongTask(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t, dir)
	cfg.Data[1].Dir = cfg.Data[0].Dir
	_, err := Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "denoise") || !strings.Contains(err.Error(), "inpaint") {
		t.Errorf("err = %v, want a wrong-task error naming denoise and inpaint", err)
	}
}

// TestTruncatedShard: a shard cut in half fails with one error naming it.
func TestTruncatedShard(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig(t, dir)
	shard := filepath.Join(cfg.Data[0].Dir, "denoise-00001-of-00002.parquet")
	b, err := os.ReadFile(shard)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shard, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "denoise-00001-of-00002.parquet") {
		t.Errorf("err = %v, want an error naming the truncated shard", err)
	}
	t.Log(err)
}

func TestConfigValidate(t *testing.T) {
	_, err := Parse([]byte("output: x\ndata: [{dir: d, task: mlm, loss: l3, region: hole}]\ntrain: {steps: 0}\n"))
	for _, want := range []string{"data[0].task", "data[0].loss", "data[0].region", "train.steps"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name %s", err, want)
		}
	}
	if _, err := Parse([]byte("outptu: x\n")); err == nil {
		t.Error("an unknown key was accepted")
	}
}

// sameWeights fails t unless got holds exactly want's variables, at least
// minVars of them, with bit-identical values: a resumed run against an
// uninterrupted one.
// interruptAndResume runs cfg (8 steps, a checkpoint every 3) into
// dir/run2, stopped after step 4, then resumes it; it fails the test unless
// the second run starts from the step-3 checkpoint and reaches step 8, and
// returns that run and its config.
func interruptAndResume(t *testing.T, cfg Config, dir string) (*Result, Config) {
	t.Helper()
	cfg.Output = filepath.Join(dir, "run2")
	part, err := Run(context.Background(), cfg, Options{StopAfter: 4})
	if err != nil {
		t.Fatal(err)
	}
	if part.Step != 4 {
		t.Fatalf("interrupted run stopped at step %d, want 4", part.Step)
	}
	var log strings.Builder
	rest, err := Run(context.Background(), cfg, Options{Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if rest.ResumedFrom != 3 || rest.Step != 8 {
		t.Errorf("resumed run: from step %d to %d, want 3 to 8\n%s", rest.ResumedFrom, rest.Step, log.String())
	}
	return rest, cfg
}

func sameWeights(t *testing.T, got, want map[string][]float32, minVars int) {
	t.Helper()
	if len(got) != len(want) || len(want) < minVars {
		t.Fatalf("resumed run has %d variables, uninterrupted %d (want >= %d): only resumed %v, only uninterrupted %v",
			len(got), len(want), minVars, diffNames(got, want), diffNames(want, got))
	}
	for name, w := range want {
		g := got[name]
		if len(g) != len(w) {
			t.Errorf("%s: %d values, want %d", name, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s[%d] = %v after resuming, %v uninterrupted", name, i, g[i], w[i])
				break
			}
		}
	}
}

func diffNames(a, b map[string][]float32) (onlyA []string) {
	for k := range a {
		if _, ok := b[k]; !ok {
			onlyA = append(onlyA, k)
		}
	}
	return onlyA
}
