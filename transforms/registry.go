package transforms

import (
	"fmt"
	"reflect"
	"sort"
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
	// Info, when set, gives the numbers the task's manifest carries in
	// "info" for its readers (colorize: the number of ab bins).
	Info func(Config) map[string]int64
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
