package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	gcontext "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/metrics"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/pretext-dev/pretext/trainer/backend"
	"github.com/pretext-dev/pretext/trainer/data"
	"github.com/pretext-dev/pretext/trainer/model"
	"github.com/pretext-dev/pretext/transforms/text"
)

// Names of the run's files under Config.Output.
const (
	CheckpointDir = "checkpoints"
	LossCSV       = "loss.csv"
	LossPNG       = "loss.png"
)

// stateParam is the context parameter, saved in every checkpoint, that holds
// the run's State as JSON.
const stateParam = "pretext_state"

// State is what a checkpoint holds besides the variables (weights, Adam's
// moments and step, the loss average): the step, the loaders' positions and
// the configuration the run was started with.
type State struct {
	Step int `json:"step"`
	// Avg is the loss's moving average (0.98 decay, bias-corrected).
	Avg float64 `json:"avg_loss"`
	// AvgAccuracy is the moving average of the head's accuracy, like Avg
	// (task av_correspond; 0 for the others).
	AvgAccuracy float64      `json:"avg_accuracy,omitempty"`
	Loaders     []data.State `json:"loaders"`
	// Config is the run's configuration (without output, backend and
	// bookkeeping fields): a resumed run must have the same.
	Config json.RawMessage `json:"config"`
}

// Options are the knobs of one process's share of a run.
type Options struct {
	// Log receives the progress lines; nil discards them.
	Log io.Writer
	// StopAfter stops the process after this many steps, without a
	// checkpoint (as if it were killed); 0 runs to Config.Train.Steps.
	StopAfter int
	// MaxTime ends the run after this much training time, with a
	// checkpoint, as if train.steps were the step reached; 0 means no limit.
	MaxTime time.Duration
}

// Result says what a Run did.
type Result struct {
	// ResumedFrom is the step of the checkpoint the run resumed from (0 for
	// a fresh run); Step the step it stopped at.
	ResumedFrom, Step int
	// FirstLoss and LastLoss are the moving average of the loss after the
	// first and the last step of this process.
	FirstLoss, LastLoss float64
	// ExamplesPerSec is the training throughput of this process, loading
	// included, the first step (which compiles the graph) excluded.
	ExamplesPerSec float64
	// Params is the number of trained parameters.
	Params int
	// Accuracy is the moving average of the head's accuracy after the last
	// step (task av_correspond; NaN for the others).
	Accuracy float64
}

