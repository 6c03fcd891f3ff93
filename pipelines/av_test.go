package pipelines

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/audio"
	"github.com/pretext-dev/pretext/transforms/av"
	"github.com/pretext-dev/pretext/transforms/seeding"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// Test-only tasks that run beside audio_mask and av_correspond, to show
// that the audio and video stages take N tasks of the kind with N writers:
// testAudioTask is an audio.Labeler, testGroupTask an av.GroupLabeler.
// Their rows carry their rng's first draw, to show each is seeded by its
// own name.
const (
	testAudioTask = "test_audio_level"
	testGroupTask = "test_video_group"
)

// testLevelRow is testAudioTask's row: a clip's level.
type testLevelRow struct {
	Key  string  `parquet:"key"`
	DBFS float32 `parquet:"dbfs"`
	Draw uint64  `parquet:"draw"`
}

func (r testLevelRow) RowKey() string    { return r.Key }
func (r testLevelRow) RowVariant() int32 { return 0 }

// testGroupRow is testGroupTask's row: a frame and the videos of its group.
type testGroupRow struct {
	Key   string `parquet:"key"`
	Video string `parquet:"video"`
	Group string `parquet:"group"` // the group's video keys, comma-separated
	Draw  uint64 `parquet:"draw"`
}

func (r testGroupRow) RowKey() string    { return r.Key }
func (r testGroupRow) RowVariant() int32 { return 0 }

type testTaskConfig struct{}

func (*testTaskConfig) Validate(string) error { return nil }

type testLevelTask struct{}

func (testLevelTask) Label(ex *audio.Example, _ transforms.Config, rng *rand.Rand) ([]audio.Row, error) {
	row := testLevelRow{Key: ex.Key, DBFS: float32(ex.DBFS), Draw: rng.Uint64()}
	return []audio.Row{{Row: row, Size: 64, Stats: []audio.Stat{{Name: "levels", N: 1}}}}, nil
}

type testGroupLabeler struct{}

func (testGroupLabeler) Ready(transforms.Config, av.Prep) (av.GroupTask, error) {
	return testGroupLabeler{}, nil
}

func (testGroupLabeler) Label(g *av.Group, rng func(string) *rand.Rand, out av.Out) error {
	var keys []string
	for _, v := range g.Videos {
		keys = append(keys, v.Key)
	}
	for _, v := range g.Videos {
		for _, f := range v.Frames {
			key := av.FrameKey(v.Key, f.Time)
			if err := out.Add(key, testGroupRow{Key: key, Video: v.Key, Group: strings.Join(keys, ","), Draw: rng(key).Uint64()}, 64); err != nil {
				return err
			}
			out.Count("frames", 1)
		}
	}
	return nil
}

func init() {
	newConfig := func() transforms.Config { return &testTaskConfig{} }
	transforms.Register(transforms.Task{Name: testAudioTask, Modality: "audio", NewConfig: newConfig,
		Format: sinks.FormatOf[testLevelRow](), Impl: testLevelTask{}})
	transforms.Register(transforms.Task{Name: testGroupTask, Modality: "video", NewConfig: newConfig,
		Format: sinks.FormatOf[testGroupRow](), Impl: testGroupLabeler{}})
}

// without returns the files of shards (dirBytes) that are in none of
// datasets.
func without(shards map[string][]byte, datasets ...string) map[string][]byte {
	out := map[string][]byte{}
	for name, b := range shards {
		if !slices.Contains(datasets, strings.Split(filepath.ToSlash(name), "/")[0]) {
			out[name] = b
		}
	}
	return out
}

