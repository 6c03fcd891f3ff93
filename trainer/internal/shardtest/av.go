package shardtest

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	"github.com/pretext-dev/pretext/sinks"
)

// AVClasses is the number of kinds of video AV writes.
const AVClasses = 3

// AV writes an av_correspond dataset into dir as the video pipeline writes
// it: shards shards of rows rows each, a size×size RGB frame (PNG) and a
// melFrames×melBins log-mel window per row. Each row's video is of one of
// AVClasses kinds: its frames are noisy with a blob of the kind's colour
// (red, green, blue) and its audio is a band of the kind's bins over a
// silent floor (log 0.01). Half the rows, drawn, are positives (the audio of
// the frame's kind); the others are negatives of kind other_video with the
// audio of another kind, so the label is learnable from the pair only, not
// from either side alone.
func AV(dir string, shards, rows, size, melFrames, melBins int, seed uint64) (*sinks.Manifest, error) {
	const task = "av_correspond"
	config := map[string]any{
		"task": task, "modality": "video",
		"config": map[string]any{"positive_share": 0.5, "negatives": map[string]float64{"other_video": 1}, "window_s": 1},
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	return Write(dir, task, seed, config, shards, rows, func(k, i int) (sinks.AVRow, error) {
		kind := rng.IntN(AVClasses)
		label, audioKind, neg := int32(1), kind, ""
		if rng.IntN(2) == 0 {
			label, audioKind, neg = 0, (kind+1+rng.IntN(AVClasses-1))%AVClasses, "other_video"
		}
		video := fmt.Sprintf("vid%03d-kind%d.mp4", k*rows+i, kind)
		audioVideo := video
		if label == 0 {
			audioVideo = fmt.Sprintf("vid%03d-kind%d.mp4", rng.IntN(1000), audioKind)
		}
		t := float64(rng.IntN(10))
		row := sinks.AVRow{
			Key: fmt.Sprintf("%s@%g", video, t), Video: video, AudioVideo: audioVideo,
			Source: "shardtest", Split: "train", Width: int32(size), Height: int32(size),
			Encoding: "png", Frame: encodePNG(avFrame(rng, size, kind)), FrameTimeS: t,
			AudioStartS: t - 0.5, AudioSeconds: 1, SampleRate: 16000,
			LogMel: avLogMel(rng, melFrames, melBins, audioKind), MelBins: int32(melBins), MelFrames: int32(melFrames),
			Label: label, NegativeKind: neg, AudioDBFS: -20,
		}
		return row, nil
	})
}

// avFrame draws a noisy gray frame with a blob of kind's colour.
func avFrame(rng *rand.Rand, size, kind int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	cx, cy, r := rng.Float64()*float64(size), rng.Float64()*float64(size), float64(size)/4+rng.Float64()*float64(size)/4
	for y := range size {
		for x := range size {
			dx, dy := float64(x)-cx, float64(y)-cy
			in := dx*dx+dy*dy < r*r
			p := img.Pix[y*img.Stride+4*x:]
			for c := range 3 {
				v := 60 + rng.NormFloat64()*20
				if in && c == kind {
					v += 150
				}
				p[c] = uint8(min(max(v, 0), 255))
			}
			p[3] = 255
		}
	}
	return img
}

// avLogMel draws a log-mel window: a floor of log(0.01) plus noise, and
// kind's third of the bins loud, in a few random frames.
func avLogMel(rng *rand.Rand, frames, bins, kind int) []float32 {
	out := make([]float32, frames*bins)
	lo, hi := kind*bins/AVClasses, (kind+1)*bins/AVClasses
	for f := range frames {
		on := rng.IntN(3) > 0
		for b := range bins {
			v := math.Log(0.01) + rng.NormFloat64()*0.3
			if on && b >= lo && b < hi {
				v = 1 + rng.NormFloat64()
			}
			out[f*bins+b] = float32(v)
		}
	}
	return out
}
