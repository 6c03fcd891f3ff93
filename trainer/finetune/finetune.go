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
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

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
			ctx := newContext(o.Seed)
			for v := range pre.InAbsPath("/" + model.EncoderScope).IterVariablesInScope() {
				nv, err := v.CloneToContext(ctx)
				if err != nil {
					return nil, nil, err
				}
				nv.SetTrainable(!freeze)
			}
			return ctx, conv.Classifier(classes, o.Pool), nil
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
				if _, err := fit1(be, ctx, fn, fit, lr, o); err != nil {
					return nil, fmt.Errorf("finetune: %s, learning rate %g: %w", m.name, lr, err)
				}
				if acc, err = accuracy(be, ctx, fn, val); err != nil {
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
		if eps, err = fit1(be, ctx, fn, sub, row.LearningRate, o); err != nil {
			return nil, fmt.Errorf("finetune: %s: %w", m.name, err)
		}
		if row.TestAccuracy, err = accuracy(be, ctx, fn, testSet); err != nil {
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

// fit1 trains fn in ctx on set with Adam at lr for o.Steps batches of
// o.BatchSize drawn in epochs of a seeded permutation; it returns the
// throughput, the first step (compilation) excluded.
func fit1(be backends.Backend, ctx *gcontext.Context, fn train.ModelFn, set *Labeled, lr float64, o Options) (float64, error) {
	tr := train.NewTrainer(be, ctx.Checked(false), fn, losses.SparseCategoricalCrossEntropyLogits,
		optimizers.Adam().LearningRate(lr).Done(), nil, nil)
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0xba7c))
	perm := rng.Perm(set.Len())
	pos := 0
	per := set.Size * set.Size * set.Channels
	bs := o.BatchSize
	x := make([]float32, bs*per)
	y := make([]int32, bs)
	var timed time.Duration
	for step := range o.Steps {
		for i := range bs {
			if pos == len(perm) {
				perm, pos = rng.Perm(set.Len()), 0
			}
			j := perm[pos]
			pos++
			copy(x[i*per:(i+1)*per], set.image(j))
			y[i] = int32(set.Labels[j])
		}
		t0 := time.Now()
		_, err := tr.TrainStep(nil,
			[]*tensors.Tensor{tensors.FromFlatDataAndDimensions(slices.Clone(x), bs, set.Size, set.Size, set.Channels)},
			[]*tensors.Tensor{tensors.FromFlatDataAndDimensions(slices.Clone(y), bs, 1)})
		if err != nil {
			return 0, err
		}
		if step > 0 {
			timed += time.Since(t0)
		}
	}
	if timed == 0 {
		return 0, nil
	}
	return float64((o.Steps-1)*bs) / timed.Seconds(), nil
}

// evalBatch is the batch size of evaluation.
const evalBatch = 500

// accuracy is fn's accuracy on set.
func accuracy(be backends.Backend, ctx *gcontext.Context, fn train.ModelFn, set *Labeled) (float64, error) {
	if set.Len() == 0 {
		return 0, nil
	}
	exec, err := gcontext.NewExec(be, ctx.Reuse(), func(ctx *gcontext.Context, x *graph.Node) *graph.Node {
		return graph.ArgMax(fn(ctx, nil, []*graph.Node{x})[0], -1)
	})
	if err != nil {
		return 0, err
	}
	per := set.Size * set.Size * set.Channels
	bs := min(evalBatch, set.Len())
	correct := 0
	for start := 0; start < set.Len(); start += bs {
		n := min(bs, set.Len()-start)
		x := make([]float32, bs*per) // the last batch is padded with blank images
		copy(x, set.Pixels[start*per:(start+n)*per])
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, bs, set.Size, set.Size, set.Channels))
		if err != nil {
			return 0, err
		}
		pred := out[0].Value()
		for i := range n {
			var p int
			switch v := pred.(type) {
			case []int32:
				p = int(v[i])
			case []int64:
				p = int(v[i])
			default:
				return 0, fmt.Errorf("finetune: predictions of type %T", pred)
			}
			if p == set.Labels[start+i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(set.Len()), nil
}
