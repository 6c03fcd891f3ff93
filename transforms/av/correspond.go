package av

import (
	"math"
	"math/rand/v2"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/audio"
)

// TaskCorrespond is the name of the audio-visual correspondence task.
const TaskCorrespond = "av_correspond"

// Negative kinds, the negative_kind column; positives have "".
const (
	KindOtherVideo = "other_video"
	KindTimeShift  = "time_shift"
)

func init() {
	transforms.Register(transforms.Task{
		Name: TaskCorrespond, Modality: "video",
		Doc:       "video frame + 1 s log-mel window → 1 if the audio is the frame's own, 0 for audio of another video or of the same video ≥ min_offset away (Arandjelović & Zisserman 2017; AVTS)",
		NewConfig: func() transforms.Config { c := DefaultCorrespond(); return &c },
		Format:    sinks.FormatOf[sinks.AVRow](),
		Impl:      correspondTask{},
	})
}

// CorrespondConfig configures av_correspond.
type CorrespondConfig struct {
	// PositiveShare is the probability that a frame's row is a positive.
	PositiveShare float64 `yaml:"positive_share" json:"positive_share"`
	// Negatives are the shares of each kind among negatives; they sum to 1.
	Negatives NegativeShares `yaml:"negatives" json:"negatives"`
	// WindowSeconds is the length of the audio window.
	WindowSeconds float64 `yaml:"window_s" json:"window_s"`
	// MinOffsetSeconds is the least distance between a time_shift negative's
	// frame time and the nearest edge of its audio window.
	MinOffsetSeconds float64 `yaml:"min_offset_s" json:"min_offset_s"`
}

// NegativeShares split the negatives between their kinds.
type NegativeShares struct {
	OtherVideo float64 `yaml:"other_video" json:"other_video"`
	TimeShift  float64 `yaml:"time_shift" json:"time_shift"`
}

// DefaultCorrespond returns L³-Net's balance (half positives) with the
// negatives split between easy (another video) and hard (the same video,
// shifted at least 2 s, as AVTS's hard negatives).
func DefaultCorrespond() CorrespondConfig {
	return CorrespondConfig{
		PositiveShare:    0.5,
		Negatives:        NegativeShares{OtherVideo: 0.5, TimeShift: 0.5},
		WindowSeconds:    1,
		MinOffsetSeconds: 2,
	}
}

// Validate implements transforms.Config.
func (c *CorrespondConfig) Validate(path string) error {
	f := transforms.Fields{Path: path}
	if !(c.PositiveShare > 0 && c.PositiveShare < 1) {
		f.Addf("positive_share", "must be in (0, 1) (got %v)", c.PositiveShare)
	}
	n := c.Negatives
	if !(n.OtherVideo >= 0 && n.OtherVideo <= 1) {
		f.Addf("negatives.other_video", "must be in [0, 1] (got %v)", n.OtherVideo)
	}
	if !(n.TimeShift >= 0 && n.TimeShift <= 1) {
		f.Addf("negatives.time_shift", "must be in [0, 1] (got %v)", n.TimeShift)
	}
	if s := n.OtherVideo + n.TimeShift; math.Abs(s-1) > 1e-9 {
		f.Addf("negatives", "other_video + time_shift must be 1 (got %v)", s)
	}
	if !(c.WindowSeconds >= 0.1 && c.WindowSeconds <= 60) {
		f.Addf("window_s", "must be in [0.1, 60] (got %v)", c.WindowSeconds)
	}
	if !(c.MinOffsetSeconds >= 0 && c.MinOffsetSeconds <= 3600) {
		f.Addf("min_offset_s", "must be in [0, 3600] (got %v)", c.MinOffsetSeconds)
	}
	return f.Err()
}

// correspondTask is av_correspond's GroupLabeler.
type correspondTask struct{}

// Ready implements GroupLabeler: the grid of audio windows and the log-mel
// frames of one window follow from the config and the run's mel.
func (correspondTask) Ready(cfg transforms.Config, p Prep) (GroupTask, error) {
	mel, err := audio.NewMel(p.Mel)
	if err != nil {
		return nil, err
	}
	c := *cfg.(*CorrespondConfig)
	g := NewGrid(p.Mel.SampleRate, p.Mel.Hop, c.WindowSeconds)
	return &correspond{cfg: c, prep: p, grid: g, nf: mel.Frames(g.Window * p.Mel.Hop)}, nil
}

