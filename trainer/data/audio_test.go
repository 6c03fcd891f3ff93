package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
)

func audioConfig() map[string]any {
	return map[string]any{"task": "audio_mask", "audio": map[string]any{
		"clip_seconds": 0.1, "mel": map[string]any{"sample_rate": 16000, "win_length": 400, "hop": 160},
	}}
}

// A whole 0.1 s clip is 1 + (1600-400)/160 = 8 frames; a shorter last clip
// is padded with zeros and Mask 0.
func TestAudioBatch(t *testing.T) {
	const bins = 4
	rng := rand.New(rand.NewPCG(5, 6))
	var rows []sinks.AudioMaskRow
	for i, frames := range []int{8, 3} {
		n := frames * bins
		r := sinks.AudioMaskRow{Key: fmt.Sprintf("a.wav@%d", i), Split: "train", MelFrames: int32(frames), MelBins: bins,
			Input: make([]float32, n), Target: make([]float32, n), Mask: make([]byte, n)}
		for j := range n {
			r.Target[j] = rng.Float32()
			r.Input[j] = r.Target[j]
			if j%3 == 0 {
				r.Mask[j], r.Input[j] = 1, -1
			}
		}
		rows = append(rows, r)
	}
	dir := t.TempDir()
	writeDataset(t, dir, "audio_mask", [][]sinks.AudioMaskRow{rows}, audioConfig())
	bs, _ := collect(t, open(t, dir, options(2, 0, 1)), -1)
	b := bs[0].(*AudioBatch)
	if b.Frames != 8 || b.Bins != bins || len(b.Input) != 2*8*bins || !slices.Equal(b.Lengths, []int32{8, 3}) {
		t.Fatalf("batch shape: frames %d bins %d lengths %v", b.Frames, b.Bins, b.Lengths)
	}
	for i, r := range rows {
		cells := 8 * bins
		have := len(r.Target)
		if !slices.Equal(b.Target[i*cells:i*cells+have], r.Target) || !slices.Equal(b.Input[i*cells:i*cells+have], r.Input) {
			t.Fatalf("row %d: values differ", i)
		}
		for j := range cells {
			want := float32(0)
			if j < have && r.Mask[j] == 1 {
				want = 1
			}
			if b.Mask[i*cells+j] != want || (j >= have && (b.Input[i*cells+j] != 0 || b.Target[i*cells+j] != 0)) {
				t.Fatalf("row %d cell %d: mask %g input %g", i, j, b.Mask[i*cells+j], b.Input[i*cells+j])
			}
		}
	}
}

func TestAVBatch(t *testing.T) {
	const w, h, frames, bins = 6, 4, 5, 3
	rng := rand.New(rand.NewPCG(7, 8))
	var rows []sinks.AVRow
	for i := range 3 {
		logmel := make([]float32, frames*bins)
		for j := range logmel {
			logmel[j] = rng.Float32()
		}
		rows = append(rows, sinks.AVRow{Key: fmt.Sprintf("v.mp4@%d", i), Split: "train", Width: w, Height: h, Encoding: "png",
			Frame: encode(t, randomImage(rng, w, h), "png"), LogMel: logmel, MelFrames: frames, MelBins: bins,
			Label: int32(i % 2), NegativeKind: []string{"other_video", "", "time_shift"}[i]})
	}
	dir := t.TempDir()
	writeDataset(t, dir, "av_correspond", [][]sinks.AVRow{rows}, nil)
	bs, _ := collect(t, open(t, dir, options(3, 0, 1)), -1)
	b := bs[0].(*AVBatch)
	if b.Width != w || b.Height != h || b.Channels != 3 || len(b.Frame) != 3*w*h*3 || b.MelFrames != frames || b.MelBins != bins ||
		!slices.Equal(b.Label, []int32{0, 1, 0}) || b.NegativeKind[2] != "time_shift" {
		t.Fatalf("batch: %+v", b)
	}
	for i, r := range rows {
		if !slices.Equal(b.LogMel[i*frames*bins:(i+1)*frames*bins], r.LogMel) {
			t.Fatalf("row %d: log-mel differs", i)
		}
	}
}
