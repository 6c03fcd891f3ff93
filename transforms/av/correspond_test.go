package av

import (
	"math"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/transforms/seeding"
)

// Choose's draws over many frames: shares as configured, every time_shift
// window at least min_offset from its frame, every window inside its track.
func TestChoose(t *testing.T) {
	cfg := DefaultCorrespond()
	g := NewGrid(16000, 160, 1)
	if g.Window != 100 || g.Seconds() != 1 || g.Starts(16000) != 1 || g.Starts(15999) != 0 {
		t.Fatalf("grid %+v: starts(16000) = %d, starts(15999) = %d", g, g.Starts(16000), g.Starts(15999))
	}
	n := 10 * 16000
	others := []int{5 * 16000, 8000, 20 * 16000}
	counts := map[string]int{}
	const frames = 20000
	for i := range frames {
		tm := float64(i%10) + 0.5
		p, ok := Choose(cfg, g, tm, n, others, seeding.New(1, TaskCorrespond, "v", i))
		if !ok {
			t.Fatalf("frame %d: no pair", i)
		}
		counts[p.Kind]++
		length := n
		if p.Other >= 0 {
			length = others[p.Other]
			if p.Other == 1 {
				t.Fatalf("a track shorter than the window was chosen")
			}
		}
		if p.Start < 0 || p.Start >= g.Starts(length) {
			t.Fatalf("start %d outside [0, %d)", p.Start, g.Starts(length))
		}
		switch p.Kind {
		case "":
			if d := ShiftDistance(tm, float64(p.Start)*g.Step(), 1); d != 0 {
				t.Fatalf("positive window at hop %d is %v s from the frame at %v", p.Start, d, tm)
			}
		case KindTimeShift:
			if !ShiftOK(cfg, g, tm, p.Start) || ShiftDistance(tm, float64(p.Start)*g.Step(), 1) < 2-1e-9 {
				t.Fatalf("time_shift window at hop %d too near the frame at %v", p.Start, tm)
			}
		}
	}
	if s := float64(counts[""]) / frames; math.Abs(s-0.5) > 0.015 {
		t.Errorf("positive share %v", s)
	}
	if s := float64(counts[KindOtherVideo]) / frames; math.Abs(s-0.25) > 0.015 {
		t.Errorf("other_video share %v", s)
	}
	// A 2 s track has no window 2 s from any frame: time_shift falls back.
	p, ok := Choose(cfg, g, 1, 32000, nil, seeding.New(1, TaskCorrespond, "short", 3))
	for i := 0; ok && p.Label == 1; i++ {
		p, ok = Choose(cfg, g, 1, 32000, nil, seeding.New(1, TaskCorrespond, "short", 4+i))
	}
	if ok {
		t.Errorf("a 2 s clip alone gave a negative: %+v", p)
	}
}

func TestCorrespondValidate(t *testing.T) {
	c := CorrespondConfig{PositiveShare: 1.5, Negatives: NegativeShares{0.7, 0.7}, WindowSeconds: 0, MinOffsetSeconds: -1}
	err := c.Validate("tasks.av_correspond")
	for _, want := range []string{"positive_share", "negatives:", "window_s", "min_offset_s"} {
		if err == nil || !strings.Contains(err.Error(), "tasks.av_correspond."+want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
