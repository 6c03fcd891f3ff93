package audio

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/seeding"
)

// Test-only audio tasks: one that fails (or panics) on a chosen clip, and
// one whose Impl is no Labeler.
const (
	taskFailing = "test_audio_failing"
	taskNotMine = "test_audio_not_a_labeler"
)

// failingConfig names the clip key on which failingTask fails, and how.
type failingConfig struct {
	Key   string `json:"key"`
	Panic bool   `json:"panic"`
}

func (*failingConfig) Validate(string) error { return nil }

type failingTask struct{}

func (failingTask) Label(ex *Example, cfg transforms.Config, _ *rand.Rand) ([]Row, error) {
	c := cfg.(*failingConfig)
	if ex.Key == c.Key {
		if c.Panic {
			panic("odd clip")
		}
		return nil, errors.New("odd clip")
	}
	return []Row{{Row: sinks.AudioMaskRow{Key: ex.Key}, Size: 1, Stats: []Stat{{"clips", 1}}}}, nil
}

func init() {
	for _, t := range []transforms.Task{
		{Name: taskFailing, Impl: failingTask{}},
		{Name: taskNotMine, Impl: "not a labeler"},
	} {
		t.Modality, t.Format = "audio", sinks.FormatOf[sinks.AudioMaskRow]()
		t.NewConfig = func() transforms.Config { return &failingConfig{} }
		transforms.Register(t)
	}
}

// testInput is 2.5 s at 16 kHz: a 440 Hz tone, then silence from 2 s on.
func testInput() []float32 {
	x := make([]float32, 40000)
	for i := range 32000 {
		x[i] = float32(0.5 * math.Sin(2*math.Pi*440*float64(i)/16000))
	}
	return x
}

func testCut(t *testing.T) []*Example {
	t.Helper()
	mel, err := NewMel(DefaultMel())
	if err != nil {
		t.Fatal(err)
	}
	// 1 s clips, the last (0.5 s, silent) kept: min_seconds 0.5.
	return Cut("a.wav", "/in/a.wav", "train", testInput(), mel, Cutting{ClipSeconds: 1, MinSeconds: 0.5, SilenceDBFS: -60})
}

func TestCut(t *testing.T) {
	clips := testCut(t)
	if len(clips) != 3 {
		t.Fatalf("%d clips of 2.5 s; want 3", len(clips))
	}
	for i, want := range []struct {
		key     string
		seconds float64
		silent  bool
	}{{"a.wav@000000.000", 1, false}, {"a.wav@000001.000", 1, false}, {"a.wav@000002.000", 0.5, true}} {
		c := clips[i]
		if c.Key != want.key || c.Seconds != want.seconds || c.Silent != want.silent || c.Start != float64(i) {
			t.Errorf("clip %d: key %s start %v %v s silent %v; want %s %d %v s silent %v", i, c.Key, c.Start, c.Seconds, c.Silent, want.key, i, want.seconds, want.silent)
		}
		if c.Source != "/in/a.wav" || c.Split != "train" || c.SampleRate != 16000 || len(c.Samples) != int(want.seconds*16000) {
			t.Errorf("clip %d: source %s split %s rate %d %d samples", i, c.Source, c.Split, c.SampleRate, len(c.Samples))
		}
		if c.Bins != 64 || len(c.LogMel) != c.Frames*c.Bins || c.Frames != 1+(len(c.Samples)-400)/160 {
			t.Errorf("clip %d: log-mel %d values for %d×%d", i, len(c.LogMel), c.Frames, c.Bins)
		}
	}
	if got := Cut("b.wav", "", "", testInput()[:4000], mustMel(t), Cutting{ClipSeconds: 1, MinSeconds: 0.5}); len(got) != 0 {
		t.Errorf("0.25 s input: %d clips; want none", len(got))
	}
}

