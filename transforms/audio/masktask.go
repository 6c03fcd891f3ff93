package audio

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// maskTask is audio_mask's Labeler: one row per clip, the clip's log-mel
// masked as the task's MaskConfig says (ApplyMask) with the unmasked log-mel
// as its target.
type maskTask struct{}

// Label implements Labeler. Its statistics: clips, cells (frames × bins),
// masked_cells, and silent (clips below audio.silence_dbfs).
func (maskTask) Label(c *Example, cfg transforms.Config, rng *rand.Rand) ([]Row, error) {
	mc := cfg.(*MaskTaskConfig).MaskConfig
	input, mask, ts, fs := ApplyMask(c.LogMel, c.Frames, c.Bins, mc, rng)
	if input == nil {
		return nil, fmt.Errorf("mask of %d×%d log-mel failed", c.Frames, c.Bins)
	}
	// The fill value, for readers: what every masked cell holds.
	var fill float32
	for i, m := range mask {
		if m == 1 {
			fill = input[i]
			break
		}
	}
	row := sinks.AudioMaskRow{
		Key: c.Key, Source: c.Source, Split: c.Split,
		ClipStartS: c.Start, ClipSeconds: c.Seconds, SampleRate: int32(c.SampleRate),
		MelBins: int32(c.Bins), MelFrames: int32(c.Frames),
		Input: input, Target: c.LogMel, Mask: mask, Fill: fill,
		TimeMaskShare: float32(ts), FreqMaskShare: float32(fs),
		Silent: c.Silent, AudioDBFS: float32(c.DBFS),
	}
	stats := []Stat{
		{"clips", 1},
		{"cells", int64(row.MelFrames) * int64(row.MelBins)},
		{"masked_cells", int64(bytes.Count(mask, []byte{1}))},
	}
	if row.Silent {
		stats = append(stats, Stat{"silent", 1})
	}
	return []Row{{Row: row, Size: row.RowBytes() + 256, Stats: stats}}, nil
}