// Run pretrains the config's model (cfg.Model, cfg.BERT or cfg.AV) on
// cfg.Data, resuming from the last checkpoint in
// cfg.Output/checkpoints when there is one. A resumed run restores the
// weights, the optimizer's state and every loader's position, so it reaches
// the weights an uninterrupted run would have reached.
func Run(ctx context.Context, cfg Config, opts Options) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("train: bad config:\n%w", err)
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	be, err := backend.Open(cfg.Backend, logw)
	if err != nil {
		return nil, err
	}
	defer be.Finalize()
	// "model" is the encoder the checkpoint's /encoder holds, which
	// fine-tuning rebuilds: an AV run's frame tower.
	encoder := cfg.Model
	if cfg.AV != nil {
		encoder = cfg.AV.Frame
	}
	confJSON, err := json.Marshal(struct {
		Seed  int64       `json:"seed"`
		Model model.Conv  `json:"model"`
		BERT  *model.BERT `json:"bert,omitempty"`
		AV    *model.AV   `json:"av,omitempty"`
		Data  []Dataset   `json:"data"`
		Batch int         `json:"batch_size"`
		LR    float64     `json:"learning_rate"`
		Shuf  int         `json:"shuffle_buffer"`
	}{cfg.Seed, encoder, cfg.BERT, cfg.AV, cfg.Data, cfg.Train.BatchSize, cfg.Train.LearningRate, cfg.Train.ShuffleBuffer})
	if err != nil {
		return nil, err
	}

	// The handler loads the last checkpoint, if any, before the variables
	// exist: they take its values when the graph creates them.
	gctx := gcontext.New()
	gctx.SetParam(gcontext.ParamInitialSeed, cfg.Seed)
	ckptDir := filepath.Join(cfg.Output, CheckpointDir)
	if err := os.MkdirAll(ckptDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	ckpt, err := checkpoints.Build(gctx).Dir(ckptDir).Keep(cfg.Train.Keep).Done()
	if err != nil {
		return nil, fmt.Errorf("train: checkpoints in %s: %w", ckptDir, err)
	}
	var st State
	if s := gcontext.GetParamOr(gctx, stateParam, ""); s != "" {
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			return nil, fmt.Errorf("train: checkpoint in %s: bad %s: %w", ckptDir, stateParam, err)
		}
		if string(st.Config) != string(confJSON) {
			return nil, fmt.Errorf("train: %s holds a checkpoint of another configuration:\n  checkpoint: %s\n  this run:   %s\nuse another output folder, or the checkpoint's configuration",
				ckptDir, st.Config, confJSON)
		}
		if len(st.Loaders) != len(cfg.Data) {
			return nil, fmt.Errorf("train: checkpoint in %s has %d loader positions for %d datasets", ckptDir, len(st.Loaders), len(cfg.Data))
		}
	}
	st.Config = confJSON
	res := &Result{ResumedFrom: st.Step, Step: st.Step, Accuracy: math.NaN()}

	vocabs, shas, err := loadVocabs(ctx, cfg.Data)
	if err != nil {
		return nil, err
	}
	loaders := make([]*data.Loader, len(cfg.Data))
	defer func() {
		for _, l := range loaders {
			if l != nil {
				l.Close()
			}
		}
	}()
	for i, d := range cfg.Data {
		o := data.DefaultOptions()
		o.Task, o.BatchSize, o.DropRemainder = d.Task, cfg.Train.BatchSize, true
		o.ShuffleBuffer, o.Seed, o.Epochs = cfg.Train.ShuffleBuffer, cfg.Seed+int64(i), 0
		o.Vocab = vocabs[i]
		if st.Loaders != nil {
			o.Resume = &st.Loaders[i]
		}
		if loaders[i], err = data.Open(ctx, d.Dir, o); err != nil {
			return nil, fmt.Errorf("train: data[%d]: %w", i, err)
		}
		if vocabs[i] != nil {
			if err := checkVocab(i, d, shas[i], loaders[i].Manifest()); err != nil {
				return nil, err
			}
		}
	}

	curve, err := readCurve(filepath.Join(cfg.Output, LossCSV), st.Step)
	if err != nil {
		return nil, err
	}
	if st.Step > 0 {
		fmt.Fprintf(logw, "resuming from step %d (%s)\n", st.Step, ckptDir)
	}
	if st.Step >= cfg.Train.Steps {
		fmt.Fprintf(logw, "the run is complete: step %d of %d\n", st.Step, cfg.Train.Steps)
		return res, nil
	}

	modelFn, lossFn, trainMetrics, err := cfg.network(vocabs)
	if err != nil {
		return nil, err
	}
	// Checked(false): a checkpoint may have created the variables already.
	tr := train.NewTrainer(be, gctx.Checked(false), modelFn, lossFn,
		optimizers.Adam().LearningRate(cfg.Train.LearningRate).Done(), trainMetrics, nil)
	save := func() error {
		for i, l := range loaders {
			if len(st.Loaders) <= i {
				st.Loaders = append(st.Loaders, data.State{})
			}
			st.Loaders[i] = l.State()
		}
		// GoMLX's loss metrics have a new name per process: they can't be
		// resumed, so they are not saved (State.Avg is the moving average).
		var metricVars []*gcontext.Variable
		for v := range gctx.InAbsPath("/metrics").IterVariablesInScope() {
			metricVars = append(metricVars, v)
		}
		ckpt.ExcludeVarsFromSaving(metricVars...)
		js, err := json.Marshal(st)
		if err != nil {
			return err
		}
		gctx.SetParam(stateParam, string(js))
		if err := ckpt.Save(); err != nil {
			return fmt.Errorf("train: saving a checkpoint: %w", err)
		}
		if err := writeCurve(filepath.Join(cfg.Output, LossCSV), curve); err != nil {
			return err
		}
		return plotCurve(filepath.Join(cfg.Output, LossPNG), curve)
	}

	start := time.Now()
	var timed time.Duration
	var timedExamples int
	window, windowStart, windowExamples := 0, time.Now(), 0
	done := 0
	for st.Step < cfg.Train.Steps {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if opts.StopAfter > 0 && done >= opts.StopAfter {
			break
		}
		if opts.MaxTime > 0 && done > 0 && time.Since(start) >= opts.MaxTime {
			fmt.Fprintf(logw, "stopping at step %d of %d: the time limit (%s) is reached\n", st.Step, cfg.Train.Steps, opts.MaxTime)
			if st.Step%cfg.Train.CheckpointEvery != 0 {
				if err := save(); err != nil {
					return res, err
				}
			}
			break
		}
		t0 := time.Now()
		di := st.Step % len(cfg.Data)
		b, err := loaders[di].Next()
		if err != nil {
			return res, fmt.Errorf("train: data[%d] (%s): %w", di, cfg.Data[di].Dir, err)
		}
		task, _ := Lookup(cfg.Data[di].Task) // Validate checked it
		in, lab, head, err := task.Tensors(Feed{Config: &cfg, Data: cfg.Data[di], Vocab: vocabs[di]}, b)
		if err != nil {
			return res, fmt.Errorf("train: data[%d] (%s): %w", di, cfg.Data[di].Dir, err)
		}
		// The head is the graph's spec: nil (no head to choose) for BERT and AV.
		m, err := tr.TrainStep(head, in, lab)
		if err != nil {
			return res, fmt.Errorf("train: step %d: %w", st.Step+1, err)
		}
		st.Step++
		done++
		loss := scalar(m[0])
		st.Avg = 0.98*st.Avg + 0.02*loss
		avg := st.Avg / (1 - math.Pow(0.98, float64(st.Step)))
		acc := st.addAccuracy(m)
		if done == 1 {
			res.FirstLoss = avg
			res.Params = countParams(gctx)
			windowStart, windowExamples = time.Now(), 0
		} else {
			timed += time.Since(t0)
			timedExamples += b.Len()
			windowExamples += b.Len()
		}
		window++
		eps := 0.0
		if timed > 0 {
			eps = float64(timedExamples) / timed.Seconds()
		}
		curve = append(curve, point{Step: st.Step, Task: cfg.Data[di].Task, Loss: loss, Avg: avg, ExamplesPerSec: eps, Elapsed: time.Since(start).Seconds(), Accuracy: acc})
		res.LastLoss, res.Step, res.Accuracy = avg, st.Step, acc
		if st.Step%cfg.Train.LogEvery == 0 || st.Step == cfg.Train.Steps {
			weps := 0.0
			if d := time.Since(windowStart); windowExamples > 0 && d > 0 {
				weps = float64(windowExamples) / d.Seconds()
			}
			left := time.Duration(0)
			if weps > 0 {
				left = time.Duration(float64((cfg.Train.Steps-st.Step)*cfg.Train.BatchSize)/weps) * time.Second
			}
			accs := ""
			if !math.IsNaN(acc) {
				accs = fmt.Sprintf("  acc %.3f", acc)
			}
			fmt.Fprintf(logw, "%s step %d/%d  loss %.4f  avg %.4f%s  %.1f ex/s  eta %s\n",
				bar(st.Step, cfg.Train.Steps), st.Step, cfg.Train.Steps, loss, avg, accs, weps, left.Round(time.Second))
			window, windowStart, windowExamples = 0, time.Now(), 0
		}
		if st.Step%cfg.Train.CheckpointEvery == 0 || st.Step == cfg.Train.Steps {
			if err := save(); err != nil {
				return res, err
			}
		}
	}
	if timed > 0 {
		res.ExamplesPerSec = float64(timedExamples) / timed.Seconds()
	}
	return res, nil
}

