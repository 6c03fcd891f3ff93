// Package finetune measures what pretraining is worth: it fine-tunes a
// pretrained encoder with a classification head on a few labels per class
// (the encoder frozen, "linear", or trained, "full"), trains the same network
// from random weights on the same labels with the same budget ("scratch"),
// and fits logistic regression on the raw pixels ("pixels"). Each method's
// learning rate is chosen from the same grid on a validation split of the
// labeled subset, then the method is trained again on the whole subset and
// scored on the held-out test set.
package finetune

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gcontext "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"

	"github.com/pretext-dev/pretext/trainer/backend"
	"github.com/pretext-dev/pretext/trainer/model"
)

// Options configure a fine-tuning benchmark.
type Options struct {
	// Pretrained is a `pretext train` run folder (or its checkpoints/
	// folder): its encoder and model configuration are used.
	Pretrained string
	// Train and Test are the labeled sets: a CSV of path,label, Parquet of
	// input,label, an MNIST idx folder or a folder-per-class tree (see
	// Load). Test may equal Train for an idx folder: its test set is read.
	Train, Test string
	// Protocol is the budget and the methods, shared with text.
	Protocol
	// Pool average-pools the encoder's features over Pool×Pool blocks
	// before the head (1: the features as they are), for every conv method.
	Pool int
	// Backend names the GoMLX backend.
	Backend string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Protocol is what every fine-tuning benchmark, image or text, shares: the
// labeled subset, the methods, and the one budget and learning-rate grid
// they all train with.
type Protocol struct {
	// LabelsPerClass is the number of labeled examples per class used.
	LabelsPerClass int
	// ValPerClass of them choose the learning rate (then every one trains).
	ValPerClass int
	// Modes are the pretrained runs: "linear" (frozen encoder) and/or "full".
	Modes []string
	// Baselines are "scratch" and/or "pixels" (images) or "bow" (text).
	Baselines []string
	// LearningRates is the grid every method chooses from (Adam).
	LearningRates []float64
	// Steps and BatchSize are every training's budget.
	Steps, BatchSize int
	// Seed draws the subset, the initial weights and the batches.
	Seed int64
}

// DefaultProtocol: 10 labels per class, 2 of them for validation, both
// modes, a grid of three learning rates, 300 steps of 32.
func DefaultProtocol(baselines ...string) Protocol {
	return Protocol{LabelsPerClass: 10, ValPerClass: 2, Modes: []string{"linear", "full"},
		Baselines: baselines, LearningRates: []float64{3e-4, 1e-3, 3e-3}, Steps: 300, BatchSize: 32, Seed: 1}
}

// check reports each bad field to bad; baselines are the ones allowed.
func (p Protocol) check(bad func(string, ...any), baselines ...string) {
	for _, m := range p.Modes {
		if m != "linear" && m != "full" {
			bad("mode %q: linear or full", m)
		}
	}
	for _, b := range p.Baselines {
		if !slices.Contains(baselines, b) {
			bad("baseline %q: %s", b, strings.Join(baselines, " or "))
		}
	}
	if len(p.Modes)+len(p.Baselines) == 0 {
		bad("nothing to run: no mode and no baseline")
	}
	if p.LabelsPerClass < 1 {
		bad("labels per class: must be >= 1 (got %d)", p.LabelsPerClass)
	}
	if p.ValPerClass < 0 || (len(p.LearningRates) > 1 && p.ValPerClass < 1) || p.ValPerClass >= p.LabelsPerClass {
		bad("validation labels per class: must be in [1, labels per class) to choose among %d learning rates (got %d of %d)", len(p.LearningRates), p.ValPerClass, p.LabelsPerClass)
	}
	if len(p.LearningRates) == 0 {
		bad("learning rates: at least one")
	}
	for _, lr := range p.LearningRates {
		if lr <= 0 {
			bad("learning rate %g: must be > 0", lr)
		}
	}
	if p.Steps < 1 || p.BatchSize < 1 {
		bad("steps (%d) and batch size (%d) must be >= 1", p.Steps, p.BatchSize)
	}
}

// DefaultOptions: DefaultProtocol with the scratch and pixels baselines, no pooling.
func DefaultOptions() Options {
	return Options{Protocol: DefaultProtocol("scratch", "pixels"), Pool: 1}
}

// Validate reports every bad field.
func (o Options) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if o.Train == "" || o.Test == "" {
		bad("the labeled train and test sets are required")
	}
	if len(o.Modes) > 0 && o.Pretrained == "" {
		bad("modes %v need a pretrained run", o.Modes)
	}
	o.check(bad, "scratch", "pixels")
	if o.Pool < 1 {
		bad("pool: must be >= 1 (got %d)", o.Pool)
	}
	return errors.Join(errs...)
}

