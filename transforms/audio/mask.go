package audio

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/pretext-dev/pretext/transforms"
)

// MaskFills are the values MaskConfig.Fill may name.
var MaskFills = []string{"mean", "zero", "min"}

// MaskConfig configures masked spectrogram modelling (task audio_mask): the
// model sees a log-mel spectrogram with whole frames (time masks) and whole
// bands (frequency masks) replaced by a fill value and learns to restore
// them, as in SpecAugment (Park et al. 2019) used as a pretext task.
//
// Unlike SpecAugment, which draws each mask's width independently so the
// total masked share is left to chance (masks may overlap), a config here
// states the total share directly: the number of masked frames is drawn
// uniformly from TimeRatio·frames and split into 1..TimeMasks contiguous,
// non-overlapping, non-adjacent spans placed uniformly at random, so the
// realised share is exactly in range. Bands likewise.
type MaskConfig struct {
	// TimeRatio is the [min, max] share of frames masked, in [0, 1].
	TimeRatio [2]float64 `yaml:"time_ratio" json:"time_ratio"`
	// TimeMasks is the largest number of time spans; the number is drawn
	// uniformly from 1..TimeMasks (fewer if the clip is too short).
	TimeMasks int `yaml:"time_masks" json:"time_masks"`
	// FreqRatio is the [min, max] share of mel bands masked, in [0, 1].
	FreqRatio [2]float64 `yaml:"freq_ratio" json:"freq_ratio"`
	// FreqMasks is the largest number of frequency spans.
	FreqMasks int `yaml:"freq_masks" json:"freq_masks"`
	// Fill is what masked cells hold: "mean" (of the clip's log-mel, the
	// choice that keeps the clip's level and the one SpecAugment's zero is
	// equivalent to on mean-normalised features), "zero" or "min" (the
	// clip's floor, like silence).
	Fill string `yaml:"fill" json:"fill"`
}

// DefaultMask returns a masking about as strong as SpecAugment's LD policy
// (two frequency masks of up to 27 of 80 bands, mean share 0.34; two time
// masks of up to 20% each): 10–30% of frames in up to two spans, 10–30% of
// bands in up to two spans, filled with the clip's mean.
func DefaultMask() MaskConfig {
	return MaskConfig{
		TimeRatio: [2]float64{0.1, 0.3},
		TimeMasks: 2,
		FreqRatio: [2]float64{0.1, 0.3},
		FreqMasks: 2,
		Fill:      "mean",
	}
}

// Validate reports every bad field, each message starting with the field's
// YAML name.
func (c MaskConfig) Validate() []error {
	f := transforms.Fields{}
	ratio := func(field string, r [2]float64) {
		if !(r[0] >= 0 && r[1] <= 1 && r[0] <= r[1]) {
			f.Addf(field, "must be [min, max] with 0 <= min <= max <= 1 (got [%g, %g])", r[0], r[1])
		}
	}
	ratio("time_ratio", c.TimeRatio)
	ratio("freq_ratio", c.FreqRatio)
	if c.TimeMasks < 1 || c.TimeMasks > 64 {
		f.Addf("time_masks", "must be in [1, 64] (got %d)", c.TimeMasks)
	}
	if c.FreqMasks < 1 || c.FreqMasks > 64 {
		f.Addf("freq_masks", "must be in [1, 64] (got %d)", c.FreqMasks)
	}
	if !(c.TimeRatio[1] > 0 || c.FreqRatio[1] > 0) {
		f.Addf("time_ratio", "time_ratio and freq_ratio cannot both be [0, 0]: nothing would be masked")
	}
	if !slices.Contains(MaskFills, c.Fill) {
		f.Addf("fill", "must be one of %v (got %q)", MaskFills, c.Fill)
	}
	return f.Errs()
}

