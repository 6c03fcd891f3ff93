package pipelines

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
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
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/audio"
	"github.com/pretext-dev/pretext/transforms/av"
	"github.com/pretext-dev/pretext/transforms/seeding"
	"github.com/pretext-dev/pretext/transforms/vision"
)

func init() {
	register.DoFn6x1[context.Context, transforms.FileRef, func(sinks.TempFile), func(sinks.TempFile), func(sinks.DeadLetter), func(string), error](&videoFn{})
	register.DoFn3x1[context.Context, BucketJob, func(sinks.TempFile), error](&pairsFn{})
	beam.RegisterType(typeOf[VideoDoc]())
	beam.RegisterType(typeOf[sinks.AVRow]())
	beam.RegisterType(typeOf[sinks.AudioMaskRow]())
}

// VideoDoc is one video's frames and audio features on their way to the
// video's group, where av_correspond pairs them with audio of the same or
// another video. It travels only inside bucket files, never through a Beam
// shuffle.
type VideoDoc struct {
	Key, Source, Split string
	// Frames are encoded as image.encoding says, in time order.
	Frames []VideoFrame
	// Samples is the length of the audio track at SampleRate.
	Samples int64
	// LogMel is the whole track's log-mel, row-major [frames][Bins]; a
	// window starting at hop k is rows k… of it.
	LogMel []float32
	Bins   int32
	// Power is the mean square of each hop of samples, for window levels.
	Power []float32
}

// VideoFrame is one sampled frame of a VideoDoc.
type VideoFrame struct {
	Time          float64
	Width, Height int32
	Data          []byte
}

func (d VideoDoc) RowKey() string    { return d.Key }
func (d VideoDoc) RowVariant() int32 { return 0 }
func (d VideoDoc) RowBytes() int {
	n := len(d.Key) + len(d.Source) + 4*(len(d.LogMel)+len(d.Power))
	for _, f := range d.Frames {
		n += len(f.Data) + 32
	}
	return n
}

var videoDocFormat = sinks.FormatOf[VideoDoc]()

// Video builds the video pipeline: match the input pattern, reshuffle the
// references, and for each video (copied to local disk when remote) sample
// frames at video.fps with ffmpeg and label them for every configured image
// task, keyed by video key and frame time. For av_correspond, the video's
// audio track is decoded, resampled and turned into log-mel features; the
// frames and features go to bucket files by hash(key), each bucket is read
// back in key order and cut into groups, and each frame is paired with a
// window of its own audio (positive), of its own audio at least min_offset
// away (time_shift) or of another video of its group (other_video). It
// returns PCollection<string> of the manifests written.
func Video(s beam.Scope, cfg configs.Config, plan Plan) beam.PCollection {
	s = s.Scope("pipelines.Video")
	refs, outcomes, matchDead := Match(s, beam.Create(s, cfg.Input), cfg.Output, cfg.Limit)
	refs = beam.Reshuffle(s, refs)

	fn := &videoFn{Seed: cfg.Seed, Image: cfg.Image, Audio: cfg.Audio, Video: cfg.Video, Split: cfg.Split}
	var deadDS, avDS sinks.Dataset
	for _, c := range plan.Commits {
		switch c.Name {
		case sinks.DeadLetters:
			deadDS = c.Dataset
		case av.TaskCorrespond:
			avDS = c.Dataset
			fn.Pairs = true
			// Bucket files live in the task's staging folder, so the
			// commit removes them with its temporary files.
			fn.Buckets = sinks.Dataset{
				Name: "_buckets", Format: videoDocFormat.Name(), Dir: c.Dir, RunID: plan.RunID,
				NumShards: cfg.Video.NumBuckets, MaxBufferBytes: c.MaxBufferBytes,
			}
		default:
			fn.Tasks = append(fn.Tasks, vision.TaskSpec{Name: c.Name, Config: plan.TaskConfigs[c.Name], Dataset: c.Dataset})
		}
	}
	temps, bucketTemps, dead, videoOutcomes := beam.ParDo4(s, fn, refs)
	parts := []beam.PCollection{temps}
	if fn.Pairs {
		grouped := beam.ParDo(s, collectBucket, beam.GroupByKey(s, beam.ParDo(s, keyByPartition, bucketTemps)))
		pairs := &pairsFn{Seed: cfg.Seed, Audio: cfg.Audio, Video: cfg.Video, Image: cfg.Image,
			Config: plan.TaskConfigs[av.TaskCorrespond], Dataset: avDS}
		parts = append(parts, beam.ParDo(s, pairs, bucketJobs(s, grouped)))
	}
	deadTemps := sinks.WriteDeadLetters(s, deadDS, beam.Flatten(s, matchDead, dead))
	parts = append(parts, deadTemps)
	return sinks.Finalize(s, plan.Commits, beam.Flatten(s, parts...), beam.Flatten(s, outcomes, videoOutcomes))
}

