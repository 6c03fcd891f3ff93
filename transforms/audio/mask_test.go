package audio

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// testLogMel is a frames×bins spectrogram with distinct values.
func testLogMel(frames, bins int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, frames*bins)
	for i := range x {
		x[i] = float32(rng.NormFloat64()*2 - 3)
	}
	return x
}

// spans returns the runs of true in marks as [start, end) pairs.
func spans(marks []bool) [][2]int {
	var out [][2]int
	for i := 0; i < len(marks); i++ {
		if marks[i] {
			j := i
			for j < len(marks) && marks[j] {
				j++
			}
			out = append(out, [2]int{i, j})
			i = j
		}
	}
	return out
}

// maskedAxes recovers which frames and bins are masked whole.
func maskedAxes(mask []uint8, frames, bins int) (rows, cols []bool) {
	rows, cols = make([]bool, frames), make([]bool, bins)
	for t := range frames {
		rows[t] = !slices.Contains(mask[t*bins:(t+1)*bins], 0)
	}
	for b := range bins {
		cols[b] = true
		for t := range frames {
			cols[b] = cols[b] && mask[t*bins+b] == 1
		}
	}
	return rows, cols
}

func TestApplyMaskFill(t *testing.T) {
	const frames, bins = 98, 64
	x := testLogMel(frames, bins, 7)
	orig := slices.Clone(x)
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	fills := map[string]float32{"mean": float32(sum / float64(len(x))), "zero": 0, "min": slices.Min(x)}
	for _, fill := range MaskFills {
		t.Run(fill, func(t *testing.T) {
			cfg := DefaultMask()
			cfg.Fill = fill
			masked, mask, ts, fs := ApplyMask(x, frames, bins, cfg, rand.New(rand.NewPCG(1, 2)))
			if !slices.Equal(x, orig) {
				t.Fatal("input modified")
			}
			rows, cols := maskedAxes(mask, frames, bins)
			var nRows, nCols int
			for _, r := range rows {
				if r {
					nRows++
				}
			}
			for _, c := range cols {
				if c {
					nCols++
				}
			}
			if ts != float64(nRows)/frames || fs != float64(nCols)/bins {
				t.Errorf("shares %v, %v; mask has %d/%d frames and %d/%d bins", ts, fs, nRows, frames, nCols, bins)
			}
			for tt := range frames {
				for b := range bins {
					i := tt*bins + b
					inMask := rows[tt] || cols[b]
					switch {
					case (mask[i] == 1) != inMask:
						t.Fatalf("cell (%d,%d) mask %d, but frame masked %v, bin masked %v", tt, b, mask[i], rows[tt], cols[b])
					case inMask && masked[i] != fills[fill]:
						t.Fatalf("masked cell (%d,%d) = %v, want fill %v", tt, b, masked[i], fills[fill])
					case !inMask && masked[i] != x[i]:
						t.Fatalf("unmasked cell (%d,%d) = %v, want %v", tt, b, masked[i], x[i])
					}
				}
			}
		})
	}
}

// TestApplyMaskShares checks, over many seeds, that the realised shares are
// in range and reach both ends, and that the spans number 1..max with every
// count drawn (spans that touched would merge and show as fewer).
func TestApplyMaskShares(t *testing.T) {
	const frames, bins = 98, 64
	x := testLogMel(frames, bins, 3)
	cfg := MaskConfig{TimeRatio: [2]float64{0.1, 0.3}, TimeMasks: 3, FreqRatio: [2]float64{0.2, 0.25}, FreqMasks: 2, Fill: "mean"}
	seenSpans := map[int]bool{}
	minT, maxT := 1.0, 0.0
	for seed := range uint64(500) {
		_, mask, ts, fs := ApplyMask(x, frames, bins, cfg, rand.New(rand.NewPCG(seed, 99)))
		const eps = 1e-12
		if ts < cfg.TimeRatio[0]-eps || ts > cfg.TimeRatio[1]+eps {
			t.Fatalf("seed %d: time share %v outside %v", seed, ts, cfg.TimeRatio)
		}
		if fs < cfg.FreqRatio[0]-eps || fs > cfg.FreqRatio[1]+eps {
			t.Fatalf("seed %d: freq share %v outside %v", seed, fs, cfg.FreqRatio)
		}
		minT, maxT = min(minT, ts), max(maxT, ts)
		rows, cols := maskedAxes(mask, frames, bins)
		rs, cs := spans(rows), spans(cols)
		if len(rs) < 1 || len(rs) > cfg.TimeMasks || len(cs) < 1 || len(cs) > cfg.FreqMasks {
			t.Fatalf("seed %d: %d time spans, %d freq spans", seed, len(rs), len(cs))
		}
		seenSpans[len(rs)] = true
	}
	if len(seenSpans) != cfg.TimeMasks {
		t.Errorf("time span counts drawn: %v, want 1..%d", seenSpans, cfg.TimeMasks)
	}
	// 0.1·98 = 9.8 → 10 frames; 0.3·98 = 29.4 → 29 frames.
	if minT != 10.0/98 || maxT != 29.0/98 {
		t.Errorf("time shares drawn span [%v, %v], want [10/98, 29/98]", minT, maxT)
	}
}

