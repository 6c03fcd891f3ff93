package train

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/transforms/text"
)

// Model is one of the trainer's networks, each configured by a section of
// its own in the config. A task names the one it trains; a run trains one,
// on datasets of the tasks that train it.
type Model int

const (
	// ConvModel is the convolutional encoder (model:) with a head per task
	// on its features (a ConvHead): the image tasks, any number of them in
	// one run, share the encoder.
	ConvModel Model = iota
	// BERTModel is the text model (bert:).
	BERTModel
	// AVModel is the audio-visual two-tower network (av:).
	AVModel
)

// sections says, for errors, how each Model is configured.
var sections = [...]struct {
	key   string // its section of the config
	name  string
	needs string // what a config must have for it
}{
	ConvModel: {"model", "the image encoder–decoder", "a model: section (channels, in_channels, size; see configs/train-mnist.yaml)"},
	BERTModel: {"bert", "the text model", "a bert: section (layers, width, heads; see configs/train-bert.yaml)"},
	AVModel:   {"av", "the two-tower model", "an av: section (frame, audio_channels, hidden; see configs/train-av.yaml)"},
}

// Task is the trainer's side of one pretext task: which network it trains,
// what its dataset entries (data[i]) may say, and how a batch of its loader
// becomes the network's tensors. A task registers it once, with Register,
// from its own file of this package (the image tasks in image.go, mlm_nsp in
// text.go, av_correspond in av.go), beside its reader's data.Register; the
// package doc shows a new task's file.
type Task struct {
	// Name is the task's name as transforms registers it and its manifests
	// carry it (vision.TaskDenoise, text.TaskMLMNSP, …).
	Name string
	// Model is the network the task trains.
	Model Model
	// Targets are the values data[i].target takes for the task, the first
	// being the one an empty target means; nil when the task has no choice
	// of target.
	Targets []string
	// Regions are the values data[i].region takes for the task besides all
	// (hole: the loss on the batch's hole mask only).
	Regions []string
	// Vocab says the task's entries name the WordPiece vocabulary the
	// shards were written with (data[i].vocab): the run loads it, checks it
	// against the manifest's vocab_sha256, and hands it to the loader and
	// to Tensors.
	Vocab bool
	// Params are the numbers the task's entries may set in data[i].params
	// (views: the NT-Xent temperature); Feed.Param reads them.
	Params []Param
	// Tensors turns a batch of the task's loader into the network's inputs
	// and the loss's labels and, for a ConvModel task, the head the batch
	// trains (nil for the other networks, whose head is fixed).
	Tensors func(f Feed, b data.Batch) (in, labels []*tensors.Tensor, head ConvHead, err error)
}

// Param is a number a task's dataset entries may set, with its default and
// the closed range it must be in.
type Param struct {
	Name              string
	Default, Min, Max float64
}

// Feed is what a task's Tensors knows of the run besides the batch.
type Feed struct {
	// Config is the run's configuration: the section of the task's Model.
	Config *Config
	// Data is the batch's dataset entry: its loss, region and target.
	Data Dataset
	// Vocab is the entry's vocabulary (a task with Vocab set), else nil.
	Vocab *text.Vocab
}

// Param is the batch's dataset entry's value of the task's parameter name,
// or its default; 0 for a name the task does not declare.
func (f Feed) Param(name string) float64 {
	if v, ok := f.Data.Params[name]; ok {
		return v
	}
	if t, ok := Lookup(f.Data.Task); ok {
		for _, p := range t.Params {
			if p.Name == name {
				return p.Default
			}
		}
	}
	return 0
}

var (
	tasksMu sync.RWMutex
	tasks   = map[string]Task{}
)

// Register adds a task's trainer side. It panics on an incomplete or second
// registration: a programming error that any test of this package catches.
func Register(t Task) {
	if t.Name == "" || t.Tensors == nil || t.Model < 0 || int(t.Model) >= len(sections) {
		panic(fmt.Sprintf("train: incomplete registration of task %q", t.Name))
	}
	tasksMu.Lock()
	defer tasksMu.Unlock()
	if _, dup := tasks[t.Name]; dup {
		panic(fmt.Sprintf("train: task %q registered twice", t.Name))
	}
	tasks[t.Name] = t
}

// Lookup returns the trainer's side of the task called name.
func Lookup(name string) (Task, bool) {
	tasksMu.RLock()
	defer tasksMu.RUnlock()
	t, ok := tasks[name]
	return t, ok
}

// Tasks are the tasks the trainer trains, by Model (the image tasks first),
// then by name.
func Tasks() []string {
	var names []string
	for _, t := range registered() {
		names = append(names, t.Name)
	}
	return names
}

