package train

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
)

// TestColorizeTargets: colorize trains on each of its targets — the RGB
// image, the block ab values, the 313 ab bins — each with its own decoder
// beside the shared encoder, and the loss falls: the discs' colour is
// learnable from where the L* input's disc is not, so a falling loss needs
// the ab head to learn something beyond a constant.
func TestColorizeTargets(t *testing.T) {
	dir := t.TempDir()
	shards := filepath.Join(dir, "colorize")
	if _, err := shardtest.Colorize(shards, 2, 16, 16, 4, 5); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"rgb", "ab", "bins"} {
		t.Run(target, func(t *testing.T) {
			cfg := Default()
			cfg.Output = filepath.Join(dir, "run-"+target)
			cfg.Model = model.Conv{Channels: []int{8, 16}, InChannels: 1, Size: 16}
			cfg.Data = []Dataset{{Dir: shards, Task: "colorize", Loss: "l2", Region: "all", Target: target}}
			cfg.Train = Schedule{Steps: 40, BatchSize: 8, LearningRate: 1e-2, ShuffleBuffer: 16, CheckpointEvery: 40, Keep: 1, LogEvery: 10}
			var log strings.Builder
			res, err := Run(context.Background(), cfg, Options{Log: &log})
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			t.Logf("target %s: loss %.4f → %.4f", target, res.FirstLoss, res.LastLoss)
			if res.LastLoss >= 0.8*res.FirstLoss {
				t.Errorf("loss %.4f → %.4f in 40 steps, want a fall of at least 20%%\n%s", res.FirstLoss, res.LastLoss, log.String())
			}
			w := weights(t, cfg.Output)
			scope := map[string]string{"rgb": "/decoder/", "ab": "/decoder_ab/", "bins": "/decoder_bins/"}[target]
			var found bool
			for name := range w {
				if strings.HasPrefix(name, scope) {
					found = true
				}
				if strings.HasPrefix(name, "/decoder") && !strings.HasPrefix(name, scope) {
					t.Errorf("variable %s in a run of target %s", name, target)
				}
			}
			if !found {
				t.Errorf("no %s variables in the checkpoint", scope)
			}
		})
	}
}

func TestColorizeTargetConfig(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"data: [{dir: d, task: colorize, target: lab}]", "data[0].target: must be rgb (the default), ab or bins"},
		{"data: [{dir: d, task: denoise, target: ab}]", "data[0].target: only colorize"},
	} {
		_, err := Parse([]byte("output: x\n" + tc.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
