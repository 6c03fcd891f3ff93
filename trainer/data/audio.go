package data

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/audio"
	"github.com/pretext-dev/pretext/transforms/av"
)

// AudioBatch is a batch of masked spectrogram modelling (audio_mask).
// Values are log-mel as the pipeline stores them (log(mel + 0.01)), not
// normalised. A clip shorter than Frames (the last clip of a file) is padded
// with zeros, with Mask 0 there, so a loss over the masked cells ignores it.
type AudioBatch struct {
	// Keys are the clips' keys (file@start seconds).
	Keys []string
	// Frames and Bins are the padded spectrograms' shape.
	Frames, Bins int
	// Lengths is [Len]: each clip's frames before padding.
	Lengths []int32
	// Input is [Len, Frames, Bins]: the log-mel with masked spans filled.
	Input []float32
	// Target is [Len, Frames, Bins]: the log-mel.
	Target []float32
	// Mask is [Len, Frames, Bins]: 1 where Input is masked, 0 elsewhere.
	Mask []float32
	// Silent flags clips under the pipeline's silence level.
	Silent []bool
}

// Len is the number of rows.
func (b *AudioBatch) Len() int { return len(b.Keys) }

// RowKeys are the rows' keys.
func (b *AudioBatch) RowKeys() []string { return b.Keys }

// The audio tasks' readers: masked spectrograms padded to a whole clip, and
// audio-visual pairs.
func init() {
	Register(audio.TaskMask, Rows[sinks.AudioMaskRow]{
		Key:     func(r *sinks.AudioMaskRow) string { return r.Key },
		Split:   func(r *sinks.AudioMaskRow) string { return r.Split },
		Batcher: audioBatcher,
	})
	Register(av.TaskCorrespond, Rows[sinks.AVRow]{
		Key:   func(r *sinks.AVRow) string { return r.Key },
		Split: func(r *sinks.AVRow) string { return r.Split },
		Batcher: func(_ Info, opts Options) (Batcher[sinks.AVRow], error) {
			return func(rows []sinks.AVRow, _ int) (Batch, error) { return buildAV(rows, opts.Workers) }, nil
		},
	})
}

func audioBatcher(d Info, opts Options) (Batcher[sinks.AudioMaskRow], error) {
	frames := opts.AudioFrames
	if frames == 0 {
		// The clips' length and the mel frames': the manifest's audio section.
		var a audio.Options
		if err := d.DecodeSection(func(lc sinks.LabelConfig) json.RawMessage { return lc.Audio }, &a); err != nil {
			return nil, err
		}
		clip := int(math.Round(a.ClipSeconds * float64(a.Mel.SampleRate)))
		if clip <= 0 || a.Mel.WinLength <= 0 || a.Mel.Hop <= 0 {
			return nil, fmt.Errorf("data: %s: the manifest does not give the clips' length (audio.clip_seconds, audio.mel): set Options.AudioFrames", d.Dir)
		}
		// audio.Mel.Frames of a whole clip.
		frames = 1
		if clip >= a.Mel.WinLength {
			frames = 1 + (clip-a.Mel.WinLength)/a.Mel.Hop
		}
	}
	return func(rows []sinks.AudioMaskRow, _ int) (Batch, error) { return buildAudio(rows, frames) }, nil
}