// registered returns every registered task, in the order of Tasks.
func registered() []Task {
	tasksMu.RLock()
	defer tasksMu.RUnlock()
	out := make([]Task, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Task) int {
		if a.Model != b.Model {
			return int(a.Model) - int(b.Model)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// model is the network the config configures.
func (c Config) model() Model {
	switch {
	case c.BERT != nil:
		return BERTModel
	case c.AV != nil:
		return AVModel
	}
	return ConvModel
}

// checkDataset reports the bad fields of a dataset entry, at path p
// (data[i]): what its task accepts of them, by the task's registration.
func checkDataset(p string, d Dataset, bad func(path, format string, args ...any)) {
	if d.Dir == "" {
		bad(p+".dir", "required")
	}
	t, known := Lookup(d.Task)
	if !known {
		bad(p+".task", "must be one of %s (got %q)", taskList(), d.Task)
	}
	if d.Loss != "l1" && d.Loss != "l2" {
		bad(p+".loss", "must be l1 or l2 (got %q)", d.Loss)
	}
	regions := []string{"all"}
	for _, o := range registered() {
		for _, r := range o.Regions {
			if !slices.Contains(regions, r) {
				regions = append(regions, r)
			}
		}
	}
	switch {
	case !slices.Contains(regions, d.Region):
		bad(p+".region", "must be %s (got %q)", orList(regions), d.Region)
	case d.Region != "all" && !slices.Contains(t.Regions, d.Region):
		bad(p+".region", "%s needs task %s (got %q)", d.Region, orList(tasksWith(func(o Task) bool { return slices.Contains(o.Regions, d.Region) })), d.Task)
	}
	switch {
	case len(t.Targets) > 0 && d.Target != "" && !slices.Contains(t.Targets, d.Target):
		choices := slices.Clone(t.Targets)
		choices[0] += " (the default)"
		bad(p+".target", "must be %s (got %q)", orList(choices), d.Target)
	case len(t.Targets) == 0 && d.Target != "":
		have := tasksWith(func(o Task) bool { return len(o.Targets) > 0 })
		verb := "has"
		if len(have) != 1 {
			verb = "have"
		}
		bad(p+".target", "only %s %s a choice of target (got %q for task %s)", andList(have), verb, d.Target, d.Task)
	}
	for _, name := range slices.Sorted(maps.Keys(d.Params)) {
		v := d.Params[name]
		i := slices.IndexFunc(t.Params, func(q Param) bool { return q.Name == name })
		switch {
		case !known:
		case i < 0:
			var have []string
			for _, q := range t.Params {
				have = append(have, q.Name)
			}
			bad(p+".params."+name, "task %s takes no parameter %s (it takes %s)", d.Task, name, orList(have))
		case v < t.Params[i].Min || v > t.Params[i].Max:
			bad(p+".params."+name, "must be in [%g, %g] (got %g)", t.Params[i].Min, t.Params[i].Max, v)
		}
	}
	if t.Vocab && d.Vocab == "" {
		bad(p+".vocab", "task %s needs the vocabulary the shards were written with (e.g. testdata/wordpiece/vocab-bert-base-uncased.txt)", t.Name)
	}
}

// checkModels reports the datasets whose task trains another network than
// the config's, once per task, at the section concerned.
func (c Config) checkModels(bad func(path, format string, args ...any)) {
	m := c.model()
	seen := map[string]bool{}
	for _, d := range c.Data {
		t, ok := Lookup(d.Task)
		if !ok || t.Model == m || seen[t.Name] {
			continue
		}
		seen[t.Name] = true
		need, have := sections[t.Model], sections[m]
		if m == ConvModel {
			bad(need.key, "task %s needs %s: %s; %s: is %s", t.Name, need.name, need.needs, have.key, have.name)
			continue
		}
		own := tasksWith(func(o Task) bool { return o.Model == m })
		word := "task"
		if len(own) != 1 {
			word = "tasks"
		}
		bad(have.key, "%s trains on %s %s only: every dataset must be %s (task %s needs %s:, without %s:)",
			have.name, word, andList(own), orList(own), t.Name, need.key, have.key)
	}
}

// tasksWith names the registered tasks that keep says yes to, in the order
// of Tasks.
func tasksWith(keep func(Task) bool) []string {
	var names []string
	for _, t := range registered() {
		if keep(t) {
			names = append(names, t.Name)
		}
	}
	return names
}

// taskList names every task with its network's section:
// "colorize, denoise, inpaint (model:); mlm_nsp (bert:); …".
func taskList() string {
	var groups []string
	for m := range sections {
		if names := tasksWith(func(t Task) bool { return t.Model == Model(m) }); len(names) > 0 {
			groups = append(groups, fmt.Sprintf("%s (%s:)", strings.Join(names, ", "), sections[m].key))
		}
	}
	return strings.Join(groups, "; ")
}

// orList is "a", "a or b", "a, b or c".
func orList(s []string) string { return joinLast(s, " or ") }

// andList is "a", "a and b", "a, b and c".
func andList(s []string) string { return joinLast(s, " and ") }

func joinLast(s []string, last string) string {
	switch len(s) {
	case 0:
		return "none"
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + last + s[len(s)-1]
}