// bar is a 20-character progress bar.
func bar(step, steps int) string {
	const width = 20
	n := step * width / max(steps, 1)
	b := make([]byte, width+2)
	b[0], b[width+1] = '[', ']'
	for i := range width {
		b[i+1] = '.'
		if i < n {
			b[i+1] = '#'
		}
	}
	return string(b)
}

func scalar(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// countParams is the number of trained weights: the encoders', the
// decoders' and the heads'.
func countParams(ctx *gcontext.Context) int {
	n := 0
	for v := range ctx.IterVariables() {
		if v.Trainable && !strings.HasPrefix(v.Scope(), "/"+optimizers.Scope) && !strings.HasPrefix(v.Scope(), "/metrics") {
			n += v.Shape().Size()
		}
	}
	return n
}

// network is the model function, loss and training metrics of the
// config's Model; vocabs are the datasets' vocabularies (BERT's MLM head is
// the size of theirs).
func (c Config) network(vocabs []*text.Vocab) (train.ModelFn, train.LossFn, []metrics.Interface, error) {
	switch c.model() {
	case BERTModel:
		for _, v := range vocabs {
			if v != nil {
				return textModel(*c.BERT, v.Size()), model.PretrainLoss, nil, nil
			}
		}
		return nil, nil, nil, errors.New("train: the text model needs a dataset with a vocab")
	case AVModel:
		return avModel(*c.AV), model.CorrespondLoss, avMetrics(), nil
	}
	modelFn, lossFn := imageNetwork(c.Model)
	return modelFn, lossFn, nil, nil
}