func buildAudio(rows []sinks.AudioMaskRow, frames int) (Batch, error) {
	n := len(rows)
	b := &AudioBatch{Keys: make([]string, n), Lengths: make([]int32, n), Silent: make([]bool, n), Frames: frames}
	if n == 0 {
		return b, nil
	}
	b.Bins = int(rows[0].MelBins)
	cells := b.Frames * b.Bins
	b.Input, b.Target, b.Mask = make([]float32, n*cells), make([]float32, n*cells), make([]float32, n*cells)
	for i := range rows {
		r := &rows[i]
		have := int(r.MelFrames) * int(r.MelBins)
		switch {
		case int(r.MelBins) != b.Bins:
			return nil, &RowError{i, fmt.Errorf("%d mel bins in a batch of %d", r.MelBins, b.Bins)}
		case int(r.MelFrames) > b.Frames:
			return nil, &RowError{i, fmt.Errorf("%d frames, more than the %d of a whole clip (Options.AudioFrames)", r.MelFrames, b.Frames)}
		case len(r.Input) != have || len(r.Target) != have || len(r.Mask) != have:
			return nil, &RowError{i, fmt.Errorf("input, target and mask of %d, %d and %d values for %d×%d", len(r.Input), len(r.Target), len(r.Mask), r.MelFrames, r.MelBins)}
		}
		b.Keys[i], b.Lengths[i], b.Silent[i] = r.Key, r.MelFrames, r.Silent
		copy(b.Input[i*cells:], r.Input)
		copy(b.Target[i*cells:], r.Target)
		m := b.Mask[i*cells : i*cells+have]
		for j, v := range r.Mask {
			if v != 0 {
				m[j] = 1
			}
		}
	}
	return b, nil
}

// AVBatch is a batch of audio-visual correspondence (av_correspond): a
// frame, a log-mel window and whether the audio is the frame's own.
type AVBatch struct {
	// Keys are the frames' keys (video@time seconds).
	Keys []string
	// Width, Height, Channels are the frames' shape (3 channels).
	Width, Height, Channels int
	// Frame is [Len, Height, Width, Channels] in [0,1].
	Frame []float32
	// MelFrames and MelBins are the log-mel windows' shape.
	MelFrames, MelBins int
	// LogMel is [Len, MelFrames, MelBins], log(mel + 0.01) as stored.
	LogMel []float32
	// Label is [Len]: 1 when the audio is the frame's own, 0 for a negative.
	Label []int32
	// NegativeKind is "other_video" or "time_shift" for a negative, "" for
	// a positive.
	NegativeKind []string
}

// Len is the number of rows.
func (b *AVBatch) Len() int { return len(b.Keys) }

// RowKeys are the rows' keys.
func (b *AVBatch) RowKeys() []string { return b.Keys }

func buildAV(rows []sinks.AVRow, workers int) (Batch, error) {
	n := len(rows)
	b := &AVBatch{Keys: make([]string, n), Label: make([]int32, n), NegativeKind: make([]string, n), Channels: 3}
	if n == 0 {
		return b, nil
	}
	b.Width, b.Height = int(rows[0].Width), int(rows[0].Height)
	b.MelFrames, b.MelBins = int(rows[0].MelFrames), int(rows[0].MelBins)
	cells, px := b.MelFrames*b.MelBins, b.Width*b.Height*b.Channels
	b.Frame, b.LogMel = make([]float32, n*px), make([]float32, n*cells)
	for i := range rows {
		r := &rows[i]
		switch {
		case int(r.Width) != b.Width || int(r.Height) != b.Height:
			return nil, &RowError{i, fmt.Errorf("a %d×%d frame in a batch of %d×%d frames", r.Width, r.Height, b.Width, b.Height)}
		case int(r.MelFrames) != b.MelFrames || int(r.MelBins) != b.MelBins:
			return nil, &RowError{i, fmt.Errorf("a %d×%d log-mel in a batch of %d×%d", r.MelFrames, r.MelBins, b.MelFrames, b.MelBins)}
		case len(r.LogMel) != cells:
			return nil, &RowError{i, fmt.Errorf("%d log-mel values for %d×%d", len(r.LogMel), r.MelFrames, r.MelBins)}
		}
		b.Keys[i], b.Label[i], b.NegativeKind[i] = r.Key, r.Label, r.NegativeKind
		copy(b.LogMel[i*cells:], r.LogMel)
	}
	err := parallel(n, workers, func(i int) error {
		r := &rows[i]
		if err := decodeInto(b.Frame[i*px:(i+1)*px], r.Frame, r.Encoding, b.Width, b.Height, b.Channels); err != nil {
			return &RowError{i, fmt.Errorf("frame: %w", err)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}
