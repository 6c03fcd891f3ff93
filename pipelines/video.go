package pipelines

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/sinks/beamsink"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/audio"
	"github.com/pretext-dev/pretext/transforms/av"
	"github.com/pretext-dev/pretext/transforms/vision"
)

func init() {
	register.DoFn6x1[context.Context, transforms.FileRef, func(sinks.TempFile), func(sinks.TempFile), func(sinks.DeadLetter), func(string), error](&videoFn{})
	register.DoFn3x1[context.Context, BucketJob, func(sinks.TempFile), error](&groupsFn{})
	beam.RegisterType(typeOf[av.Video]())
}

// videoFormat is the format of the bucket files: av.Video rows.
var videoFormat = sinks.FormatOf[av.Video]()

// Video builds the video pipeline: match the input pattern, reshuffle the
// references, and for each video (copied to local disk when remote) sample
// frames at video.fps with ffmpeg and label them for every configured image
// task (vision.Labeler), keyed by video key and frame time. When the run
// has video-group tasks (av.GroupLabeler: rows that pair a video with
// others), the video's audio track is decoded, resampled and turned into
// log-mel features; the frames and features go to bucket files by
// hash(key), each bucket is read back in key order and cut into groups, and
// each group task labels each group into its own writer. It returns
// PCollection<string> of the manifests written.
func Video(s beam.Scope, cfg configs.Config, plan Plan) beam.PCollection {
	s = s.Scope("pipelines.Video")
	refs, outcomes, matchDead := Match(s, beam.Create(s, cfg.Input), cfg.Output, cfg.Limit)
	refs = beam.Reshuffle(s, refs)

	fn := &videoFn{Seed: cfg.Seed, Image: cfg.Image, Audio: cfg.Audio, Video: cfg.Video, Split: cfg.Split}
	tasks, deadDS := plan.Tasks()
	var groupTasks []transforms.Spec
	for _, t := range tasks {
		if !isGroupTask(t.Name) {
			fn.Tasks = append(fn.Tasks, t)
			continue
		}
		groupTasks = append(groupTasks, t)
		fn.Groups = append(fn.Groups, t.Name)
		if len(groupTasks) == 1 {
			// Bucket files live in the first group task's staging
			// folder, so its commit removes them with its temporary
			// files.
			fn.Buckets = sinks.Dataset{
				Name: "_buckets", Format: videoFormat.Name(), Dir: t.Dataset.Dir, RunID: plan.RunID,
				NumShards: cfg.Video.NumBuckets, MaxBufferBytes: t.Dataset.MaxBufferBytes,
			}
		}
	}
	temps, bucketTemps, dead, videoOutcomes := beam.ParDo4(s, fn, refs)
	parts := []beam.PCollection{temps}
	if len(groupTasks) > 0 {
		grouped := beam.ParDo(s, collectBucket, beam.GroupByKey(s, beam.ParDo(s, keyByPartition, bucketTemps)))
		groups := &groupsFn{Seed: cfg.Seed, Audio: cfg.Audio, Video: cfg.Video, Image: cfg.Image, Tasks: groupTasks}
		parts = append(parts, beam.ParDo(s, groups, bucketJobs(s, grouped)))
	}
	deadTemps := beamsink.WriteDeadLetters(s, deadDS, beam.Flatten(s, matchDead, dead))
	parts = append(parts, deadTemps)
	return beamsink.Finalize(s, plan.Commits, beam.Flatten(s, parts...), beam.Flatten(s, outcomes, videoOutcomes))
}

// isGroupTask reports whether the task registered as name is a video-group
// task; an unknown task is left to the image tasks' check, which names it.
func isGroupTask(name string) bool {
	t, ok := transforms.Lookup(name)
	if !ok {
		return false
	}
	_, group := t.Impl.(av.GroupLabeler)
	return group
}

// videoFn samples one video's frames, labels them for the image tasks and,
// when the run has group tasks, writes its frames and audio features to a
// bucket file.
type videoFn struct {
	Seed  int64
	Image configs.Image
	Audio configs.Audio
	Video configs.Video
	Split configs.Split
	Tasks []transforms.Spec
	// Groups names the run's video-group tasks; Buckets is where videos go
	// to their groups when there are any.
	Groups  []string
	Buckets sinks.Dataset

	runner   av.Runner
	mels     *sync.Pool // of *audio.Mel, one per worker computing at once
	labelers *vision.Labelers
	run      perInput[*fetched]
	bucket   *sinks.Writer
	// tmp is the bundle's temporary folder: a subfolder per video between
	// its fetch and its labelling.
	tmp string
}