// videoFn samples one video's frames, labels them for the image tasks and,
// for av_correspond, writes its frames and audio features to a bucket file.
type videoFn struct {
	Seed    int64
	Image   configs.Image
	Audio   configs.Audio
	Video   configs.Video
	Split   configs.Split
	Tasks   []vision.TaskSpec
	Pairs   bool
	Buckets sinks.Dataset

	runner   av.Runner
	mels     *sync.Pool // of *audio.Mel, one per worker computing at once
	labelers *vision.Labelers
	writers  []*sinks.Writer
	bucket   *sinks.Writer
	pool     *sinks.Pool[transforms.FileRef, *fetched]
	// tmp is the bundle's temporary folder: a subfolder per video between
	// its fetch and its labelling.
	tmp string
}

// Setup fails when ffmpeg is missing: on a runner, workers start where the
// pipeline runs, not where it was launched, so this is where the one clear
// error belongs (rather than a dead letter for every video).
func (f *videoFn) Setup() error {
	f.runner = av.Runner{Timeout: time.Duration(f.Video.TimeoutSeconds * float64(time.Second)), MaxSamples: f.Audio.MaxSamples}
	if err := f.runner.Check(); err != nil {
		return fmt.Errorf("video pipeline worker: %w", err)
	}
	l, err := vision.NewLabelers(f.Tasks)
	if err != nil {
		return err
	}
	f.labelers = l
	if f.Pairs {
		if f.mels, err = audio.NewMelPool(f.Audio.Mel); err != nil {
			return err
		}
	}
	return nil
}

