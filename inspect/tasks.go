package inspect

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// A task's statistics and gates plug into the inspector through a registry
// keyed by the task's name, as the task itself plugs into transforms'
// registry: the inspect file that measures a task registers its measure
// function from its own init, keyed by the name constant its modality
// package exports, for example
//
//	func init() { registerTask(vision.TaskColorize, colorize) }
//
// beside colorize in image.go. Run, the scan, the sampler, the gates and the
// report know no task: they reach a task's measure through measureTask only.
// So a new task (rotation, say) adds its statistics and gates in ONE new file
// under inspect/ — its measure function and the init that registers it —
// and no other inspect file changes. A task without one is still verified
// for integrity, with a note that its labels are not measured.
var measures = map[string]measureFunc{}

// measureFunc measures one dataset of a task against cfg, the task's config
// as its transforms.Task.NewConfig makes it (a pointer to the config struct).
type measureFunc func(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg transforms.Config) error

// registerTask registers the statistics and gates of the task called name;
// call it from an init. measure takes the task's config by value (C): the
// task's NewConfig returns a *C, which registerTask checks against the task
// registry when it registers, so a name keyed to the wrong task or to a task
// this binary does not know fails at start-up, not in a run. A name
// registered twice panics as well.
func registerTask[C any, P interface {
	*C
	transforms.Config
}](name string, measure func(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg C) error) {
	t, ok := transforms.Lookup(name)
	if !ok {
		panic(fmt.Sprintf("inspect: statistics registered for task %s, which is not a registered task", name))
	}
	if c := t.NewConfig(); !isA[P](c) {
		panic(fmt.Sprintf("inspect: statistics of task %s measure a %T, the task's config is a %T", name, P(nil), c))
	}
	if _, dup := measures[name]; dup {
		panic(fmt.Sprintf("inspect: statistics of task %s registered twice", name))
	}
	measures[name] = func(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg transforms.Config) error {
		c, ok := cfg.(P)
		if !ok || c == nil {
			return fmt.Errorf("inspect: task %s: config is a %T, its statistics measure a %T", name, cfg, P(nil))
		}
		return measure(ctx, in, d, m, src, *c)
	}
}

func isA[P transforms.Config](c transforms.Config) bool {
	_, ok := c.(P)
	return ok
}

// measureTask runs the statistics and gates registered for the dataset's
// task (registerTask); a task without them gets a note and its integrity
// check only.
func measureTask(ctx context.Context, in *inspector, d *Dataset, m *sinks.Manifest, src *source, cfg transforms.Config) error {
	measure, ok := measures[m.Task]
	if !ok {
		d.note("the inspector has no statistics for task %s: only integrity is checked", m.Task)
		return nil
	}
	return measure(ctx, in, d, m, src, cfg)
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