// grouped reports whether the run has video-group tasks.
func (f *videoFn) grouped() bool { return len(f.Groups) > 0 }

// Setup fails when ffmpeg is missing: on a runner, workers start where the
// pipeline runs, not where it was launched, so this is where the one clear
// error belongs (rather than a dead letter for every video).
func (f *videoFn) Setup() error {
	f.runner = av.Runner{Timeout: time.Duration(f.Video.TimeoutSeconds * float64(time.Second)), MaxSamples: f.Audio.MaxSamples}
	if err := f.runner.Check(); err != nil {
		return fmt.Errorf("video pipeline worker: %w", err)
	}
	f.run.setup("video")
	l, err := vision.NewLabelers(f.Tasks)
	if err != nil {
		return err
	}
	f.labelers = l
	if f.grouped() {
		if f.mels, err = audio.NewMelPool(f.Audio.Mel); err != nil {
			return err
		}
	}
	return nil
}

func (f *videoFn) StartBundle(ctx context.Context, _, _ func(sinks.TempFile), _ func(sinks.DeadLetter), _ func(string)) error {
	err := f.run.start(ctx, f.Tasks, f.fetch, func(ref transforms.FileRef, err error) *fetched {
		return &fetched{ref: ref, err: fmt.Errorf("video: %s: %w", ref.Key, err)}
	})
	if err != nil {
		return err
	}
	if f.grouped() {
		w, err := sinks.NewWriter(ctx, f.Buckets)
		if err != nil {
			return err
		}
		f.bucket = w
	}
	dir, err := os.MkdirTemp("", "pretext-video-")
	if err != nil {
		return err
	}
	f.tmp = dir
	return nil
}

// outcome is how one video ended when it did not give rows: a filter
// reason (stage "filter") or a dead letter.
type outcome struct{ stage, reason, detail string }

func (f *videoFn) ProcessElement(ctx context.Context, ref transforms.FileRef, _, _ func(sinks.TempFile), emitDead func(sinks.DeadLetter), emitOutcome func(string)) error {
	return f.run.submit(ctx, ref, func(fe *fetched) error { return f.write(ctx, fe, emitDead, emitOutcome) })
}

// fetched is a video made ready to label by f.fetch: probed, its sound's
// features computed and its sampled frames spooled to dir/frames; or how it
// ended instead (out), or the failure of the machine (err).
type fetched struct {
	ref   transforms.FileRef
	out   *outcome
	err   error
	dir   string
	info  *av.Info
	track *audioTrack
	times []float64
}

// write labels a fetched video's frames into the writers, or counts its
// filter drop or dead letter; it runs on the bundle's goroutine and removes
// the video's temporary folder.
func (f *videoFn) write(ctx context.Context, fe *fetched, emitDead func(sinks.DeadLetter), emitOutcome func(string)) error {
	if fe.dir != "" {
		defer os.RemoveAll(fe.dir)
	}
	o, err := fe.out, fe.err
	rows := 0
	if err == nil && o == nil {
		rows, err = f.labelSpool(ctx, fe)
	}
	if err != nil {
		return err
	}
	if o == nil {
		f.run.labeled(ctx, rows, emitOutcome)
		return nil
	}
	f.run.end(ctx, fe.ref, o.stage, o.reason, o.detail, emitDead, emitOutcome)
	return nil
}

// labelSpool reads a fetched video's spooled frames back and labels them; it
// returns the number of rows written.
func (f *videoFn) labelSpool(ctx context.Context, fe *fetched) (int, error) {
	spool, err := os.Open(filepath.Join(fe.dir, "frames"))
	if err != nil {
		return 0, err
	}
	defer spool.Close()
	return f.label(ctx, fe.ref, fe.info, fe.track, fe.times, bufio.NewReaderSize(spool, 1<<20))
}