// Row is one method's outcome.
type Row struct {
	// Method is "pretrained-linear", "pretrained-full", "scratch" or "pixels".
	Method string `json:"method"`
	// LearningRate is the one chosen on validation; ValAccuracy its
	// validation accuracy, ValAccuracies every grid point's.
	LearningRate  float64   `json:"learning_rate"`
	ValAccuracy   float64   `json:"val_accuracy"`
	ValAccuracies []float64 `json:"val_accuracies"`
	// TestAccuracy is the accuracy on the test set of the method trained on
	// the whole labeled subset with that learning rate.
	TestAccuracy float64 `json:"test_accuracy"`
	// Seconds is the method's wall time (grid included).
	Seconds float64 `json:"seconds"`
	// ExamplesPerSec is its training throughput.
	ExamplesPerSec float64 `json:"examples_per_s"`
}

// Report is a benchmark's outcome.
type Report struct {
	Pretrained     string     `json:"pretrained,omitempty"`
	LabelsPerClass int        `json:"labels_per_class"`
	ValPerClass    int        `json:"val_per_class"`
	Classes        int        `json:"classes"`
	TestSize       int        `json:"test_size"`
	Steps          int        `json:"steps"`
	Pool           int        `json:"pool"`
	BatchSize      int        `json:"batch_size"`
	LearningRates  []float64  `json:"learning_rates"`
	Seed           int64      `json:"seed"`
	Model          model.Conv `json:"model"`
	Rows           []Row      `json:"rows"`
	// Best is the pretrained mode with the best validation accuracy (its
	// row's method), "" without a pretrained run.
	Best string `json:"best_pretrained"`
}

// Row returns the row of a method, or nil.
func (r *Report) Row(method string) *Row { return findRow(r.Rows, method) }

func findRow(rows []Row, method string) *Row {
	for i := range rows {
		if rows[i].Method == method {
			return &rows[i]
		}
	}
	return nil
}

