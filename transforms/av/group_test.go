package av

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/audio"
	"github.com/pretext-dev/pretext/transforms/seeding"
)

// Test-only video-group tasks: one that records, per frame of the group's
// videos, the first draw of its rng; one whose Impl is no GroupLabeler.
const (
	taskFrames  = "test_group_frames"
	taskNotMine = "test_group_not_a_labeler"
)

type framesConfig struct{}

func (*framesConfig) Validate(string) error { return nil }

type framesTask struct{}

func (framesTask) Ready(transforms.Config, Prep) (GroupTask, error) { return framesTask{}, nil }

func (framesTask) Label(g *Group, rng func(string) *rand.Rand, out Out) error {
	for _, v := range g.Videos {
		for _, f := range v.Frames {
			key := FrameKey(v.Key, f.Time)
			// The rng's first draw travels in AudioStartS, for the test to check.
			row := sinks.AVRow{Key: key, Video: v.Key, AudioStartS: float64(rng(key).Uint64() >> 11)}
			if err := out.Add(key, row, 1); err != nil {
				return err
			}
			out.Count("frames", 1)
		}
	}
	return nil
}

func init() {
	for _, t := range []transforms.Task{
		{Name: taskFrames, Impl: framesTask{}},
		{Name: taskNotMine, Impl: "not a group labeler"},
	} {
		t.Modality, t.Format = "video", sinks.FormatOf[sinks.AVRow]()
		t.NewConfig = func() transforms.Config { return &framesConfig{} }
		transforms.Register(t)
	}
}

// recorder is an Out that keeps what it is given.
type recorder struct {
	keys  []string
	rows  []any
	stats map[string]int64
}

func (r *recorder) Add(key string, row any, size int) error {
	r.keys, r.rows = append(r.keys, key), append(r.rows, row)
	return nil
}

func (r *recorder) Count(stat string, n int64) {
	if r.stats == nil {
		r.stats = map[string]int64{}
	}
	r.stats[stat] += n
}

// testVideo is a video of a noise track of seconds (at 16 kHz, as the video
// stage makes its features) and a frame at each half second in frames.
func testVideo(t *testing.T, key string, seconds float64, frames int) Video {
	t.Helper()
	mc := audio.DefaultMel()
	mel, err := audio.NewMel(mc)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(len(key)), uint64(seconds*10)))
	x := make([]float32, int(seconds*float64(mc.SampleRate)))
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.1)
	}
	v := Video{Key: key, Source: "/in/" + key, Split: "train", Samples: int64(len(x)), Bins: int32(mc.NMels)}
	v.LogMel, _ = mel.Compute(x)
	for j := 0; (j+1)*mc.Hop <= len(x); j++ {
		var sum float64
		for _, s := range x[j*mc.Hop : (j+1)*mc.Hop] {
			sum += float64(s) * float64(s)
		}
		v.Power = append(v.Power, float32(sum/float64(mc.Hop)))
	}
	for i := range frames {
		v.Frames = append(v.Frames, VideoFrame{Time: float64(i) + 0.5, Width: 2, Height: 2, Data: []byte(fmt.Sprint(key, i))})
	}
	return v
}