// mediaOutcome turns an av error into a dead letter, or returns it as a
// failure of the machine.
func mediaOutcome(err error) (*outcome, error) {
	var ae *transforms.InputError
	if errors.As(err, &ae) && ae.Reason != av.ReasonFFmpegMissing {
		return &outcome{sinks.StageDecode, ae.Reason, ae.Detail}, nil
	}
	return nil, err
}

// fetch copies a video if it is not local, probes it, computes its sound's
// features and spools its sampled, resized frames: the ffmpeg-heavy part of
// an element, which may run on a pool worker. Labelling, which writes rows,
// is left to write, on the bundle's goroutine; rows are written only once
// every frame has decoded, so a video gives all its rows or none.
func (f *videoFn) fetch(ctx context.Context, ref transforms.FileRef) *fetched {
	fe := &fetched{ref: ref}
	dir, err := os.MkdirTemp(f.tmp, "video-")
	if err != nil {
		fe.err = err
		return fe
	}
	fe.out, fe.err = f.spool(ctx, fe, dir)
	if fe.out != nil || fe.err != nil {
		os.RemoveAll(dir)
		return fe
	}
	fe.dir = dir
	return fe
}

// spool is fetch's work in dir; a non-nil outcome ends the video there.
func (f *videoFn) spool(ctx context.Context, fe *fetched, dir string) (*outcome, error) {
	local, o, err := f.localCopy(ctx, fe.ref, dir)
	if o != nil || err != nil {
		return o, err
	}
	info, err := f.runner.Probe(ctx, local)
	if err != nil {
		return mediaOutcome(err)
	}
	switch {
	case info.Video == nil:
		return &outcome{sinks.StageDecode, av.ReasonNoVideoStream, "no video stream"}, nil
	case f.grouped() && info.Audio == nil:
		return &outcome{sinks.StageDecode, av.ReasonNoAudioStream, f.noAudio()}, nil
	case info.Duration > f.Video.MaxSeconds:
		return &outcome{sinks.StageDecode, av.ReasonTooLarge, fmt.Sprintf("%.1f s > video.max_seconds %g", info.Duration, f.Video.MaxSeconds)}, nil
	}
	if reason := vision.Filter(info.Video.Width, info.Video.Height, f.Image); reason != "" {
		return &outcome{transforms.StageFilter, reason, ""}, nil
	}
	fe.info = info
	if f.grouped() {
		samples, rate, err := f.runner.Audio(ctx, local, f.Video.MaxSeconds)
		if err != nil {
			return mediaOutcome(err)
		}
		fe.track = f.features(audio.Resample(samples, rate, f.Audio.Mel.SampleRate))
	}
	spool, err := os.Create(filepath.Join(dir, "frames"))
	if err != nil {
		return nil, err
	}
	defer spool.Close()
	sw := bufio.NewWriterSize(spool, 1<<20)
	err = f.runner.EachFrame(ctx, local, f.Video.FPS, f.Video.MaxFrames, int(min(f.Image.MaxPixels, math.MaxInt32)), func(fr av.Frame) error {
		fe.times = append(fe.times, fr.Time)
		return writeFrame(sw, vision.Resize(fr.Image, f.Image.Resize, f.Image.Size, f.Image.Filter))
	})
	if err != nil {
		return mediaOutcome(err)
	}
	if err := sw.Flush(); err != nil {
		return nil, fmt.Errorf("video: spooling frames: %w", err)
	}
	return nil, spool.Close()
}

// noAudio is the detail of a video without an audio stream in a run whose
// group tasks need one.
func (f *videoFn) noAudio() string {
	verb := "needs"
	if len(f.Groups) > 1 {
		verb = "need"
	}
	return fmt.Sprintf("no audio stream (%s %s one)", strings.Join(f.Groups, ", "), verb)
}

