package inspect

import (
	"context"
	"fmt"

	"github.com/pretext-dev/pretext/inspect/render"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/av"
)

func init() { registerTask(av.TaskCorrespond, correspond) }

// avOffsetBuckets are the 1 s buckets of the time-shift offset histogram.
const avOffsetBuckets = 12

// correspond measures av_correspond rows: the positive share, the kinds of
// negatives, the distance of time-shift negatives from their frame, silent
// windows and the shape of the spectrograms.
func correspond(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg av.CorrespondConfig) error {
	img := newImageRows()
	var (
		rows, positives, silent, silentPos int64
		kinds                              = map[string]int64{}
		offsets                            = make([]int64, avOffsetBuckets)
		tooClose, wrongAudio, shape        examples
		bins, frames                       int32 = -1, -1
	)
	sample := newSampler(in.opts.Sample, func(r sinks.AVRow) sinks.AVRow {
		r.Frame, r.LogMel = cloneBytes(r.Frame), append([]float32(nil), r.LogMel...)
		return r
	})
	err := scan(ctx, src, imageBatch, func(batch []sinks.AVRow) {
		for _, r := range batch {
			rows++
			img.add(r.Key, 0, r.Width, r.Height, r.Encoding, r.Frame)
			sample.offer(keyHash(r.Key, 0), r)
			if r.Silent {
				silent++
				if r.Label == 1 {
					silentPos++
				}
			}
			if bins < 0 {
				bins, frames = r.MelBins, r.MelFrames
			}
			switch {
			case int64(len(r.LogMel)) != int64(r.MelBins)*int64(r.MelFrames):
				shape.add("%s: %d values for %d×%d", r.Key, len(r.LogMel), r.MelFrames, r.MelBins)
			case r.MelBins != bins || r.MelFrames != frames:
				shape.add("%s: %d×%d, first row %d×%d", r.Key, r.MelFrames, r.MelBins, frames, bins)
			}
			switch {
			case r.Label == 1 && r.NegativeKind == "":
				positives++
				if r.AudioVideo != r.Video {
					wrongAudio.add("%s: positive with the audio of %s", r.Key, r.AudioVideo)
				}
			case r.Label == 0 && r.NegativeKind == av.KindOtherVideo:
				kinds[r.NegativeKind]++
				if r.AudioVideo == r.Video {
					wrongAudio.add("%s: other_video negative with its own audio", r.Key)
				}
			case r.Label == 0 && r.NegativeKind == av.KindTimeShift:
				kinds[r.NegativeKind]++
				if r.AudioVideo != r.Video {
					wrongAudio.add("%s: time_shift negative with the audio of %s", r.Key, r.AudioVideo)
				}
				dist := av.ShiftDistance(r.FrameTimeS, r.AudioStartS, r.AudioSeconds)
				offsets[min(max(int(dist), 0), avOffsetBuckets-1)]++
				if dist < cfg.MinOffsetSeconds-1e-6 {
					tooClose.add("%s: window %.3f s from the frame", r.Key, dist)
				}
			default:
				wrongAudio.add("%s: label %d with negative_kind %q", r.Key, r.Label, r.NegativeKind)
			}
		}
	})
	if err != nil {
		return err
	}
	img.report(d, in.opts.Thresholds)
	negatives := rows - positives
	d.fact("positives", "%.4f (%d of %d)", share(positives, rows), positives, rows)
	d.fact("negatives", "other_video %.3f, time_shift %.3f of %d", share(kinds[av.KindOtherVideo], negatives), share(kinds[av.KindTimeShift], negatives), negatives)
	d.fact("silent windows", "%.4f (%d of %d rows; %d positives)", share(silent, rows), silent, rows, silentPos)
	d.fact("spectrogram", "%d frames × %d mel bins", frames, bins)
	d.metric("positive_share", share(positives, rows))
	d.metric("other_video_share", share(kinds[av.KindOtherVideo], negatives))
	d.metric("time_shift_share", share(kinds[av.KindTimeShift], negatives))
	d.metric("silent_share", share(silent, rows))
	d.gate(shareGate("positive share", positives, rows, cfg.PositiveShare, 0, "positive_share"))

	// A frame whose drawn kind is impossible (a clip too short to shift the
	// window min_offset_s away, no other video) takes the other kind; the
	// manifest counts those fallbacks. Undoing them gives the kinds as
	// drawn, which follow negatives.* exactly.
	fromShift := m.Stats["fallback.time_shift_impossible"]
	fromOther := m.Stats["fallback.other_video_impossible"]
	drawnOther := kinds[av.KindOtherVideo] - fromShift + fromOther
	if fromShift+fromOther > 0 {
		d.fact("fallbacks", "%d time_shift → other_video, %d other_video → time_shift (from the manifest)", fromShift, fromOther)
	}
	if n := m.Stats["frames_without_pair"]; n > 0 {
		d.note("%d frames have no row (no window of either label possible): the positive share is over the frames that have one", n)
	}
	d.gate(shareGate("other_video share of negatives (as drawn)", drawnOther, negatives, cfg.Negatives.OtherVideo, 0, "negatives.other_video, after undoing the fallbacks the manifest counts"))
	d.gate(zeroGate("time_shift offset", tooClose.n, kinds[av.KindTimeShift], fmt.Sprintf("every time_shift window at least min_offset_s %g s from its frame", cfg.MinOffsetSeconds), tooClose.list))
	d.gate(zeroGate("audio source", wrongAudio.n, rows, "positives and time_shift take their own video's audio, other_video another video's", wrongAudio.list))
	d.gate(zeroGate("spectrogram shape", shape.n, rows, "len(log_mel) = mel_frames × mel_bins, the same for every row", shape.list))
	if th := in.opts.Thresholds; th != nil && th.MaxSilentShare != nil {
		d.gate(maxGate("silent share", share(silent, rows), *th.MaxSilentShare, fmt.Sprintf("%.4f (%d of %d)", share(silent, rows), silent, rows)))
	}
	labels := make([]string, avOffsetBuckets)
	for i := range labels {
		labels[i] = fmt.Sprintf("%d–%d s", i, i+1)
	}
	labels[avOffsetBuckets-1] = fmt.Sprintf("≥%d s", avOffsetBuckets-1)
	d.hist(Histogram{Title: "time_shift negatives: window distance from the frame", Labels: labels, Counts: offsets})
	d.hist(Histogram{Title: "rows by label", Labels: []string{"positive", av.KindOtherVideo, av.KindTimeShift}, Counts: []int64{positives, kinds[av.KindOtherVideo], kinds[av.KindTimeShift]}})
	statsGate(d, m, map[string]int64{
		"pairs": rows, "positives": positives, "silent": silent, "silent_positives": silentPos,
		"negatives." + av.KindOtherVideo: kinds[av.KindOtherVideo], "negatives." + av.KindTimeShift: kinds[av.KindTimeShift],
	}, src.complete(m), "negatives.")
	for _, r := range sample.rows() {
		d.SampleKeys = append(d.SampleKeys, r.Key)
		caption := fmt.Sprintf("%s | positive", r.Key)
		if r.Label == 0 {
			caption = fmt.Sprintf("%s | %s: audio of %s at %.2f s", r.Key, r.NegativeKind, r.AudioVideo, r.AudioStartS)
			if r.NegativeKind == av.KindTimeShift {
				caption += fmt.Sprintf(" (%.2f s away)", av.ShiftDistance(r.FrameTimeS, r.AudioStartS, r.AudioSeconds))
			}
		}
		if r.Silent {
			caption += " | silent"
		}
		d.sheet = append(d.sheet, render.SheetRow{Caption: caption, Panels: []render.Panel{
			{Label: fmt.Sprintf("frame %.2f s", r.FrameTimeS), Image: picture(r.Frame, r.Encoding, r.Width, r.Height)},
			{Label: "log-mel", Image: render.Spectrogram(r.LogMel, int(r.MelFrames), int(r.MelBins), 0, 0)},
		}})
	}
	return nil
}