func (f *videoFn) StartBundle(ctx context.Context, _, _ func(sinks.TempFile), _ func(sinks.DeadLetter), _ func(string)) error {
	f.writers = f.writers[:0]
	for _, ts := range f.Tasks {
		w, err := sinks.NewWriter(ctx, ts.Dataset)
		if err != nil {
			return err
		}
		f.writers = append(f.writers, w)
	}
	if f.Pairs {
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
	f.pool = sinks.NewPool(ctx, sinks.PoolSize(), f.fetch, func(ref transforms.FileRef, err error) *fetched {
		return &fetched{ref: ref, err: fmt.Errorf("video: %s: %w", ref.Key, err)}
	})
	return nil
}

// outcome is how one video ended when it did not give rows: a filter
// reason (stage "filter") or a dead letter.
type outcome struct{ stage, reason, detail string }

func (f *videoFn) ProcessElement(ctx context.Context, ref transforms.FileRef, _, _ func(sinks.TempFile), emitDead func(sinks.DeadLetter), emitOutcome func(string)) error {
	transforms.Live.Inputs.Add(1)
	return f.pool.Submit(ref, func(fe *fetched) error { return f.write(ctx, fe, emitDead, emitOutcome) })
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
	if err == nil && o == nil {
		err = f.labelSpool(ctx, fe)
	}
	if err != nil {
		return err
	}
	if o == nil {
		emitOutcome(sinks.OutcomeLabeled)
		return nil
	}
	transforms.EndInput(fe.ref, o.stage, o.reason, o.detail, emitDead, emitOutcome)
	return nil
}

// labelSpool reads a fetched video's spooled frames back and labels them.
func (f *videoFn) labelSpool(ctx context.Context, fe *fetched) error {
	spool, err := os.Open(filepath.Join(fe.dir, "frames"))
	if err != nil {
		return err
	}
	defer spool.Close()
	return f.label(ctx, fe.ref, fe.info, fe.track, fe.times, bufio.NewReaderSize(spool, 1<<20))
}

// mediaOutcome turns an av error into a dead letter, or returns it as a
// failure of the machine.
func mediaOutcome(err error) (*outcome, error) {
	var ae *av.Error
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
	case f.Pairs && info.Audio == nil:
		return &outcome{sinks.StageDecode, av.ReasonNoAudioStream, "no audio stream (av_correspond needs one)"}, nil
	case info.Duration > f.Video.MaxSeconds:
		return &outcome{sinks.StageDecode, av.ReasonTooLarge, fmt.Sprintf("%.1f s > video.max_seconds %g", info.Duration, f.Video.MaxSeconds)}, nil
	}
	if reason := vision.Filter(info.Video.Width, info.Video.Height, f.Image); reason != "" {
		return &outcome{transforms.StageFilter, reason, ""}, nil
	}
	fe.info = info
	if f.Pairs {
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

// audioTrack is a video's audio as av_correspond uses it.
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
// and, for av_correspond, the video's VideoDoc.
func (f *videoFn) label(ctx context.Context, ref transforms.FileRef, info *av.Info, track *audioTrack, times []float64, r io.Reader) error {
	split := vision.SplitOf(ref.Key, f.Split)
	enc := vision.Encoding{Format: f.Image.Encoding, PNGLevel: f.Image.PNGLevel, JPEGQuality: f.Image.JPEGQuality}
	doc := VideoDoc{Key: ref.Key, Source: ref.Source, Split: split}
	if track != nil {
		doc.Samples, doc.LogMel, doc.Bins, doc.Power = int64(track.samples), track.logMel, int32(f.Audio.Mel.NMels), track.power
	}
	n := 0
	for _, t := range times {
		img, err := readFrame(r)
		if err != nil {
			return fmt.Errorf("video: reading spooled frames: %w", err)
		}
		if info.Duration > 0 && t >= info.Duration {
			// A frame past the container's end (some muxers report a short
			// duration) would be a frame time outside its video.
			continue
		}
		// Every frame of a video shares the video's split, so no video
		// is in two splits.
		ex := &vision.Example{Key: ClipKey(ref.Key, t), Source: ref.Source, Split: split, Image: img, Encoding: enc}
		rows, err := f.labelers.Label(f.Seed, ex)
		if err != nil {
			// One odd frame is skipped and counted, not the whole video.
			for _, w := range f.writers {
				w.Count("frame_label_errors", 1)
			}
			continue
		}
		for _, p := range rows {
			if err := f.writers[p.Task].Add(ctx, ex.Key, p.Row, p.Size); err != nil {
				return err
			}
			for _, st := range p.Stats {
				f.writers[p.Task].Count(st, 1)
			}
		}
		n += len(rows)
		if f.Pairs {
			data, err := ex.Target()
			if err != nil {
				return fmt.Errorf("video: encoding frame: %w", err)
			}
			b := img.Bounds()
			doc.Frames = append(doc.Frames, VideoFrame{Time: t, Width: int32(b.Dx()), Height: int32(b.Dy()), Data: data})
		}
	}
	transforms.Live.Rows.Add(int64(n))
	if f.Pairs {
		return f.bucket.Add(ctx, doc.Key, doc, doc.RowBytes()+256)
	}
	return nil
}

func (f *videoFn) FinishBundle(ctx context.Context, emitTemp, emitBucket func(sinks.TempFile), emitDead func(sinks.DeadLetter), emitOutcome func(string)) error {
	if err := f.pool.Close(func(fe *fetched) error { return f.write(ctx, fe, emitDead, emitOutcome) }); err != nil {
		return err
	}
	if err := os.RemoveAll(f.tmp); err != nil {
		return err
	}
	f.tmp = ""
	for _, w := range f.writers {
		if err := w.Finish(ctx, emitTemp); err != nil {
			return err
		}
	}
	f.writers = f.writers[:0]
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
	if f.pool != nil {
		f.pool.Abort()
	}
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

// pairsFn reads one bucket of videos in key order, cuts it into groups and
// writes each frame's av_correspond row.
type pairsFn struct {
	Seed    int64
	Audio   configs.Audio
	Video   configs.Video
	Image   configs.Image
	Config  []byte
	Dataset sinks.Dataset

	cfg  av.CorrespondConfig
	grid av.Grid
	nf   int
}

func (f *pairsFn) Setup() error {
	f.cfg = av.DefaultCorrespond()
	if err := json.Unmarshal(f.Config, &f.cfg); err != nil {
		return fmt.Errorf("av_correspond config: %w", err)
	}
	m := f.Audio.Mel
	f.grid = av.NewGrid(m.SampleRate, m.Hop, f.cfg.WindowSeconds)
	mel, err := audio.NewMel(m)
	if err != nil {
		return err
	}
	f.nf = mel.Frames(f.grid.Window * m.Hop)
	return nil
}

func (f *pairsFn) ProcessElement(ctx context.Context, job BucketJob, emitTemp func(sinks.TempFile)) error {
	release, err := sinks.AcquireWork(ctx)
	if err != nil {
		return err
	}
	defer release()
	fs, err := filesystem.New(ctx, f.Dataset.Dir)
	if err != nil {
		return err
	}
	defer fs.Close()
	w, err := sinks.NewWriter(ctx, f.Dataset)
	if err != nil {
		return err
	}
	g := grouping[VideoDoc]{
		size: f.Video.GroupSize, maxBytes: int64(f.Video.GroupMB) << 20,
		bytes: func(d *VideoDoc) int64 { return int64(d.RowBytes()) },
		// A neighbour's videos give only their audio: frames are dropped on arrival.
		trim: func(d *VideoDoc) { d.Frames = nil },
	}
	// When the whole bucket is one video, its other_video negatives take
	// audio from the first group of the next non-empty bucket (extra).
	if err := eachGroup(ctx, fs, job, g, func(group, extra []VideoDoc) error {
		return f.group(ctx, w, group, extra)
	}); err != nil {
		return err
	}
	return w.Finish(ctx, emitTemp)
}

// group writes the rows of every frame of every video of g. The audio of
// other_video negatives comes from the other videos of g, or from extra
// when g holds one video.
func (f *pairsFn) group(ctx context.Context, w *sinks.Writer, g, extra []VideoDoc) error {
	for i := range g {
		var others []*VideoDoc
		for j := range g {
			if j != i {
				others = append(others, &g[j])
			}
		}
		for j := range extra {
			others = append(others, &extra[j])
		}
		if err := f.video(ctx, w, &g[i], others); err != nil {
			return err
		}
	}
	return nil
}

func (f *pairsFn) video(ctx context.Context, w *sinks.Writer, d *VideoDoc, others []*VideoDoc) error {
	lens := make([]int, len(others))
	for i, o := range others {
		lens[i] = int(o.Samples)
	}
	m := f.Audio.Mel
	rows := 0
	for _, fr := range d.Frames {
		key := ClipKey(d.Key, fr.Time)
		rng := seeding.New(f.Seed, av.TaskCorrespond, key, 0)
		p, ok := av.Choose(f.cfg, f.grid, fr.Time, int(d.Samples), lens, rng)
		if !ok {
			w.Count("frames_without_pair", 1)
			continue
		}
		src := d
		if p.Other >= 0 {
			src = others[p.Other]
		}
		bins := int(src.Bins)
		logMel := src.LogMel[p.Start*bins : (p.Start+f.nf)*bins]
		var power float64
		for _, v := range src.Power[p.Start : p.Start+f.grid.Window] {
			power += float64(v)
		}
		db := -120.0
		if power > 0 {
			db = max(-120, 10*math.Log10(power/float64(f.grid.Window)))
		}
		row := sinks.AVRow{
			Key: key, Video: d.Key, AudioVideo: src.Key, Source: d.Source, Split: d.Split,
			Width: fr.Width, Height: fr.Height, Encoding: f.Image.Encoding, Frame: fr.Data,
			FrameTimeS: fr.Time, AudioStartS: float64(p.Start*m.Hop) / float64(m.SampleRate), AudioSeconds: f.grid.Seconds(),
			SampleRate: int32(m.SampleRate), LogMel: logMel, MelBins: int32(bins), MelFrames: int32(f.nf),
			Label: int32(p.Label), NegativeKind: p.Kind, Silent: db < f.Audio.SilenceDBFS, AudioDBFS: float32(db),
		}
		if err := w.Add(ctx, row.Key, row, row.RowBytes()+256); err != nil {
			return err
		}
		rows++
		w.Count("pairs", 1)
		if p.Label == 1 {
			w.Count("positives", 1)
		} else {
			w.Count("negatives."+p.Kind, 1)
		}
		if row.Silent {
			w.Count("silent", 1)
			if p.Label == 1 {
				w.Count("silent_positives", 1)
			}
		}
		if p.Fallback != "" {
			w.Count("fallback."+p.Fallback, 1)
		}
	}
	transforms.Live.Rows.Add(int64(rows))
	return nil
}