// localCopy returns a local path of the video: the file itself on the local
// filesystem, else a copy in dir made through the Beam filesystem.
func (f *videoFn) localCopy(ctx context.Context, ref transforms.FileRef, dir string) (string, *outcome, error) {
	if !strings.Contains(ref.Source, "://") {
		st, err := os.Stat(ref.Source)
		switch {
		case err != nil:
			return "", nil, err
		case st.Size() == 0:
			return "", &outcome{sinks.StageRead, "empty_file", "0 bytes"}, nil
		case st.Size() > f.Video.MaxBytes:
			return "", &outcome{sinks.StageRead, "too_large_file", fmt.Sprintf("%d bytes > video.max_bytes %d", st.Size(), f.Video.MaxBytes)}, nil
		}
		return ref.Source, nil, nil
	}
	// Named after the input's extension alone, so ffmpeg's messages (kept
	// as dead-letter details) are the same on every run.
	local := filepath.Join(dir, "input"+strings.ToLower(path.Ext(ref.Key)))
	out, err := os.Create(local)
	if err != nil {
		return "", nil, err
	}
	_, reason, detail, err := transforms.CopyInput(ctx, ref.Source, f.Video.MaxBytes, out)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil || reason != "" {
		if reason != "" {
			return "", &outcome{sinks.StageRead, reason, detail}, nil
		}
		return "", nil, err
	}
	return local, nil, nil
}

// audioTrack is a video's audio as the group tasks use it.
type audioTrack struct {
	samples int
	logMel  []float32
	power   []float32
}

func (f *videoFn) features(x []float32) *audioTrack {
	hop := f.Audio.Mel.Hop
	t := &audioTrack{samples: len(x), power: make([]float32, len(x)/hop)}
	mel := f.mels.Get().(*audio.Mel)
	t.logMel, _ = mel.Compute(x)
	f.mels.Put(mel)
	for j := range t.power {
		var sum float64
		for _, v := range x[j*hop : (j+1)*hop] {
			sum += float64(float64(v) * float64(v))
		}
		t.power[j] = float32(sum / float64(hop))
	}
	return t
}

// label reads the spooled frames back, makes each frame's image-task rows
// and, for the group tasks, the video's av.Video; it returns the rows written.
func (f *videoFn) label(ctx context.Context, ref transforms.FileRef, info *av.Info, track *audioTrack, times []float64, r io.Reader) (int, error) {
	split := vision.SplitOf(ref.Key, f.Split)
	enc := vision.Encoding{Format: f.Image.Encoding, PNGLevel: f.Image.PNGLevel, JPEGQuality: f.Image.JPEGQuality}
	doc := av.Video{Key: ref.Key, Source: ref.Source, Split: split}
	if track != nil {
		doc.Samples, doc.LogMel, doc.Bins, doc.Power = int64(track.samples), track.logMel, int32(f.Audio.Mel.NMels), track.power
	}
	n := 0
	for _, t := range times {
		img, err := readFrame(r)
		if err != nil {
			return n, fmt.Errorf("video: reading spooled frames: %w", err)
		}
		if info.Duration > 0 && t >= info.Duration {
			// A frame past the container's end (some muxers report a short
			// duration) would be a frame time outside its video.
			continue
		}
		// Every frame of a video shares the video's split, so no video
		// is in two splits.
		ex := &vision.Example{Key: av.FrameKey(ref.Key, t), Source: ref.Source, Split: split, Image: img, Encoding: enc}
		rows, err := f.labelers.Label(f.Seed, ex)
		if err != nil {
			// One odd frame is skipped and counted, not the whole video.
			f.run.countAll("frame_label_errors", 1)
			continue
		}
		for _, p := range rows {
			if err := f.run.add(ctx, p.Task, ex.Key, p.Row, p.Size); err != nil {
				return n, err
			}
			for _, st := range p.Stats {
				f.run.count(p.Task, st, 1)
			}
		}
		n += len(rows)
		if f.grouped() {
			data, err := ex.Target()
			if err != nil {
				return n, fmt.Errorf("video: encoding frame: %w", err)
			}
			b := img.Bounds()
			doc.Frames = append(doc.Frames, av.VideoFrame{Time: t, Width: int32(b.Dx()), Height: int32(b.Dy()), Data: data})
		}
	}
	if f.grouped() {
		return n, f.bucket.Add(ctx, doc.Key, doc, doc.RowBytes()+256)
	}
	return n, nil
}

