package train

import (
	"context"
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

// TestRotation trains the rotation task's head on rows made as the pipeline
// makes them (vision.Rotate of an upright image, raw encoding): images lit
// from above, a bright band at the top, whose rotation the pooled
// features tell. The loss falls and the checkpoint holds head_rotation.
func TestRotation(t *testing.T) {
	const size = 16
	dir := t.TempDir()
	shards := filepath.Join(dir, "shards", vision.TaskRotation)
	rng := rand.New(rand.NewPCG(3, 3))
	enc := vision.Encoding{Format: "png"}
	_, err := shardtest.Write(shards, vision.TaskRotation, 3, nil, 2, 24, func(k, i int) (vision.RotationRow, error) {
		img := image.NewNRGBA(image.Rect(0, 0, size, size))
		for y := range size {
			for x := range size {
				v := uint8(rng.IntN(50))
				if y < size/4 {
					v += 180
				}
				p := img.Pix[y*img.Stride+4*x:]
				p[0], p[1], p[2], p[3] = v, v, v, 255
			}
		}
		r := rng.IntN(4)
		in, err := vision.Encode(vision.Rotate(img, r), enc)
		if err != nil {
			return vision.RotationRow{}, err
		}
		return vision.RotationRow{Key: fmt.Sprintf("r%04d", k*24+i), Split: "train", Width: size, Height: size,
			Encoding: enc.Format, Input: in, Rotation: int32(r)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Output = filepath.Join(dir, "run")
	cfg.Model = model.Conv{Channels: []int{8, 16}, InChannels: 1, Size: size}
	cfg.Data = []Dataset{{Dir: shards, Task: vision.TaskRotation, Loss: "l2", Region: "all"}}
	cfg.Train = Schedule{Steps: 40, BatchSize: 8, LearningRate: 1e-2, ShuffleBuffer: 16, CheckpointEvery: 40, Keep: 1, LogEvery: 10}
	var log strings.Builder
	res, err := Run(context.Background(), cfg, Options{Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("loss %.4f → %.4f", res.FirstLoss, res.LastLoss)
	if res.LastLoss >= 0.7*res.FirstLoss {
		t.Errorf("loss %.4f → %.4f in 40 steps, want a fall of at least 30%%\n%s", res.FirstLoss, res.LastLoss, log.String())
	}
	found := false
	for name := range weights(t, cfg.Output) {
		found = found || strings.HasPrefix(name, "/head_"+vision.TaskRotation+"/")
	}
	if !found {
		t.Errorf("no /head_%s variables in the checkpoint", vision.TaskRotation)
	}
}
