package train

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/pretext-dev/pretext/trainer/model"
)

// Config is a pretraining run (configs/train-*.yaml).
type Config struct {
	// Output is the run's folder: checkpoints/, loss.csv, loss.png.
	Output string `yaml:"output" json:"output"`
	// Backend names the GoMLX backend (see trainer/backend.New); "" means
	// $GOMLX_BACKEND, else the pure-Go backend.
	Backend string `yaml:"backend" json:"-"`
	// Seed seeds the initial weights and the loaders' order.
	Seed int64 `yaml:"seed" json:"seed"`
	// Model is the convolutional encoder–decoder of the image tasks.
	Model model.Conv `yaml:"model" json:"model"`
	// BERT is the text model: a run of task mlm_nsp needs it, and then
	// Model is unused.
	BERT *model.BERT `yaml:"bert" json:"bert,omitempty"`
	// AV is the audio-visual two-tower network: a run of task av_correspond
	// needs it, and then Model is unused.
	AV *model.AV `yaml:"av" json:"av,omitempty"`
	// Data are the datasets trained on; the steps go round them, one batch
	// each (multi-task pretraining with one shared network).
	Data []Dataset `yaml:"data" json:"data"`
	// Train is the schedule.
	Train Schedule `yaml:"train" json:"train"`
}

// Dataset is one dataset folder of an image task and its loss.
type Dataset struct {
	// Dir is the task's folder (with _manifest.json), local or gs:// / s3://.
	Dir string `yaml:"dir" json:"dir"`
	// Task is the task the folder must hold: denoise, inpaint, colorize,
	// mlm_nsp (text: needs the config's bert section and Vocab) or
	// av_correspond (needs the config's av section).
	Task string `yaml:"task" json:"task"`
	// Vocab is the WordPiece vocabulary file the text shards were written
	// with (task mlm_nsp: the text pipeline config's text.vocab); dynamic
	// masking draws from it and its size is the MLM head's.
	Vocab string `yaml:"vocab" json:"vocab,omitempty"`
	// Loss is l1 or l2 (per pixel and channel).
	Loss string `yaml:"loss" json:"loss"`
	// Region is where the loss is taken: all (the whole image) or hole
	// (inpaint: the masked pixels only).
	Region string `yaml:"region" json:"region"`
	// Target is what colorize predicts from L*: rgb (the colour image,
	// Loss per pixel), ab (the mean Lab a, b of each ab_stride block, Loss
	// per block) or bins (the block's ab bin among the 313 in-gamut bins,
	// softmax cross-entropy, as Zhang et al., without their class
	// rebalancing). Empty is rgb for colorize; the other tasks have none.
	Target string `yaml:"target" json:"target,omitempty"`
}

// Schedule is the optimisation and bookkeeping of a run.
type Schedule struct {
	Steps         int     `yaml:"steps" json:"steps"`
	BatchSize     int     `yaml:"batch_size" json:"batch_size"`
	LearningRate  float64 `yaml:"learning_rate" json:"learning_rate"`
	ShuffleBuffer int     `yaml:"shuffle_buffer" json:"shuffle_buffer"`
	// CheckpointEvery saves a checkpoint every N steps (and one at the end).
	CheckpointEvery int `yaml:"checkpoint_every" json:"checkpoint_every"`
	// Keep is the number of checkpoints kept.
	Keep int `yaml:"keep" json:"-"`
	// LogEvery prints a progress line every N steps.
	LogEvery int `yaml:"log_every" json:"-"`
}

// Default returns a run of the MNIST benchmark's encoder on
// out/bench/shards/{denoise,inpaint}.
func Default() Config {
	return Config{
		Output: "out/train",
		Seed:   12345,
		Model:  model.DefaultConv(),
		Train: Schedule{Steps: 1000, BatchSize: 32, LearningRate: 2e-3, ShuffleBuffer: 1024,
			CheckpointEvery: 200, Keep: 2, LogEvery: 20},
	}
}

// Tasks are the tasks the trainer knows: the image tasks, then TextTask
// and AVTask.
var Tasks = []string{"denoise", "inpaint", "colorize", TextTask, AVTask}

// TextTask is the text pretraining task, trained with Config.BERT.
const TextTask = "mlm_nsp"

// AVTask is the audio-visual correspondence task, trained with Config.AV.
const AVTask = "av_correspond"