func (f *videoFn) FinishBundle(ctx context.Context, emitTemp, emitBucket func(sinks.TempFile), emitDead func(sinks.DeadLetter), emitOutcome func(string)) error {
	if err := f.run.finish(ctx, func(fe *fetched) error { return f.write(ctx, fe, emitDead, emitOutcome) }, emitTemp); err != nil {
		return err
	}
	if err := os.RemoveAll(f.tmp); err != nil {
		return err
	}
	f.tmp = ""
	if f.bucket != nil {
		err := f.bucket.Finish(ctx, emitBucket)
		f.bucket = nil
		return err
	}
	return nil
}

// Teardown removes the temporary folder of a bundle that failed: the frames
// of videos fetched but never labelled.
func (f *videoFn) Teardown() error {
	f.run.abort()
	if f.tmp == "" {
		return nil
	}
	err := os.RemoveAll(f.tmp)
	f.tmp = ""
	return err
}

// writeFrame spools an image: width, height, then its pixels.
func writeFrame(w io.Writer, img *image.NRGBA) error {
	var hdr [8]byte
	b := img.Bounds()
	binary.LittleEndian.PutUint32(hdr[0:], uint32(b.Dx()))
	binary.LittleEndian.PutUint32(hdr[4:], uint32(b.Dy()))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		off := img.PixOffset(b.Min.X, y)
		if _, err := w.Write(img.Pix[off : off+4*b.Dx()]); err != nil {
			return err
		}
	}
	return nil
}

func readFrame(r io.Reader) (*image.NRGBA, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	w, h := int(binary.LittleEndian.Uint32(hdr[0:])), int(binary.LittleEndian.Uint32(hdr[4:]))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	if _, err := io.ReadFull(r, img.Pix); err != nil {
		return nil, err
	}
	return img, nil
}

// groupsFn reads one bucket of videos in key order, cuts it into groups
// and has every video-group task label each group, each task's rows into
// its own writer.
type groupsFn struct {
	Seed  int64
	Audio configs.Audio
	Video configs.Video
	Image configs.Image
	Tasks []transforms.Spec

	tasks *av.GroupTasks
}

func (f *groupsFn) Setup() error {
	tasks, err := av.NewGroupTasks(f.Tasks, av.Prep{Mel: f.Audio.Mel, Encoding: f.Image.Encoding, SilenceDBFS: f.Audio.SilenceDBFS})
	f.tasks = tasks
	return err
}

func (f *groupsFn) ProcessElement(ctx context.Context, job BucketJob, emitTemp func(sinks.TempFile)) error {
	release, err := sinks.AcquireWork(ctx)
	if err != nil {
		return err
	}
	defer release()
	// Bucket files live in the first task's staging folder.
	fs, err := sinks.NewFS(ctx, f.Tasks[0].Dataset.Dir)
	if err != nil {
		return err
	}
	defer fs.Close()
	outs := make([]av.Out, len(f.Tasks))
	writers := make([]*sinks.Writer, len(f.Tasks))
	for i, t := range f.Tasks {
		w, err := sinks.NewWriter(ctx, t.Dataset)
		if err != nil {
			return err
		}
		writers[i], outs[i] = w, writerOut{ctx, w}
	}
	g := grouping[av.Video]{
		size: f.Video.GroupSize, maxBytes: int64(f.Video.GroupMB) << 20,
		bytes: func(d *av.Video) int64 { return int64(d.RowBytes()) },
		// A neighbour's videos give only their audio: frames are dropped on arrival.
		trim: func(d *av.Video) { d.Frames = nil },
	}
	// When the whole bucket is one video, its group takes the first group
	// of the next non-empty bucket as extra.
	if err := eachGroup(ctx, fs, job, g, func(group, extra []av.Video) error {
		return f.tasks.Label(f.Seed, &av.Group{Videos: group, Extra: extra}, outs)
	}); err != nil {
		return err
	}
	for _, w := range writers {
		if err := w.Finish(ctx, emitTemp); err != nil {
			return err
		}
	}
	return nil
}

// writerOut is a task's writer as an av.Out, counting rows for the live
// progress.
type writerOut struct {
	ctx context.Context
	w   *sinks.Writer
}

func (o writerOut) Add(key string, row any, size int) error {
	if err := o.w.Add(o.ctx, key, row, size); err != nil {
		return err
	}
	transforms.Live.Rows.Add(1)
	return nil
}

func (o writerOut) Count(stat string, n int64) { o.w.Count(stat, n) }
