package inspect

import (
	"context"
	"sort"
	"strings"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
	"github.com/pretext-dev/pretext/transforms/audio"
	"github.com/pretext-dev/pretext/transforms/av"
	"github.com/pretext-dev/pretext/transforms/text"
	"github.com/pretext-dev/pretext/transforms/vision"
)

// measureTask runs the statistics and gates of a task, chosen by the type of
// its config (the registry's NewConfig).
func measureTask(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg transforms.Config) error {
	switch c := cfg.(type) {
	case *vision.ColorizeConfig:
		return colorize(ctx, in, d, m, src, *c)
	case *vision.DenoiseConfig:
		return denoise(ctx, in, d, m, src, *c)
	case *vision.InpaintConfig:
		return inpaint(ctx, in, d, m, src, *c)
	case *text.InstanceConfig:
		return mlm(ctx, in, d, m, src, *c)
	case *av.CorrespondConfig:
		return correspond(ctx, in, d, m, src, *c)
	case *audio.MaskTaskConfig:
		return audioMask(ctx, in, d, m, src, c.MaskConfig)
	}
	d.note("the inspector has no statistics for task %s: only integrity is checked", m.Task)
	return nil
}

// maxReasons bounds the stage/reason table; further reasons are "other".
const maxReasons = 1024

// deadLetters counts the dead letters by stage and reason, with up to three
// example keys each, and checks them against the manifest's reasons.
func deadLetters(ctx context.Context, d *Dataset, m *sinks.Manifest, src *source) error {
	type reason struct {
		n    int64
		keys []string
	}
	reasons := map[string]*reason{}
	var rows int64
	err := scan(ctx, src, 256, func(batch []sinks.DeadLetter) {
		for _, r := range batch {
			rows++
			k := r.Stage + "/" + r.Reason
			re := reasons[k]
			if re == nil {
				if len(reasons) >= maxReasons {
					k = "other"
					if re = reasons[k]; re == nil {
						re = &reason{}
						reasons[k] = re
					}
				} else {
					re = &reason{}
					reasons[k] = re
				}
			}
			re.n++
			if len(re.keys) < 3 {
				re.keys = append(re.keys, r.Key)
			}
		}
	})
	if err != nil {
		return err
	}
	names := sortedKeys(reasons)
	sort.SliceStable(names, func(i, j int) bool { return reasons[names[i]].n > reasons[names[j]].n })
	h := Histogram{Title: "dead letters by stage/reason"}
	for _, k := range names {
		re := reasons[k]
		d.fact(k, "%d (e.g. %s)", re.n, strings.Join(re.keys, ", "))
		d.metric("dead/"+k, float64(re.n))
		h.Labels = append(h.Labels, k)
		h.Counts = append(h.Counts, re.n)
	}
	if len(names) == 0 {
		d.fact("dead letters", "none")
	}
	d.hist(h)
	if src.complete(m) {
		var bad examples
		seen := map[string]bool{}
		for _, k := range names {
			seen[k] = true
			if m.DeadLetterReasons[k] != reasons[k].n {
				bad.add("%s: manifest %d, rows %d", k, m.DeadLetterReasons[k], reasons[k].n)
			}
		}
		for _, k := range sortedKeys(m.DeadLetterReasons) {
			if !seen[k] && m.DeadLetterReasons[k] != 0 {
				bad.add("%s: manifest %d, rows 0", k, m.DeadLetterReasons[k])
			}
		}
		if rows != m.DeadLetters {
			bad.add("manifest %d dead letters, %d rows", m.DeadLetters, rows)
		}
		d.gate(zeroGate("dead letters match the manifest", bad.n, int64(len(names)), "a row per dead letter, counted by stage/reason as the manifest says", bad.list))
	}
	return nil
}