// ApplyMask masks a copy of logmel, row-major [frames][bins], as cfg says,
// drawing time spans first, then frequency spans, from rng. It returns the
// masked copy, the mask (1 = masked; a cell is masked if its frame or its
// band is), and the realised shares of masked frames and masked bands.
// logmel is not modified; the fill value is computed from it.
//
// A share's range is met exactly whenever some whole count lies in
// [min·n, max·n]; for an n too small for that (a range narrower than 1/n),
// the count nearest the range's middle is used. cfg is expected to be
// valid. If len(logmel) != frames·bins, ApplyMask returns nil slices and
// zero shares.
func ApplyMask(logmel []float32, frames, bins int, cfg MaskConfig, rng *rand.Rand) (masked []float32, mask []uint8, timeShare, freqShare float64) {
	if frames < 0 || bins < 0 || len(logmel) != frames*bins {
		return nil, nil, 0, 0
	}
	timeMasked := drawSpans(frames, cfg.TimeRatio, cfg.TimeMasks, rng)
	freqMasked := drawSpans(bins, cfg.FreqRatio, cfg.FreqMasks, rng)
	fill := fillValue(logmel, cfg.Fill)
	masked = make([]float32, len(logmel))
	mask = make([]uint8, len(logmel))
	var nt, nf int
	for t := range frames {
		if timeMasked[t] {
			nt++
		}
	}
	for b := range bins {
		if freqMasked[b] {
			nf++
		}
	}
	for t := range frames {
		for b := range bins {
			i := t*bins + b
			if timeMasked[t] || freqMasked[b] {
				masked[i], mask[i] = fill, 1
			} else {
				masked[i] = logmel[i]
			}
		}
	}
	if frames > 0 {
		timeShare = float64(nt) / float64(frames)
	}
	if bins > 0 {
		freqShare = float64(nf) / float64(bins)
	}
	return masked, mask, timeShare, freqShare
}

// drawSpans marks k of n positions as 1..maxSpans contiguous spans, k drawn
// uniformly from the whole counts in ratio·n. The span lengths are a uniform
// composition of k and the gaps a uniform composition of the unmasked
// positions, inner gaps at least 1 so spans never touch.
func drawSpans(n int, ratio [2]float64, maxSpans int, rng *rand.Rand) []bool {
	out := make([]bool, n)
	// The slack absorbs rounding in the product (0.1·50 = 5.000000000000001).
	lo := int(math.Ceil(float64(ratio[0]*float64(n)) - 1e-9))
	hi := int(math.Floor(float64(ratio[1]*float64(n)) + 1e-9))
	var k int
	if lo <= hi {
		k = lo + rng.IntN(hi-lo+1)
	} else {
		k = int(math.Round((ratio[0] + ratio[1]) / 2 * float64(n)))
	}
	k = min(max(k, 0), n)
	if k == 0 {
		return out
	}
	// s spans need s-1 separating gaps among the n-k unmasked positions.
	s := 1 + rng.IntN(min(maxSpans, k, n-k+1))
	lengths := composition(k, s, 1, rng)
	gaps := composition(n-k-(s-1), s+1, 0, rng)
	pos := 0
	for i, l := range lengths {
		pos += gaps[i]
		if i > 0 {
			pos++
		}
		for j := pos; j < pos+l; j++ {
			out[j] = true
		}
		pos += l
	}
	return out
}

// composition splits total into parts non-negative integers, each at least
// least (total >= parts·least), uniformly over all such splits: stars and
// bars, with the bars drawn as a uniform sorted subset.
func composition(total, parts, least int, rng *rand.Rand) []int {
	free := total - parts*least
	bars := sortedSample(free+parts-1, parts-1, rng)
	out := make([]int, parts)
	prev := -1
	for i, b := range bars {
		out[i] = b - prev - 1 + least
		prev = b
	}
	out[parts-1] = free + parts - 1 - prev - 1 + least
	return out
}

// sortedSample returns m distinct values from [0, n), sorted, each subset
// equally likely (a partial Fisher–Yates shuffle).
func sortedSample(n, m int, rng *rand.Rand) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	for i := range m {
		j := i + rng.IntN(n-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	out := idx[:m]
	slices.Sort(out)
	return out
}

// fillValue is the value masked cells take.
func fillValue(logmel []float32, fill string) float32 {
	switch fill {
	case "mean":
		if len(logmel) == 0 {
			return 0
		}
		var sum float64
		for _, v := range logmel {
			sum += float64(v)
		}
		return float32(sum / float64(len(logmel)))
	case "min":
		if len(logmel) == 0 {
			return 0
		}
		return slices.Min(logmel)
	}
	return 0
}