func TestApplyMaskDeterministic(t *testing.T) {
	x := testLogMel(50, 64, 5)
	a, am, at, af := ApplyMask(x, 50, 64, DefaultMask(), rand.New(rand.NewPCG(42, 0)))
	b, bm, bt, bf := ApplyMask(x, 50, 64, DefaultMask(), rand.New(rand.NewPCG(42, 0)))
	if !slices.Equal(a, b) || !slices.Equal(am, bm) || at != bt || af != bf {
		t.Fatal("same seed, different masks")
	}
	_, cm, _, _ := ApplyMask(x, 50, 64, DefaultMask(), rand.New(rand.NewPCG(43, 0)))
	if slices.Equal(am, cm) {
		t.Error("seeds 42 and 43 drew the same mask")
	}
}

func TestApplyMaskEdges(t *testing.T) {
	// Too few frames for any whole count in range: the nearest is used.
	x := testLogMel(3, 64, 1)
	cfg := DefaultMask()
	_, mask, ts, _ := ApplyMask(x, 3, 64, cfg, rand.New(rand.NewPCG(1, 1)))
	if ts != 1.0/3 || len(mask) != 3*64 {
		t.Errorf("3 frames: time share %v, want 1/3 (round(0.2·3) frames)", ts)
	}
	// Everything masked.
	cfg.TimeRatio = [2]float64{1, 1}
	masked, _, ts, _ := ApplyMask(x, 3, 64, cfg, rand.New(rand.NewPCG(1, 1)))
	if ts != 1 || slices.ContainsFunc(masked, func(v float32) bool { return v != masked[0] }) {
		t.Errorf("ratio 1: share %v, masked not uniform", ts)
	}
	// Shape mismatch.
	if m, k, ts, fs := ApplyMask(x, 4, 64, cfg, rand.New(rand.NewPCG(1, 1))); m != nil || k != nil || ts != 0 || fs != 0 {
		t.Error("shape mismatch not reported with nil slices")
	}
}

func TestMaskValidate(t *testing.T) {
	if errs := DefaultMask().Validate(); len(errs) != 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
	for _, tc := range []struct {
		name string
		edit func(*MaskConfig)
		want string
	}{
		{"time_ratio", func(c *MaskConfig) { c.TimeRatio = [2]float64{0.5, 0.2} }, "time_ratio: must be [min, max] with 0 <= min <= max <= 1 (got [0.5, 0.2])"},
		{"freq_ratio", func(c *MaskConfig) { c.FreqRatio = [2]float64{0, 1.5} }, "freq_ratio: must be [min, max] with 0 <= min <= max <= 1 (got [0, 1.5])"},
		{"nan", func(c *MaskConfig) { c.FreqRatio = [2]float64{math.NaN(), 0.5} }, "freq_ratio: must be"},
		{"time_masks", func(c *MaskConfig) { c.TimeMasks = 0 }, "time_masks: must be in [1, 64] (got 0)"},
		{"freq_masks", func(c *MaskConfig) { c.FreqMasks = 65 }, "freq_masks: must be in [1, 64] (got 65)"},
		{"nothing", func(c *MaskConfig) { c.TimeRatio, c.FreqRatio = [2]float64{}, [2]float64{} }, "time_ratio: time_ratio and freq_ratio cannot both be [0, 0]"},
		{"fill", func(c *MaskConfig) { c.Fill = "noise" }, `fill: must be one of [mean zero min] (got "noise")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultMask()
			tc.edit(&c)
			errs := c.Validate()
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
				t.Errorf("got %v, want one error starting %q", errs, tc.want)
			}
		})
	}
}

// TestApplyMaskPinned pins the spans drawn for one seed: a change to the
// drawing changes every dataset made with this task, so it must be seen.
func TestApplyMaskPinned(t *testing.T) {
	const frames, bins = 40, 16
	_, mask, _, _ := ApplyMask(make([]float32, frames*bins), frames, bins, DefaultMask(), rand.New(rand.NewPCG(3, 4)))
	rows, cols := maskedAxes(mask, frames, bins)
	got := [2][][2]int{spans(rows), spans(cols)}
	want := [2][][2]int{{{18, 23}, {33, 39}}, {{6, 7}, {12, 15}}}
	if !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
		t.Errorf("seed (3, 4): time spans %v, freq spans %v; want %v, %v", got[0], got[1], want[0], want[1])
	}
}
