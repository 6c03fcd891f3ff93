package transforms

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/pretext-dev/pretext/sinks"
)

// Config is a task's typed configuration. Validate reports every bad field,
// each message prefixed with path (the field's location in the YAML file).
type Config interface {
	Validate(path string) error
}

// Task describes one pretext task.
type Task struct {
	// Name is the task's name in configs and the folder of its output, e.g. "denoise".
	Name string
	// Modality is "image", "text", "audio" or "av".
	Modality string
	// Doc is a one-line description shown by `pretext tasks`.
	Doc string
	// NewConfig returns the task's config with its defaults filled in.
	NewConfig func() Config
	// Format is the task's row type as the sinks write it.
	Format sinks.Format
	// Impl is the modality-specific implementation (for images a vision.Labeler).
	Impl any
	// Info, when set, gives the values the task's manifest carries in
	// "info" for its readers, each marshalled to JSON (colorize: the number
	// of ab bins; jigsaw: its permutation set).
	Info func(Config) map[string]any
	// Rates, when set, are the shares the task's manifest derives from its
	// label statistics (mlm_nsp: the effective mask rate, masked / tokens).
	Rates []sinks.Rate
}

var (
	mu    sync.RWMutex
	tasks = map[string]Task{}
)

// Register adds a task. It panics on a duplicate or incomplete registration,
// which is a programming error caught by any test that imports the task.
func Register(t Task) {
	mu.Lock()
	defer mu.Unlock()
	if t.Name == "" || t.Modality == "" || t.NewConfig == nil || t.Format == nil || t.Impl == nil {
		panic(fmt.Sprintf("transforms: incomplete registration of task %q", t.Name))
	}
	if _, dup := tasks[t.Name]; dup {
		panic(fmt.Sprintf("transforms: task %q registered twice", t.Name))
	}
	tasks[t.Name] = t
}

// Lookup returns the task registered under name.
func Lookup(name string) (Task, bool) {
	mu.RLock()
	defer mu.RUnlock()
	t, ok := tasks[name]
	return t, ok
}

// All returns every registered task, sorted by modality then name.
func All() []Task {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]Task, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Modality != out[j].Modality {
			return out[i].Modality < out[j].Modality
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Names returns the names of every registered task of the given modality
// (every task when modality is empty), sorted.
func Names(modality string) []string {
	var names []string
	for _, t := range All() {
		if modality == "" || t.Modality == modality {
			names = append(names, t.Name)
		}
	}
	sort.Strings(names)
	return names
}

func reflectTypeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

// Spec is one task of a run as a DoFn carries it (plain values only): its
// name, its config as JSON and the dataset its rows go to.
type Spec struct {
	Name    string
	Config  json.RawMessage
	Dataset sinks.Dataset
}

// Resolve looks up the task called name, checks that its Impl is an L — the
// labeler interface of the stage that runs it, kind naming that stage's
// tasks ("image", "text", "audio", "video-group") — and decodes config
// into a fresh config of the task. Every modality's labelers are made
// through it, so a task configured where it cannot run fails alike
// everywhere, naming the task, its modality and what its Impl is.
func Resolve[L any](name string, config []byte, kind string) (L, Config, error) {
	var none L
	t, ok := Lookup(name)
	if !ok {
		return none, nil, fmt.Errorf("task %q is not registered in this binary", name)
	}
	lab, ok := t.Impl.(L)
	if !ok {
		article := "a"
		if strings.ContainsRune("aeiou", rune(kind[0])) {
			article = "an"
		}
		return none, nil, fmt.Errorf("task %q (modality %s) is not %s %s task: its Impl %T is no %s", name, t.Modality, article, kind, t.Impl, reflectTypeOf[L]())
	}
	cfg := t.NewConfig()
	if err := json.Unmarshal(config, cfg); err != nil {
		return none, nil, fmt.Errorf("config of task %q: %w", name, err)
	}
	return lab, cfg, nil
}