func mustMel(t *testing.T) *Mel {
	m, err := NewMel(DefaultMel())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func configJSON(t *testing.T, c transforms.Config) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// audio_mask's row is the clip's log-mel masked with the rng of (seed,
// audio_mask, clip key, 0), the unmasked log-mel as target, and the clip's
// place and level.
func TestMaskTaskRows(t *testing.T) {
	const seed = 42
	clips := testCut(t)
	mc := DefaultMask()
	mc.Fill = "min"
	l, err := NewLabelers([]transforms.Spec{{Name: TaskMask, Config: configJSON(t, &MaskTaskConfig{mc})}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := l.Label(seed, clips)
	if err != nil || len(rows) != len(clips) {
		t.Fatalf("%d rows, %v; want %d", len(rows), err, len(clips))
	}
	for i, p := range rows {
		c := clips[i]
		r := p.Row.Row.(sinks.AudioMaskRow)
		input, mask, ts, fs := ApplyMask(c.LogMel, c.Frames, c.Bins, mc, seeding.New(seed, TaskMask, c.Key, 0))
		if p.Task != 0 || p.Key != c.Key || r.Key != c.Key || r.Source != c.Source || r.Split != c.Split {
			t.Errorf("row %d: task %d key %s/%s source %s split %s", i, p.Task, p.Key, r.Key, r.Source, r.Split)
		}
		if !slices.Equal(r.Input, input) || !slices.Equal(r.Mask, mask) || !slices.Equal(r.Target, c.LogMel) ||
			r.TimeMaskShare != float32(ts) || r.FreqMaskShare != float32(fs) {
			t.Errorf("row %d: not the clip's log-mel masked with its rng", i)
		}
		if r.Fill != slices.Min(c.LogMel) {
			t.Errorf("row %d: fill %v; want the clip's minimum %v", i, r.Fill, slices.Min(c.LogMel))
		}
		if r.ClipStartS != c.Start || r.ClipSeconds != c.Seconds || r.SampleRate != 16000 ||
			r.MelFrames != int32(c.Frames) || r.MelBins != 64 || r.Silent != c.Silent || r.AudioDBFS != float32(c.DBFS) {
			t.Errorf("row %d: %+v does not describe clip %s", i, r, c.Key)
		}
		stats := map[string]int64{}
		for _, s := range p.Stats {
			stats[s.Name] += s.N
		}
		masked := int64(0)
		for _, m := range mask {
			masked += int64(m)
		}
		want := map[string]int64{"clips": 1, "cells": int64(c.Frames * c.Bins), "masked_cells": masked}
		if c.Silent {
			want["silent"] = 1
		}
		if len(stats) != len(want) {
			t.Errorf("row %d: stats %v; want %v", i, stats, want)
		}
		for k, v := range want {
			if stats[k] != v {
				t.Errorf("row %d: stat %s = %d; want %d", i, k, stats[k], v)
			}
		}
		if p.Size != r.RowBytes()+256 {
			t.Errorf("row %d: size %d; want %d", i, p.Size, r.RowBytes()+256)
		}
	}
}

// Every task labels every clip, in clip order; one failure (or panic) of
// any task on any clip loses all the input's rows and names the task.
func TestLabelersAllOrNothing(t *testing.T) {
	clips := testCut(t)
	mask := configJSON(t, &MaskTaskConfig{DefaultMask()})
	ok, err := NewLabelers([]transforms.Spec{{Name: TaskMask, Config: mask}, {Name: taskFailing, Config: []byte(`{"key":"none"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ok.Label(1, clips)
	if err != nil || len(rows) != 2*len(clips) {
		t.Fatalf("%d rows, %v; want %d", len(rows), err, 2*len(clips))
	}
	for i, p := range rows {
		if p.Task != i%2 || p.Key != clips[i/2].Key {
			t.Errorf("row %d: task %d clip %s; want task %d clip %s", i, p.Task, p.Key, i%2, clips[i/2].Key)
		}
	}
	for _, panics := range []bool{false, true} {
		cfg := configJSON(t, &failingConfig{Key: clips[2].Key, Panic: panics})
		l, err := NewLabelers([]transforms.Spec{{Name: TaskMask, Config: mask}, {Name: taskFailing, Config: cfg}})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := l.Label(1, clips)
		if err == nil || rows != nil || !strings.HasPrefix(err.Error(), taskFailing+": ") || !strings.Contains(err.Error(), "odd clip") {
			t.Errorf("panic %v: %d rows, error %v; want none and the task's error", panics, len(rows), err)
		}
	}
}

func TestNewLabelersRejects(t *testing.T) {
	for _, c := range []struct {
		specs []transforms.Spec
		want  string
	}{
		{[]transforms.Spec{{Name: "no_such_task", Config: nil}}, "not registered"},
		{[]transforms.Spec{{Name: taskNotMine, Config: []byte(`{}`)}}, "is not an audio task"},
		{[]transforms.Spec{{Name: TaskMask, Config: []byte(`{"time_masks": "two"}`)}}, "config of task"},
		{[]transforms.Spec{{Name: TaskMask}}, "config of task"},
	} {
		if _, err := NewLabelers(c.specs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want an error saying %q", c.specs, err, c.want)
		}
	}
}
