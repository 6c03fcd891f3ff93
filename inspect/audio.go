package inspect

import (
	"context"
	"fmt"

	"github.com/pretext-dev/pretext/inspect/render"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms/audio"
)

func init() { registerTask(audio.TaskMask, audioMask) }

// audioMask measures audio_mask rows: the time and frequency mask shares
// (inside their ranges, and what the mask column holds), the input equal to
// the target outside the mask and to the fill inside it, shapes and silence.
func audioMask(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg audio.MaskTaskConfig) error {
	var (
		rows, silent, cells, maskedCells int64
		timeHist, freqHist               = make([]int64, 10), make([]int64, 10)
		outside, disagree, values, shape examples
	)
	sample := newSampler(in.opts.Sample, func(r sinks.AudioMaskRow) sinks.AudioMaskRow {
		r.Input, r.Target, r.Mask = append([]float32(nil), r.Input...), append([]float32(nil), r.Target...), cloneBytes(r.Mask)
		return r
	})
	err := scan(ctx, src, 8, func(batch []sinks.AudioMaskRow) {
		for _, r := range batch {
			rows++
			if r.Silent {
				silent++
			}
			sample.offer(keyHash(r.Key, 0), r)
			nf, nb := int(r.MelFrames), int(r.MelBins)
			n := nf * nb
			if nf <= 0 || nb <= 0 || len(r.Input) != n || len(r.Target) != n || len(r.Mask) != n {
				shape.add("%s: %d×%d with input %d, target %d, mask %d", r.Key, nf, nb, len(r.Input), len(r.Target), len(r.Mask))
				continue
			}
			cells += int64(n)
			timeHist[decile(r.TimeMaskShare)]++
			freqHist[decile(r.FreqMaskShare)]++
			tlo, thi := wholeRange(cfg.TimeRatio, nf)
			flo, fhi := wholeRange(cfg.FreqRatio, nb)
			if !within(float64(r.TimeMaskShare), tlo, thi) || !within(float64(r.FreqMaskShare), flo, fhi) {
				outside.add("%s: time %.4f, freq %.4f", r.Key, r.TimeMaskShare, r.FreqMaskShare)
			}
			// A frame is masked when all its cells are; a band when all its
			// cells are, unless every frame is masked.
			var fullFrames, fullBands int
			for f := 0; f < nf; f++ {
				all := true
				for b := 0; b < nb && all; b++ {
					all = r.Mask[f*nb+b] == 1
				}
				if all {
					fullFrames++
				}
			}
			for b := 0; b < nb; b++ {
				all := true
				for f := 0; f < nf && all; f++ {
					all = r.Mask[f*nb+b] == 1
				}
				if all {
					fullBands++
				}
			}
			ts, fs := float64(fullFrames)/float64(nf), float64(fullBands)/float64(nb)
			if !within(ts, float64(r.TimeMaskShare), float64(r.TimeMaskShare)) || (fullFrames < nf && !within(fs, float64(r.FreqMaskShare), float64(r.FreqMaskShare))) {
				disagree.add("%s: mask has %.4f of frames and %.4f of bands, the row says %.4f and %.4f", r.Key, ts, fs, r.TimeMaskShare, r.FreqMaskShare)
			}
			bad := ""
			for i := range n {
				switch r.Mask[i] {
				case 1:
					maskedCells++
					if r.Input[i] != r.Fill && bad == "" {
						bad = fmt.Sprintf("masked cell %d is %g, fill %g", i, r.Input[i], r.Fill)
					}
				case 0:
					if r.Input[i] != r.Target[i] && bad == "" {
						bad = fmt.Sprintf("unmasked cell %d is %g, target %g", i, r.Input[i], r.Target[i])
					}
				default:
					if bad == "" {
						bad = fmt.Sprintf("mask cell %d is %d", i, r.Mask[i])
					}
				}
			}
			if bad != "" {
				values.add("%s: %s", r.Key, bad)
			}
		}
	})
	if err != nil {
		return err
	}
	d.fact("clips", "%d, %d cells, %.4f masked", rows, cells, share(maskedCells, cells))
	d.fact("silent clips", "%.4f (%d of %d)", share(silent, rows), silent, rows)
	d.metric("masked_cell_share", share(maskedCells, cells))
	d.metric("silent_share", share(silent, rows))
	d.hist(Histogram{Title: "time mask share (clips)", Labels: shareLabels, Counts: timeHist})
	d.hist(Histogram{Title: "frequency mask share (clips)", Labels: shareLabels, Counts: freqHist})
	d.gate(zeroGate("mask shares in range", outside.n, rows, fmt.Sprintf("time in time_ratio [%g, %g], frequency in freq_ratio [%g, %g] (whole frames and bands)", cfg.TimeRatio[0], cfg.TimeRatio[1], cfg.FreqRatio[0], cfg.FreqRatio[1]), outside.list))
	d.gate(zeroGate("mask matches its shares", disagree.n, rows, "the share of whole frames and bands masked is the row's time_mask_share and freq_mask_share", disagree.list))
	d.gate(zeroGate("input = target outside the mask", values.n, rows, "unmasked cells equal the target, masked cells the fill", values.list))
	d.gate(zeroGate("spectrogram shape", shape.n, rows, "input, target and mask hold mel_frames × mel_bins values", shape.list))
	if th := in.opts.Thresholds; th != nil && th.MaxSilentShare != nil {
		d.gate(maxGate("silent share", share(silent, rows), *th.MaxSilentShare, fmt.Sprintf("%.4f (%d of %d)", share(silent, rows), silent, rows)))
	}
	statsGate(d, m, map[string]int64{"clips": rows, "cells": cells, "masked_cells": maskedCells, "silent": silent}, src.complete(m) && shape.n == 0)
	for _, r := range sample.rows() {
		d.SampleKeys = append(d.SampleKeys, r.Key)
		lo, hi := valueRange(r.Target)
		nf, nb := int(r.MelFrames), int(r.MelBins)
		caption := fmt.Sprintf("%s | time %.0f%%, freq %.0f%%", r.Key, 100*r.TimeMaskShare, 100*r.FreqMaskShare)
		if r.Silent {
			caption += " | silent"
		}
		d.sheet = append(d.sheet, render.SheetRow{Caption: caption, Panels: []render.Panel{
			{Label: "input", Image: render.Spectrogram(r.Input, nf, nb, lo, hi)},
			{Label: "mask", Image: render.GridMask(r.Mask, nf, nb)},
			{Label: "target", Image: render.Spectrogram(r.Target, nf, nb, lo, hi)},
		}})
	}
	return nil
}

// valueRange is the smallest and largest value of x, so that a row's input
// and target share one colour scale.
func valueRange(x []float32) (lo, hi float32) {
	for i, v := range x {
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}