// Run runs the benchmark.
func Run(o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("finetune: bad options:\n%w", err)
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	be, err := backend.Open(o.Backend, logw)
	if err != nil {
		return nil, err
	}
	defer be.Finalize()

	conv := model.DefaultConv()
	var pre *gcontext.Context
	if o.Pretrained != "" {
		if pre, conv, err = LoadPretrained(o.Pretrained); err != nil {
			return nil, err
		}
	}
	trainSet, err := Load(o.Train, "train", conv.Size, conv.InChannels)
	if err != nil {
		return nil, err
	}
	testSet, err := Load(o.Test, "test", conv.Size, conv.InChannels)
	if err != nil {
		return nil, err
	}
	if err := CheckClasses(trainSet, testSet); err != nil {
		return nil, err
	}
	idx, err := Subset(trainSet, o.LabelsPerClass, o.Seed)
	if err != nil {
		return nil, err
	}
	sub := trainSet.Pick(idx)
	var fitIdx, valIdx []int
	for i := range sub.Len() {
		if i%o.LabelsPerClass >= o.LabelsPerClass-o.ValPerClass {
			valIdx = append(valIdx, i)
		} else {
			fitIdx = append(fitIdx, i)
		}
	}
	fit, val := sub.Pick(fitIdx), sub.Pick(valIdx)
	classes := len(trainSet.Classes)
	rep := &Report{Pretrained: o.Pretrained, LabelsPerClass: o.LabelsPerClass, ValPerClass: o.ValPerClass,
		Classes: classes, TestSize: testSet.Len(), Steps: o.Steps, Pool: o.Pool, BatchSize: o.BatchSize,
		LearningRates: o.LearningRates, Seed: o.Seed, Model: conv}
	fmt.Fprintf(logw, "labeled subset: %d images (%d per class, %d of them for validation), test set %d images\n",
		sub.Len(), o.LabelsPerClass, o.ValPerClass, testSet.Len())

	type method struct {
		name  string
		build func() (*gcontext.Context, train.ModelFn, error)
	}
	var methods []method
	for _, m := range o.Modes {
		freeze := m == "linear"
		methods = append(methods, method{"pretrained-" + m, func() (*gcontext.Context, train.ModelFn, error) {
			ctx, err := cloneEncoder(pre, newContext(o.Seed), !freeze)
			return ctx, conv.Classifier(classes, o.Pool), err
		}})
	}
	for _, b := range o.Baselines {
		switch b {
		case "scratch":
			methods = append(methods, method{"scratch", func() (*gcontext.Context, train.ModelFn, error) {
				return newContext(o.Seed), conv.Classifier(classes, o.Pool), nil
			}})
		case "pixels":
			methods = append(methods, method{"pixels", func() (*gcontext.Context, train.ModelFn, error) {
				return newContext(o.Seed), model.Linear(classes), nil
			}})
		}
	}
	bestVal := -1.0
	for _, m := range methods {
		start := time.Now()
		row := Row{Method: m.name}
		var eps float64
		for _, lr := range o.LearningRates {
			acc := 0.0
			if len(o.LearningRates) > 1 || val.Len() > 0 {
				ctx, fn, err := m.build()
				if err != nil {
					return nil, err
				}
				if _, _, err := fitExamples(be, ctx, fn, fit, lr, o.Steps, o.BatchSize, o.Seed); err != nil {
					return nil, fmt.Errorf("finetune: %s, learning rate %g: %w", m.name, lr, err)
				}
				if acc, err = accuracyOf(be, ctx, fn, val); err != nil {
					return nil, err
				}
			}
			row.ValAccuracies = append(row.ValAccuracies, acc)
			fmt.Fprintf(logw, "%-18s lr %-7g validation accuracy %.3f\n", m.name, lr, acc)
		}
		best := 0
		for i, a := range row.ValAccuracies {
			if a > row.ValAccuracies[best] {
				best = i
			}
		}
		row.LearningRate, row.ValAccuracy = o.LearningRates[best], row.ValAccuracies[best]
		ctx, fn, err := m.build()
		if err != nil {
			return nil, err
		}
		if eps, _, err = fitExamples(be, ctx, fn, sub, row.LearningRate, o.Steps, o.BatchSize, o.Seed); err != nil {
			return nil, fmt.Errorf("finetune: %s: %w", m.name, err)
		}
		if row.TestAccuracy, err = accuracyOf(be, ctx, fn, testSet); err != nil {
			return nil, err
		}
		row.Seconds, row.ExamplesPerSec = time.Since(start).Seconds(), eps
		fmt.Fprintf(logw, "%-18s lr %-7g TEST accuracy %.4f (%.0fs, %.0f examples/s)\n", m.name, row.LearningRate, row.TestAccuracy, row.Seconds, eps)
		rep.Rows = append(rep.Rows, row)
		if len(m.name) > 11 && m.name[:11] == "pretrained-" && row.ValAccuracy > bestVal {
			bestVal, rep.Best = row.ValAccuracy, m.name
		}
	}
	return rep, nil
}

func newContext(seed int64) *gcontext.Context {
	ctx := gcontext.New()
	ctx.SetParam(gcontext.ParamInitialSeed, seed)
	return ctx
}

// LoadPretrained loads a `pretext train` run's last checkpoint: its variables
// and its model's configuration.
func LoadPretrained(dir string) (*gcontext.Context, model.Conv, error) {
	ctx, st, err := loadRun(dir)
	if err != nil {
		return nil, model.Conv{}, err
	}
	if err := st.Config.Model.Validate(); err != nil {
		return nil, model.Conv{}, fmt.Errorf("finetune: pretrained %s: model: %w", dir, err)
	}
	n := 0
	for range ctx.InAbsPath("/" + model.EncoderScope).IterVariablesInScope() {
		n++
	}
	if n == 0 {
		return nil, model.Conv{}, fmt.Errorf("finetune: pretrained %s: the checkpoint has no /%s variables", dir, model.EncoderScope)
	}
	return ctx, st.Config.Model, nil
}