func testPrep() Prep { return Prep{Mel: audio.DefaultMel(), Encoding: "png", SilenceDBFS: -60} }

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Each task labels the group into its own Out with an rng of (seed, task,
// frame key, 0); av_correspond's rows are Choose's pairs with the chosen
// track's window, other_video audio coming from the group's other videos
// (or Extra), and a frame of a track shorter than a window gives no row.
func TestGroupTasks(t *testing.T) {
	const seed = 7
	cfg := DefaultCorrespond()
	gt, err := NewGroupTasks([]transforms.Spec{{Name: TaskCorrespond, Config: mustJSON(t, cfg)}, {Name: taskFrames, Config: []byte(`{}`)}}, testPrep())
	if err != nil {
		t.Fatal(err)
	}
	short := testVideo(t, "c.mp4", 0.5, 1)
	groups := []*Group{
		{Videos: []Video{testVideo(t, "a.mp4", 10, 10), testVideo(t, "b.mp4", 5, 5), short}},
		// A bucket of one video, with the next bucket's first group lending audio.
		{Videos: []Video{testVideo(t, "d.mp4", 6, 6)}, Extra: []Video{testVideo(t, "e.mp4", 3, 0)}},
	}
	grid := NewGrid(16000, 160, cfg.WindowSeconds)
	for gi, g := range groups {
		av, frames := &recorder{}, &recorder{}
		if err := gt.Label(seed, g, []Out{av, frames}); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, v := range g.Videos {
			for _, f := range v.Frames {
				want = append(want, FrameKey(v.Key, f.Time))
			}
		}
		if !slices.Equal(frames.keys, want) || frames.stats["frames"] != int64(len(want)) {
			t.Fatalf("group %d: the second task saw frames %v; want %v", gi, frames.keys, want)
		}
		for i, r := range frames.rows {
			if got, want := r.(sinks.AVRow).AudioStartS, float64(seeding.New(seed, taskFrames, want[i], 0).Uint64()>>11); got != want {
				t.Errorf("group %d frame %d: the second task's rng is not (seed, task, key, 0)", gi, i)
			}
		}
		rows := 0
		for vi := range g.Videos {
			d := &g.Videos[vi]
			var others []*Video
			for j := range g.Videos {
				if j != vi {
					others = append(others, &g.Videos[j])
				}
			}
			for j := range g.Extra {
				others = append(others, &g.Extra[j])
			}
			lens := make([]int, len(others))
			for j, o := range others {
				lens[j] = int(o.Samples)
			}
			for _, f := range d.Frames {
				key := FrameKey(d.Key, f.Time)
				p, ok := Choose(cfg, grid, f.Time, int(d.Samples), lens, seeding.New(seed, TaskCorrespond, key, 0))
				if d == &g.Videos[len(g.Videos)-1] && d.Key == short.Key {
					if ok {
						t.Fatalf("a track shorter than the window gave a pair")
					}
					continue
				}
				if !ok || rows >= len(av.rows) {
					t.Fatalf("group %d: no row for %s", gi, key)
				}
				r := av.rows[rows].(sinks.AVRow)
				src := d
				if p.Other >= 0 {
					src = others[p.Other]
				}
				if av.keys[rows] != key || r.Key != key || r.Video != d.Key || r.AudioVideo != src.Key || int(r.Label) != p.Label || r.NegativeKind != p.Kind {
					t.Errorf("%s: row %s video %s audio %s label %d %q; want audio %s label %d %q", key, r.Key, r.Video, r.AudioVideo, r.Label, r.NegativeKind, src.Key, p.Label, p.Kind)
				}
				if !slices.Equal(r.LogMel, src.LogMel[p.Start*64:(p.Start+98)*64]) || r.MelFrames != 98 || r.AudioStartS != float64(p.Start*160)/16000 {
					t.Errorf("%s: not the window at hop %d of %s", key, p.Start, src.Key)
				}
				if !slices.Equal(r.Frame, f.Data) || r.Encoding != "png" || r.Split != "train" || r.Source != d.Source {
					t.Errorf("%s: frame, encoding %q, split %q or source %q not the video's", key, r.Encoding, r.Split, r.Source)
				}
				if g.Extra != nil && p.Other >= 0 && src.Key != "e.mp4" {
					t.Errorf("%s: other_video audio from %s, not the extra video", key, src.Key)
				}
				if math.IsNaN(float64(r.AudioDBFS)) || r.Silent != (float64(r.AudioDBFS) < -60) {
					t.Errorf("%s: level %v silent %v", key, r.AudioDBFS, r.Silent)
				}
				rows++
			}
		}
		if rows != len(av.rows) || av.stats["pairs"] != int64(rows) || av.stats["positives"]+av.stats["negatives.other_video"]+av.stats["negatives.time_shift"] != int64(rows) {
			t.Errorf("group %d: %d rows, stats %v; want %d pairs", gi, len(av.rows), av.stats, rows)
		}
		if wantNo := int64(map[int]int{0: 1, 1: 0}[gi]); av.stats["frames_without_pair"] != wantNo {
			t.Errorf("group %d: frames_without_pair %d; want %d", gi, av.stats["frames_without_pair"], wantNo)
		}
	}
}

func TestNewGroupTasksRejects(t *testing.T) {
	for _, c := range []struct {
		specs []transforms.Spec
		want  string
	}{
		{[]transforms.Spec{{Name: "no_such_task", Config: nil}}, "not registered"},
		{[]transforms.Spec{{Name: taskNotMine, Config: []byte(`{}`)}}, "is not a video-group task"},
		{[]transforms.Spec{{Name: TaskCorrespond, Config: []byte(`{"window_s": "one"}`)}}, "config of task"},
		{[]transforms.Spec{{Name: TaskCorrespond}}, "config of task"},
	} {
		if _, err := NewGroupTasks(c.specs, testPrep()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want an error saying %q", c.specs, err, c.want)
		}
	}
	p := testPrep()
	p.Mel.Hop = 0
	if _, err := NewGroupTasks([]transforms.Spec{{Name: TaskCorrespond, Config: mustJSON(t, DefaultCorrespond())}}, p); err == nil {
		t.Error("a mel config of hop 0 was readied")
	}
}