// correspond is av_correspond readied for a run.
type correspond struct {
	cfg  CorrespondConfig
	prep Prep
	grid Grid
	nf   int // log-mel frames of a window
}

// Label implements GroupTask: one row per frame of every video of g, the
// frame paired with audio Choose draws. The audio of other_video negatives
// comes from the other videos of g, or from g.Extra when g holds one video.
// Its statistics: pairs, positives, negatives.<kind>, silent,
// silent_positives, fallback.<why> and frames_without_pair.
func (c *correspond) Label(g *Group, rng func(key string) *rand.Rand, out Out) error {
	for i := range g.Videos {
		var others []*Video
		for j := range g.Videos {
			if j != i {
				others = append(others, &g.Videos[j])
			}
		}
		for j := range g.Extra {
			others = append(others, &g.Extra[j])
		}
		if err := c.video(&g.Videos[i], others, rng, out); err != nil {
			return err
		}
	}
	return nil
}

// video writes the rows of the frames of d.
func (c *correspond) video(d *Video, others []*Video, rng func(key string) *rand.Rand, out Out) error {
	lens := make([]int, len(others))
	for i, o := range others {
		lens[i] = int(o.Samples)
	}
	m := c.prep.Mel
	for _, fr := range d.Frames {
		key := FrameKey(d.Key, fr.Time)
		p, ok := Choose(c.cfg, c.grid, fr.Time, int(d.Samples), lens, rng(key))
		if !ok {
			out.Count("frames_without_pair", 1)
			continue
		}
		src := d
		if p.Other >= 0 {
			src = others[p.Other]
		}
		bins := int(src.Bins)
		logMel := src.LogMel[p.Start*bins : (p.Start+c.nf)*bins]
		var power float64
		for _, v := range src.Power[p.Start : p.Start+c.grid.Window] {
			power += float64(v)
		}
		db := -120.0
		if power > 0 {
			db = max(-120, 10*math.Log10(power/float64(c.grid.Window)))
		}
		row := sinks.AVRow{
			Key: key, Video: d.Key, AudioVideo: src.Key, Source: d.Source, Split: d.Split,
			Width: fr.Width, Height: fr.Height, Encoding: c.prep.Encoding, Frame: fr.Data,
			FrameTimeS: fr.Time, AudioStartS: float64(p.Start*m.Hop) / float64(m.SampleRate), AudioSeconds: c.grid.Seconds(),
			SampleRate: int32(m.SampleRate), LogMel: logMel, MelBins: int32(bins), MelFrames: int32(c.nf),
			Label: int32(p.Label), NegativeKind: p.Kind, Silent: db < c.prep.SilenceDBFS, AudioDBFS: float32(db),
		}
		if err := out.Add(row.Key, row, row.RowBytes()+256); err != nil {
			return err
		}
		out.Count("pairs", 1)
		if p.Label == 1 {
			out.Count("positives", 1)
		} else {
			out.Count("negatives."+p.Kind, 1)
		}
		if row.Silent {
			out.Count("silent", 1)
			if p.Label == 1 {
				out.Count("silent_positives", 1)
			}
		}
		if p.Fallback != "" {
			out.Count("fallback."+p.Fallback, 1)
		}
	}
	return nil
}

// Grid is the time grid audio windows start on: multiples of one hop of
// the log-mel front end, so that a window's log-mel is a run of the
// track's log-mel rows, bit for bit what the window alone would give.
type Grid struct {
	Rate, Hop int
	// Window is the window length in hops.
	Window int
}

// NewGrid returns the grid of windows of about seconds at rate with hop.
func NewGrid(rate, hop int, seconds float64) Grid {
	return Grid{Rate: rate, Hop: hop, Window: max(1, int(math.Round(seconds*float64(rate)/float64(hop))))}
}

// Step is one hop in seconds.
func (g Grid) Step() float64 { return float64(g.Hop) / float64(g.Rate) }

// Seconds is the window length in seconds.
func (g Grid) Seconds() float64 { return float64(g.Window) * g.Step() }

// Starts is the number of window starts in a track of n samples: starts
// 0..Starts()-1 (in hops) keep the window inside the track; 0 when the track
// is shorter than a window.
func (g Grid) Starts(n int) int {
	if n < g.Window*g.Hop {
		return 0
	}
	return (n-g.Window*g.Hop)/g.Hop + 1
}

