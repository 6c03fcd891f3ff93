package train

import (
	"bytes"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms"
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
	// Model is the convolutional encoder of the image tasks (ConvModel),
	// with a head per task.
	Model model.Conv `yaml:"model" json:"model"`
	// BERT is the text model (BERTModel): a run of a text task needs it,
	// and then Model is unused.
	BERT *model.BERT `yaml:"bert" json:"bert,omitempty"`
	// AV is the audio-visual two-tower network (AVModel): a run of the
	// audio-visual task needs it, and then Model is unused.
	AV *model.AV `yaml:"av" json:"av,omitempty"`
	// Data are the datasets trained on; the steps go round them, one batch
	// each (multi-task pretraining with one shared network).
	Data []Dataset `yaml:"data" json:"data"`
	// Train is the schedule.
	Train Schedule `yaml:"train" json:"train"`
}

// Dataset is one dataset folder of a task and its loss. What Region,
// Target and Vocab may say depends on the task (its Task registration).
type Dataset struct {
	// Dir is the task's folder (with _manifest.json), local or gs:// / s3://.
	Dir string `yaml:"dir" json:"dir"`
	// Task is the task the folder must hold, one of Tasks(): an image task
	// (denoise, inpaint, colorize) trains the config's model, mlm_nsp its
	// bert section (and needs Vocab), av_correspond its av section.
	Task string `yaml:"task" json:"task"`
	// Vocab is the WordPiece vocabulary file the text shards were written
	// with (the text pipeline config's text.vocab; its sha256 must be the
	// manifest's vocab_sha256); dynamic masking draws from it and its size
	// is the MLM head's.
	Vocab string `yaml:"vocab" json:"vocab,omitempty"`
	// Loss is l1 or l2 (per pixel and channel) for a regression head.
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
	// Params are the numbers the task takes besides these (its Task.Params,
	// e.g. views' temperature), by name; an absent one is its default.
	Params map[string]float64 `yaml:"params" json:"params,omitempty"`
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
	f := transforms.Fields{}
	if c.Output == "" {
		f.Addf("output", "required")
	}
	switch c.model() {
	case ConvModel:
		if err := c.Model.Validate(); err != nil {
			f.Addf("model", "%v", err)
		}
	case BERTModel:
		if err := c.BERT.Validate(); err != nil {
			f.Addf("bert", "%v", err)
		}
	case AVModel:
		c.validateAV(f.Addf)
	}
	if c.BERT != nil && c.AV != nil {
		f.Addf("av", "a run trains one model: bert: and av: can't both be set")
	} else {
		c.checkModels(f.Addf)
	}
	if len(c.Data) == 0 {
		f.Addf("data", "at least one dataset")
	}
	for i, d := range c.Data {
		checkDataset(fmt.Sprintf("data[%d]", i), d, f.Addf)
	}
	s := c.Train
	if s.Steps < 1 {
		f.Addf("train.steps", "must be >= 1 (got %d)", s.Steps)
	}
	if s.BatchSize < 1 {
		f.Addf("train.batch_size", "must be >= 1 (got %d)", s.BatchSize)
	}
	if s.LearningRate <= 0 {
		f.Addf("train.learning_rate", "must be > 0 (got %g)", s.LearningRate)
	}
	if s.ShuffleBuffer < 0 {
		f.Addf("train.shuffle_buffer", "must be >= 0 (got %d)", s.ShuffleBuffer)
	}
	if s.CheckpointEvery < 1 {
		f.Addf("train.checkpoint_every", "must be >= 1 (got %d)", s.CheckpointEvery)
	}
	if s.Keep < 1 {
		f.Addf("train.keep", "must be >= 1 (got %d)", s.Keep)
	}
	if s.LogEvery < 1 {
		f.Addf("train.log_every", "must be >= 1 (got %d)", s.LogEvery)
	}
	return f.Err()
}