// Load reads a YAML config over Default: unknown keys are errors, and the
// result is validated.
func Load(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	cfg, err := Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes a YAML config over Default and validates it.
func Parse(raw []byte) (Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, err
	}
	for i := range cfg.Data {
		if cfg.Data[i].Loss == "" {
			cfg.Data[i].Loss = "l2"
		}
		if cfg.Data[i].Region == "" {
			cfg.Data[i].Region = "all"
		}
	}
	return cfg, cfg.Validate()
}

// Validate reports every bad field, by path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if c.Output == "" {
		bad("output", "required")
	}
	text, av := 0, 0
	for _, d := range c.Data {
		switch d.Task {
		case TextTask:
			text++
		case AVTask:
			av++
		}
	}
	switch {
	case c.BERT != nil && c.AV != nil:
		bad("av", "a run trains one model: bert: and av: can't both be set")
	case c.BERT != nil:
		if err := c.BERT.Validate(); err != nil {
			bad("bert", "%v", err)
		}
		if text < len(c.Data) {
			bad("bert", "the text model trains on task %s only: every dataset must be %s (an image task needs model:, without bert:)", TextTask, TextTask)
		}
	case c.AV != nil:
		c.validateAV(bad, av)
	default:
		if err := c.Model.Validate(); err != nil {
			bad("model", "%v", err)
		}
		if text > 0 {
			bad("bert", "task %s needs the text model: a bert: section (layers, width, heads; see configs/train-bert.yaml); model: is the image encoder–decoder", TextTask)
		}
		if av > 0 {
			bad("av", "task %s needs the two-tower model: an av: section (frame, audio_channels, hidden; see configs/train-av.yaml); model: is the image encoder–decoder", AVTask)
		}
	}
	if len(c.Data) == 0 {
		bad("data", "at least one dataset")
	}
	for i, d := range c.Data {
		p := fmt.Sprintf("data[%d]", i)
		if d.Dir == "" {
			bad(p+".dir", "required")
		}
		if !slices.Contains(Tasks, d.Task) {
			bad(p+".task", "must be one of %v (got %q)", Tasks, d.Task)
		}
		if d.Loss != "l1" && d.Loss != "l2" {
			bad(p+".loss", "must be l1 or l2 (got %q)", d.Loss)
		}
		if d.Region != "all" && d.Region != "hole" {
			bad(p+".region", "must be all or hole (got %q)", d.Region)
		}
		if d.Region == "hole" && d.Task != "inpaint" {
			bad(p+".region", "hole needs task inpaint (got %q)", d.Task)
		}
		switch {
		case d.Task == "colorize" && !slices.Contains([]string{"", "rgb", "ab", "bins"}, d.Target):
			bad(p+".target", "must be rgb (the default), ab or bins (got %q)", d.Target)
		case d.Target == "bins" && d.Region != "all":
			bad(p+".region", "must be all for target bins (got %q)", d.Region)
		case d.Task != "colorize" && d.Target != "":
			bad(p+".target", "only colorize has a choice of target (got %q for task %s)", d.Target, d.Task)
		}
		if d.Task == TextTask && d.Vocab == "" {
			bad(p+".vocab", "task %s needs the vocabulary the shards were written with (e.g. testdata/wordpiece/vocab-bert-base-uncased.txt)", TextTask)
		}
	}
	s := c.Train
	if s.Steps < 1 {
		bad("train.steps", "must be >= 1 (got %d)", s.Steps)
	}
	if s.BatchSize < 1 {
		bad("train.batch_size", "must be >= 1 (got %d)", s.BatchSize)
	}
	if s.LearningRate <= 0 {
		bad("train.learning_rate", "must be > 0 (got %g)", s.LearningRate)
	}
	if s.ShuffleBuffer < 0 {
		bad("train.shuffle_buffer", "must be >= 0 (got %d)", s.ShuffleBuffer)
	}
	if s.CheckpointEvery < 1 {
		bad("train.checkpoint_every", "must be >= 1 (got %d)", s.CheckpointEvery)
	}
	if s.Keep < 1 {
		bad("train.keep", "must be >= 1 (got %d)", s.Keep)
	}
	if s.LogEvery < 1 {
		bad("train.log_every", "must be >= 1 (got %d)", s.LogEvery)
	}
	return errors.Join(errs...)
}