// Pair is the audio chosen for one frame.
type Pair struct {
	// Label is 1 when the audio is the frame's own.
	Label int
	// Kind is "" for a positive, else KindOtherVideo or KindTimeShift.
	Kind string
	// Other is the index of the audio's video among the candidates given to
	// Choose (-1: the frame's own video).
	Other int
	// Start is the window's first hop.
	Start int
	// Fallback names why the drawn kind was replaced by the other one, or
	// is "" (a statistic: a clip too short for a time shift, no other video).
	Fallback string
}

// Choose draws the audio for a frame at time t (seconds) of a video whose
// track has n samples; others are the sample counts of the tracks of the
// other videos it may take audio from. ok is false when no pair of the drawn
// label exists: then the frame gives no row.
//
// Positives take the window centred on t (moved inside the track at its
// ends). A time_shift window is drawn uniformly among the starts whose window
// lies at least MinOffsetSeconds from t; an other_video window uniformly in
// a uniformly drawn other track. When the drawn negative kind is impossible
// for this frame the other kind is used, so the positive share holds.
func Choose(cfg CorrespondConfig, g Grid, t float64, n int, others []int, rng *rand.Rand) (p Pair, ok bool) {
	self := g.Starts(n)
	if self == 0 {
		return Pair{}, false
	}
	u := rng.Float64()
	kindU := rng.Float64()
	if u < cfg.PositiveShare {
		k := int(math.Round((t - g.Seconds()/2) / g.Step()))
		return Pair{Label: 1, Other: -1, Start: min(max(k, 0), self-1)}, true
	}
	kind := KindTimeShift
	if kindU < cfg.Negatives.OtherVideo {
		kind = KindOtherVideo
	}
	var usable []int
	for i, m := range others {
		if g.Starts(m) > 0 {
			usable = append(usable, i)
		}
	}
	lo, hi := shiftRanges(cfg, g, t, self)
	shifts := lo.count() + hi.count()
	fallback := ""
	switch {
	case kind == KindTimeShift && shifts == 0 && len(usable) > 0:
		kind, fallback = KindOtherVideo, "time_shift_impossible"
	case kind == KindOtherVideo && len(usable) == 0 && shifts > 0:
		kind, fallback = KindTimeShift, "other_video_impossible"
	case kind == KindTimeShift && shifts == 0, kind == KindOtherVideo && len(usable) == 0:
		return Pair{}, false
	}
	if kind == KindOtherVideo {
		o := usable[rng.IntN(len(usable))]
		return Pair{Kind: kind, Other: o, Start: rng.IntN(g.Starts(others[o])), Fallback: fallback}, true
	}
	i := rng.IntN(shifts)
	k := lo.a + i
	if i >= lo.count() {
		k = hi.a + i - lo.count()
	}
	return Pair{Kind: kind, Other: -1, Start: k, Fallback: fallback}, true
}

type span struct{ a, b int } // starts a..b inclusive; empty when b < a

func (s span) count() int { return max(0, s.b-s.a+1) }

// shiftRanges are the starts k in [0, starts) whose window [k·step,
// k·step+W] ends at least MinOffset before t, or begins at least MinOffset
// after it.
func shiftRanges(cfg CorrespondConfig, g Grid, t float64, starts int) (lo, hi span) {
	step, w, m := g.Step(), g.Seconds(), cfg.MinOffsetSeconds
	// A small tolerance keeps a window exactly MinOffset away; ShiftOK is
	// the exact test every chosen start passes.
	const eps = 1e-9
	lo = span{0, min(starts-1, int(math.Floor((t-m-w)/step+eps)))}
	hi = span{max(0, int(math.Ceil((t+m)/step-eps))), starts - 1}
	for lo.count() > 0 && !ShiftOK(cfg, g, t, lo.b) {
		lo.b--
	}
	for hi.count() > 0 && !ShiftOK(cfg, g, t, hi.a) {
		hi.a++
	}
	return lo, hi
}

// ShiftOK reports whether the window starting at hop k is at least
// MinOffsetSeconds from time t (to within a nanosecond).
func ShiftOK(cfg CorrespondConfig, g Grid, t float64, k int) bool {
	start := float64(k) * g.Step()
	return ShiftDistance(t, start, g.Seconds()) >= cfg.MinOffsetSeconds-1e-9
}

// ShiftDistance is the distance from time t to the nearest edge of the
// window [start, start+length], or 0 when t lies inside it.
func ShiftDistance(t, start, length float64) float64 {
	switch {
	case t < start:
		return start - t
	case t > start+length:
		return t - start - length
	}
	return 0
}
