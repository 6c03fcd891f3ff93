package av

import (
	"fmt"
	"math/rand/v2"

	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/audio"
	"github.com/pretext-dev/pretext/transforms/seeding"
)

// Video is one video on its way to its group: its sampled frames and its
// audio track's features, as the video stage made them. Videos travel to
// their groups inside bucket files (it is a sinks row), never through a
// Beam shuffle.
type Video struct {
	Key, Source, Split string
	// Frames are encoded as image.encoding says, in time order.
	Frames []VideoFrame
	// Samples is the length of the audio track at the run's
	// audio.mel.sample_rate.
	Samples int64
	// LogMel is the whole track's log-mel, row-major [frames][Bins]; a
	// window starting at hop k is rows k… of it.
	LogMel []float32
	Bins   int32
	// Power is the mean square of each hop of samples, for window levels.
	Power []float32
}

// VideoFrame is one sampled frame of a Video, encoded.
type VideoFrame struct {
	// Time is the frame's time in its video, in seconds.
	Time          float64
	Width, Height int32
	Data          []byte
}

// RowKey, RowVariant and RowBytes make a Video a sinks row, for the bucket
// files. RowBytes is also a video's size when groups are cut by bytes
// (video.group_mb).
func (v Video) RowKey() string    { return v.Key }
func (v Video) RowVariant() int32 { return 0 }
func (v Video) RowBytes() int {
	n := len(v.Key) + len(v.Source) + 4*(len(v.LogMel)+len(v.Power))
	for _, f := range v.Frames {
		n += len(f.Data) + 32
	}
	return n
}

// Group is one group of videos cut from a bucket of videos in key order
// (video.group_size videos, or fewer once they hold video.group_mb). Tasks
// share it: a GroupTask must not modify it.
type Group struct {
	// Videos are the videos that give rows.
	Videos []Video
	// Extra lend only their audio (their frames are dropped): when a whole
	// bucket is one video, the first group of the next non-empty bucket,
	// so that the video still has other videos to draw from. Usually nil.
	Extra []Video
}

// Prep says how the videos of a run were prepared: what a group task
// needs besides its own config.
type Prep struct {
	// Mel is the front end that made every track's LogMel (audio.mel).
	Mel audio.MelConfig
	// Encoding is the frames' image.encoding.
	Encoding string
	// SilenceDBFS is audio.silence_dbfs: an audio window below it is silent.
	SilenceDBFS float64
}

// GroupLabeler is what a video-group task registers as its
// transforms.Task.Impl. A task that labels frames one at a time is an
// image task (vision.Labeler), run on every sampled frame; a group task
// sees whole groups of videos, after the stage that gathers each video's
// frames and audio features into buckets by key and cuts them into groups,
// because its rows pair a video with others.
//
// It has two steps, unlike vision.Labeler: Ready works out once per worker
// what the config and the run's Prep imply (the window grid, a window's
// log-mel frames), which every group then shares.
type GroupLabeler interface {
	// Ready readies the task for the groups of one run: cfg is the task's
	// config (the value its NewConfig returns, decoded from the run's).
	// An error is a bad config and fails the run.
	Ready(cfg transforms.Config, p Prep) (GroupTask, error)
}

// GroupTask is a GroupLabeler readied for a run.
type GroupTask interface {
	// Label makes the rows of the frames of g.Videos (never g.Extra's),
	// putting each row and statistic into out. rng(key) is the random
	// source of the row keyed key, seeded by (seed, task, key, 0): a row's
	// draws depend on its key alone, not on the order of its group. A
	// frame that gives no row is counted in a statistic, not an error:
	// the error Label returns is out's, a failure of the machine.
	Label(g *Group, rng func(key string) *rand.Rand, out Out) error
}

// Out receives a GroupTask's rows and statistics.
type Out interface {
	// Add writes a row of the task's Format: key is its partition key and
	// size its payload in bytes, what the writer's buffer budget counts.
	Add(key string, row any, size int) error
	// Count adds n to the manifest statistic named stat.
	Count(stat string, n int64)
}

// FrameKey is the key of the rows of the frame at t seconds of video key.
func FrameKey(key string, t float64) string { return audio.ClipKey(key, t) }

// GroupTasks are the video-group tasks of a run, readied to label groups.
type GroupTasks struct {
	names []string
	tasks []GroupTask
}

// NewGroupTasks looks up each task of specs, decodes its config and
// readies it for p. It fails on a task that
// this binary does not register or that is not a video-group task.
func NewGroupTasks(specs []transforms.Spec, p Prep) (*GroupTasks, error) {
	gt := &GroupTasks{}
	for _, ts := range specs {
		name := ts.Name
		gt.names = append(gt.names, name)
		lab, cfg, err := transforms.Resolve[GroupLabeler](name, ts.Config, "video-group")
		if err != nil {
			return nil, fmt.Errorf("av: %w", err)
		}
		task, err := lab.Ready(cfg, p)
		if err != nil {
			return nil, fmt.Errorf("av: task %q: %w", name, err)
		}
		gt.tasks = append(gt.tasks, task)
	}
	return gt, nil
}

// Label labels g for every task in turn, task i's rows into outs[i], with
// rng seeded by (seed, task, key, 0).
func (gt *GroupTasks) Label(seed int64, g *Group, outs []Out) error {
	for i, t := range gt.tasks {
		name := gt.names[i]
		rng := func(key string) *rand.Rand { return seeding.New(seed, name, key, 0) }
		if err := t.Label(g, rng, outs[i]); err != nil {
			return err
		}
	}
	return nil
}