func needFFmpeg(t *testing.T) {
	t.Helper()
	if err := av.Check(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

func loadConfig(t testing.TB, name, input, out string, edit func(*configs.Config)) configs.Config {
	t.Helper()
	cfg, err := configs.Load(filepath.Join(repo, "configs", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input, cfg.Output = input, out
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func deadLetters(t *testing.T, out string, m map[string]*sinks.Manifest) map[string]sinks.DeadLetter {
	t.Helper()
	got := map[string]sinks.DeadLetter{}
	for _, d := range readRows[sinks.DeadLetter](t, filepath.Join(out, sinks.DeadLetters), m[sinks.DeadLetters]) {
		got[d.Key] = d
	}
	return got
}

// audio_mask rows: the input is the target outside the mask and the fill
// inside it; the shares are in range; bad files are dead letters, each with
// its own reason; two runners give the same bytes, and a second audio task
// beside audio_mask changes none of them and gets a row per clip.
func TestAudioPipeline(t *testing.T) {
	needFFmpeg(t)
	out := t.TempDir()
	cfg := loadConfig(t, "audio.yaml", filepath.Join(repo, "testdata", "audio")+"/**", out, nil)
	m := runText(t, "prism", cfg)
	ma := m["audio_mask"]
	if ma.Inputs != 17 || ma.Labeled != 13 || ma.DeadLetters != 4 {
		t.Errorf("inputs %d labeled %d dead %d; want 17 = 13 + 4", ma.Inputs, ma.Labeled, ma.DeadLetters)
	}
	dead := deadLetters(t, out, m)
	for key, reason := range map[string]string{
		"bad/0-byte.wav": "empty_file", "bad/truncated.wav": "truncated",
		"bad/zero-channels.wav": "zero_channels", "bad/not-audio.wav": "corrupt_media",
	} {
		if dead[key].Reason != reason {
			t.Errorf("%s: dead letter %+v; want reason %s", key, dead[key], reason)
		}
	}
	rows := readRows[sinks.AudioMaskRow](t, filepath.Join(out, "audio_mask"), ma)
	if len(rows) != 13 {
		t.Fatalf("%d rows; want 13 (one clip per file)", len(rows))
	}
	formats := map[string]bool{}
	for _, r := range rows {
		n := int(r.MelFrames) * int(r.MelBins)
		if r.MelBins != 64 || len(r.Input) != n || len(r.Target) != n || len(r.Mask) != n {
			t.Fatalf("%s: shape %d×%d, input %d target %d mask %d", r.Key, r.MelFrames, r.MelBins, len(r.Input), len(r.Target), len(r.Mask))
		}
		var frames, bins int
		for i := range n {
			if r.Mask[i] == 1 {
				if r.Input[i] != r.Fill {
					t.Fatalf("%s: masked cell %d = %v, fill %v", r.Key, i, r.Input[i], r.Fill)
				}
			} else if r.Input[i] != r.Target[i] {
				t.Fatalf("%s: unmasked cell %d = %v, target %v", r.Key, i, r.Input[i], r.Target[i])
			}
		}
		for f := range int(r.MelFrames) {
			if bytes.Count(r.Mask[f*64:(f+1)*64], []byte{1}) == 64 {
				frames++
			}
		}
		for b := range 64 {
			all := true
			for f := range int(r.MelFrames) {
				all = all && r.Mask[f*64+b] == 1
			}
			if all {
				bins++
			}
		}
		ts, fs := float64(frames)/float64(r.MelFrames), float64(bins)/64
		// A band masked in every frame is a masked band unless every frame is masked.
		if math.Abs(ts-float64(r.TimeMaskShare)) > 1e-6 || (frames < int(r.MelFrames) && math.Abs(fs-float64(r.FreqMaskShare)) > 1e-6) {
			t.Errorf("%s: mask has %v of frames and %v of bands; row says %v, %v", r.Key, ts, fs, r.TimeMaskShare, r.FreqMaskShare)
		}
		if ts < 0.1-1e-9 || ts > 0.3+1e-9 || float64(r.FreqMaskShare) < 0.1-1e-6 || float64(r.FreqMaskShare) > 0.3+1e-6 {
			t.Errorf("%s: shares %v, %v outside [0.1, 0.3]", r.Key, ts, r.FreqMaskShare)
		}
		if !strings.HasSuffix(r.Key, "@000000.000") || r.SampleRate != 16000 {
			t.Errorf("%s: key or rate %d", r.Key, r.SampleRate)
		}
		formats[filepath.Ext(strings.TrimSuffix(r.Key, "@000000.000"))] = true
	}
	for _, ext := range []string{".wav", ".flac", ".mp3", ".ogg"} {
		if !formats[ext] {
			t.Errorf("no row from a %s file", ext)
		}
	}
	again := t.TempDir()
	ms := runText(t, "direct", loadConfig(t, "audio.yaml", filepath.Join(repo, "testdata", "audio")+"/**", again, func(c *configs.Config) {
		c.Tasks[testAudioTask] = &testTaskConfig{}
	}))
	sameShards(t, "prism vs direct with a second audio task", dirBytes(t, out), without(dirBytes(t, again), testAudioTask))
	levels := readRows[testLevelRow](t, filepath.Join(again, testAudioTask), ms[testAudioTask])
	if len(levels) != len(rows) || ms[testAudioTask].Stats["levels"] != int64(len(rows)) {
		t.Fatalf("%d rows of the second audio task (stats %v); want one per clip (%d)", len(levels), ms[testAudioTask].Stats, len(rows))
	}
	for i, r := range levels {
		if r.Key != rows[i].Key || r.DBFS != rows[i].AudioDBFS || r.Draw != seeding.New(cfg.Seed, testAudioTask, r.Key, 0).Uint64() {
			t.Errorf("second audio task's row %+v; want clip %s at %v dBFS, its rng by its own name", r, rows[i].Key, rows[i].AudioDBFS)
		}
	}
}

// checkAV asserts what every av_correspond row must satisfy.
func checkAV(t *testing.T, cfg configs.Config, rows []sinks.AVRow, duration map[string]float64) (positives, otherVideo, timeShift int) {
	t.Helper()
	c := cfg.Tasks[av.TaskCorrespond].(*av.CorrespondConfig)
	for _, r := range rows {
		if r.Key != av.FrameKey(r.Video, r.FrameTimeS) {
			t.Fatalf("key %s for video %s at %v", r.Key, r.Video, r.FrameTimeS)
		}
		if d, ok := duration[r.Video]; ok && !(r.FrameTimeS >= 0 && r.FrameTimeS < d) {
			t.Errorf("%s: frame time %v outside the video's %v s", r.Key, r.FrameTimeS, d)
		}
		if r.MelBins != 64 || r.MelFrames != 98 || len(r.LogMel) != 64*98 || r.AudioSeconds != 1 {
			t.Errorf("%s: spectrogram %d×%d (%d values, %v s); want 98×64 of 1 s", r.Key, r.MelFrames, r.MelBins, len(r.LogMel), r.AudioSeconds)
		}
		if len(r.Frame) == 0 || r.Width != int32(cfg.Image.Size) || r.Height != int32(cfg.Image.Size) {
			t.Errorf("%s: frame %d bytes %d×%d", r.Key, len(r.Frame), r.Width, r.Height)
		}
		switch {
		case r.Label == 1:
			positives++
			if r.NegativeKind != "" || r.AudioVideo != r.Video || r.FrameTimeS < r.AudioStartS-0.5 || r.FrameTimeS > r.AudioStartS+1.5 {
				t.Errorf("%s: positive with kind %q audio of %s at %v", r.Key, r.NegativeKind, r.AudioVideo, r.AudioStartS)
			}
		case r.NegativeKind == av.KindOtherVideo:
			otherVideo++
			if r.AudioVideo == r.Video {
				t.Errorf("%s: other_video negative with its own audio", r.Key)
			}
		case r.NegativeKind == av.KindTimeShift:
			timeShift++
			if r.AudioVideo != r.Video {
				t.Errorf("%s: time_shift negative with audio of %s", r.Key, r.AudioVideo)
			}
			if d := av.ShiftDistance(r.FrameTimeS, r.AudioStartS, r.AudioSeconds); d < c.MinOffsetSeconds-1e-9 {
				t.Errorf("%s: time_shift window at %v is %v s from the frame at %v; want >= %v", r.Key, r.AudioStartS, d, r.FrameTimeS, c.MinOffsetSeconds)
			}
		default:
			t.Errorf("%s: label %d kind %q", r.Key, r.Label, r.NegativeKind)
		}
	}
	return
}

// The committed clips: av_correspond rows and colorize rows of the same
// frames keyed by frame time; corrupt, audio-less and empty files are dead
// letters with distinct reasons; two runs give the same bytes.
func TestVideoPipeline(t *testing.T) {
	needFFmpeg(t)
	// The workers' temporary folders go here, so that the test can see
	// that none outlives the run (the pool spools frames between a video's
	// fetch and its labelling).
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	out := t.TempDir()
	edit := func(c *configs.Config) {
		c.Tasks["colorize"] = func() *vision.ColorizeConfig { v := vision.DefaultColorizeConfig(); return &v }()
	}
	in := filepath.Join(repo, "testdata", "video") + "/**"
	cfg := loadConfig(t, "av.yaml", in, out, edit)
	m := runText(t, "prism", cfg)
	dead := deadLetters(t, out, m)
	for key, reason := range map[string]string{
		"bad/corrupt.mp4": av.ReasonCorruptMedia, "bad/noaudio.mp4": av.ReasonNoAudioStream,
		"bad/empty.mp4": "empty_file", "bad/audioonly.m4a": av.ReasonNoVideoStream,
	} {
		if dead[key].Reason != reason {
			t.Errorf("%s: dead letter %+v; want reason %s", key, dead[key], reason)
		}
	}
	rows := readRows[sinks.AVRow](t, filepath.Join(out, av.TaskCorrespond), m[av.TaskCorrespond])
	durations := map[string]float64{"chelsea-pan.mp4": 4, "coffee-pan.mp4": 5, "astronaut-pan.webm": 3}
	checkAV(t, cfg, rows, durations)
	if len(rows) != 4+5+3 {
		t.Errorf("%d av rows; want one per frame at 1 fps (12)", len(rows))
	}
	col := readRows[sinks.ColorizeRow](t, filepath.Join(out, "colorize"), m["colorize"])
	if len(col) != len(rows) {
		t.Errorf("%d colorize rows, %d av rows: the same frames should feed both", len(col), len(rows))
	}
	for i := range min(len(col), len(rows)) {
		if col[i].Key != rows[i].Key || !bytes.Equal(col[i].Target, rows[i].Frame) {
			t.Errorf("colorize row %d is %s, av row %s: keys or frames differ", i, col[i].Key, rows[i].Key)
		}
	}
	// Again, with a second group task: the pair stage writes both, and
	// changes none of the first run's rows; the dead letter of the video
	// without sound names both tasks.
	again := t.TempDir()
	ms := runText(t, "prism", loadConfig(t, "av.yaml", in, again, func(c *configs.Config) {
		edit(c)
		c.Tasks[testGroupTask] = &testTaskConfig{}
	}))
	sameShards(t, "two runs, the second with a second group task", without(dirBytes(t, out), sinks.DeadLetters), without(dirBytes(t, again), testGroupTask, sinks.DeadLetters))
	if d, want := deadLetters(t, again, ms)["bad/noaudio.mp4"].Detail, "no audio stream (av_correspond, test_video_group need one)"; d != want {
		t.Errorf("dead letter of a video without sound says %q; want %q", d, want)
	}
	if d, want := dead["bad/noaudio.mp4"].Detail, "no audio stream (av_correspond needs one)"; d != want {
		t.Errorf("dead letter of a video without sound says %q; want %q", d, want)
	}
	grouped := readRows[testGroupRow](t, filepath.Join(again, testGroupTask), ms[testGroupTask])
	if len(grouped) != len(rows) || ms[testGroupTask].Stats["frames"] != int64(len(rows)) {
		t.Fatalf("%d rows of the second group task (stats %v); want one per frame (%d)", len(grouped), ms[testGroupTask].Stats, len(rows))
	}
	for i, r := range grouped {
		if r.Key != rows[i].Key || r.Video != rows[i].Video || !slices.Contains(strings.Split(r.Group, ","), r.Video) ||
			r.Draw != seeding.New(cfg.Seed, testGroupTask, r.Key, 0).Uint64() {
			t.Errorf("second group task's row %+v; want frame %s of %s in its group, its rng by its own name", r, rows[i].Key, rows[i].Video)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "pretext-video-*")); len(left) > 0 {
		t.Errorf("temporary folders left behind: %v", left)
	}
}

// The real set of scripts/fetch-av.sh (photos panned to real speech): label
// shares as configured.
func TestAVRealClips(t *testing.T) {
	needFFmpeg(t)
	dir := filepath.Join(repo, ".cache", "av", "clips")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("clips missing: scripts/setup.sh runs scripts/fetch-av.sh")
		}
		t.Skip("clips not built: run scripts/fetch-av.sh")
	}
	out := t.TempDir()
	cfg := loadConfig(t, "av.yaml", dir+"/*.mp4", out, func(c *configs.Config) {
		c.Video.FPS = 25
		c.Image.Size = 32
		c.Sink.NumShards = 4
	})
	m := runText(t, "prism", cfg)[av.TaskCorrespond]
	if m.Inputs != 20 || m.Labeled != 20 {
		t.Fatalf("inputs %d labeled %d; want 20", m.Inputs, m.Labeled)
	}
	rows := readRows[sinks.AVRow](t, filepath.Join(out, av.TaskCorrespond), m)
	durations := map[string]float64{}
	clips, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
	for _, c := range clips {
		info, err := av.Probe(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		durations[filepath.Base(c)] = info.Duration
	}
	pos, other, shift := checkAV(t, cfg, rows, durations)
	n := len(rows)
	share := float64(pos) / float64(n)
	t.Logf("%d rows: positives %.4f, other_video %d, time_shift %d, stats %v", n, share, other, shift, m.Stats)
	if n < 2000 || math.Abs(share-0.5) > 0.02 {
		t.Errorf("positive share %.4f of %d rows; want 0.5 ± 0.02", share, n)
	}
	// A frame of a short clip may have no window 2 s away: its time_shift
	// negative becomes an other_video one, counted in the stats. The kinds as
	// drawn are half and half.
	drawnOther := other - int(m.Stats["fallback.time_shift_impossible"])
	if neg := other + shift; neg == 0 || math.Abs(float64(drawnOther)/float64(neg)-0.5) > 0.05 {
		t.Errorf("negatives: other_video %d (%d drawn), time_shift %d; want about half each as drawn", other, drawnOther, shift)
	}
}

// BenchmarkVideoPipeline runs av_correspond and colorize over the fetched
// clips (scripts/fetch-av.sh) with the direct runner and reports frames per
// second from video to rows; run it with GOMAXPROCS=1 for a per-core figure.
func BenchmarkVideoPipeline(b *testing.B) {
	if err := av.Check(); err != nil {
		b.Skip(err)
	}
	dir := filepath.Join(repo, ".cache", "av", "clips")
	if _, err := os.Stat(dir); err != nil {
		b.Skip("clips not built: run scripts/fetch-av.sh")
	}
	var frames int64
	for b.Loop() {
		out := b.TempDir()
		cfg := loadConfig(b, "av.yaml", dir+"/*.mp4", out, func(c *configs.Config) {
			c.Video.FPS = 5
			c.Tasks["colorize"] = func() *vision.ColorizeConfig { v := vision.DefaultColorizeConfig(); return &v }()
		})
		m := runText(b, "direct", cfg)
		frames += m[av.TaskCorrespond].Rows
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
}

// A video on an object store (Beam's in-memory filesystem stands in for
// gs:// or s3://) is copied to local disk by the worker and gives the same
// rows as the local file.
func TestVideoFromObjectStore(t *testing.T) {
	needFFmpeg(t)
	for _, name := range []string{"chelsea-pan.mp4", "coffee-pan.mp4"} {
		data, err := os.ReadFile(filepath.Join(repo, "testdata", "video", name))
		if err != nil {
			t.Fatal(err)
		}
		memfs.Write("memfs://videos/"+name, data)
	}
	remote, local := t.TempDir(), t.TempDir()
	rm := runText(t, "prism", loadConfig(t, "av.yaml", "memfs://videos/*.mp4", remote, nil))[av.TaskCorrespond]
	lm := runText(t, "prism", loadConfig(t, "av.yaml", filepath.Join(repo, "testdata", "video", "c*-pan.mp4"), local, nil))[av.TaskCorrespond]
	a := readRows[sinks.AVRow](t, filepath.Join(remote, av.TaskCorrespond), rm)
	b := readRows[sinks.AVRow](t, filepath.Join(local, av.TaskCorrespond), lm)
	if len(a) != 9 || len(a) != len(b) {
		t.Fatalf("%d rows from memfs, %d from local files; want 9", len(a), len(b))
	}
	for i := range a {
		if !strings.HasPrefix(a[i].Source, "memfs://videos/") {
			t.Errorf("source %s", a[i].Source)
		}
		a[i].Source, b[i].Source = "", ""
		if fmt.Sprint(a[i]) != fmt.Sprint(b[i]) {
			t.Errorf("row %d (%s) differs between memfs and local input", i, a[i].Key)
		}
	}
}

// A worker without ffmpeg fails once, at start-up, saying what is missing.
func TestVideoWorkerWithoutFFmpeg(t *testing.T) {
	t.Setenv(av.EnvFFmpeg, filepath.Join(t.TempDir(), "no-ffmpeg"))
	err := (&videoFn{Video: configs.Default().Video}).Setup()
	if err == nil || !strings.Contains(err.Error(), "ffmpeg") {
		t.Fatalf("Setup without ffmpeg: %v", err)
	}
	t.Log(err)
}