// examples is what fitting and scoring read: a labeled set that builds the
// model's inputs for any rows.
type examples interface {
	Len() int
	label(i int) int
	inputs(idx []int) []*tensors.Tensor
}

// inBatches calls each with the indices of consecutive batches of
// evalBatch rows (n of them real, the last batch padded with row 0 so that
// every batch has the same shape and the graph compiles once).
func inBatches(total int, each func(idx []int, n int) error) error {
	bs := min(evalBatch, total)
	for start := 0; start < total; start += bs {
		n := min(bs, total-start)
		idx := make([]int, bs)
		for i := range n {
			idx[i] = start + i
		}
		if err := each(idx, n); err != nil {
			return err
		}
	}
	return nil
}

func execOn(exec *gcontext.Exec, in []*tensors.Tensor) (*tensors.Tensor, error) {
	args := make([]any, len(in))
	for i, t := range in {
		args[i] = t
	}
	out, err := exec.Exec(args...)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// fitExamples trains fn in ctx on set with Adam at lr for steps batches of
// batch, drawn in epochs of a permutation seeded by seed, and returns the
// throughput, the first step excluded, and the mean loss of the last tenth
// of the steps (how well the labeled examples were fitted).
func fitExamples(be backends.Backend, ctx *gcontext.Context, fn train.ModelFn, set examples, lr float64, steps, batch int, seed int64) (eps, loss float64, err error) {
	tr := train.NewTrainer(be, ctx.Checked(false), fn, losses.SparseCategoricalCrossEntropyLogits,
		optimizerFor(ctx, lr), nil, nil)
	rng := rand.New(rand.NewPCG(uint64(seed), 0xba7c))
	perm := rng.Perm(set.Len())
	pos := 0
	idx := make([]int, batch)
	y := make([]int32, batch)
	var timed time.Duration
	tail := max(1, steps/10)
	for step := range steps {
		for i := range batch {
			if pos == len(perm) {
				perm, pos = rng.Perm(set.Len()), 0
			}
			idx[i] = perm[pos]
			y[i] = int32(set.label(perm[pos]))
			pos++
		}
		t0 := time.Now()
		m, err := tr.TrainStep(nil, set.inputs(idx), []*tensors.Tensor{tensors.FromFlatDataAndDimensions(slices.Clone(y), batch, 1)})
		if err != nil {
			return 0, 0, err
		}
		if step > 0 {
			timed += time.Since(t0)
		}
		if step >= steps-tail && len(m) > 0 {
			if v, ok := m[0].Value().(float32); ok {
				loss += float64(v) / float64(tail)
			}
		}
	}
	if timed > 0 {
		eps = float64((steps-1)*batch) / timed.Seconds()
	}
	return eps, loss, nil
}

// accuracyOf is fn's accuracy on set.
func accuracyOf(be backends.Backend, ctx *gcontext.Context, fn train.ModelFn, set examples) (float64, error) {
	if set.Len() == 0 {
		return 0, nil
	}
	exec, err := gcontext.NewExec(be, ctx.Reuse(), func(ctx *gcontext.Context, in []*graph.Node) *graph.Node {
		return graph.ArgMax(fn(ctx, nil, in)[0], -1)
	})
	if err != nil {
		return 0, err
	}
	correct := 0
	err = inBatches(set.Len(), func(idx []int, n int) error {
		out, err := execOn(exec, set.inputs(idx))
		if err != nil {
			return err
		}
		for i := range n {
			var p int
			switch v := out.Value().(type) {
			case []int32:
				p = int(v[i])
			case []int64:
				p = int(v[i])
			default:
				return fmt.Errorf("finetune: predictions of type %T", v)
			}
			if p == set.label(idx[i]) {
				correct++
			}
		}
		return nil
	})
	return float64(correct) / float64(set.Len()), err
}

// evalBatch is the batch size of evaluation.
const evalBatch = 500
