package finetune

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gcontext "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"

	"github.com/pretext-dev/pretext/trainer/backend"
	"github.com/pretext-dev/pretext/trainer/model"
)

// The readout protocol ("honest readouts", issue 22) measures what a
// pretrained encoder's features are worth with recipes fixed in advance, so
// that no number depends on a choice made on the test set and a few lucky
// validation images cannot decide the comparison:
//
//   - Features are computed once per encoder (the pretrained one, the same
//     architecture at random initialisation as a control, and the raw
//     pixels) for every labeled image any subset uses and for the test set,
//     the encoder's output average-pooled (Pool).
//   - On each of Subsets label subsets (LabelsPerClass per class, subset i
//     drawn with Seed+i), each kind of features is centred on the subset's
//     own mean, scaled by its deviation (Scale), and read out by L2-regularised
//     multinomial logistic regression, its λ chosen from a fixed grid by
//     stratified k-fold cross-validation on the subset, and by cosine k-NN
//     (k = 1 and 5).
//   - "scratch" trains the same conv encoder with a dense head from random
//     weights on the subset (its head reads the map pooled by ScratchPool,
//     by default not pooled: the stronger baseline); its learning rate
//     comes from the grid by the same k-fold cross-validation on the
//     labels (SelectOn). "lpft" (optional) starts
//     from the pretrained encoder and the probe's head and trains the
//     encoder at a tenth of the head's rate, with scratch's budget and rule.
//   - The gain is the mean over subsets of pretrained − scratch accuracy
//     (the pretrained encoder's logistic-regression probe), with a 95%
//     Student-t interval: the subsets are the replicates.

// ReadoutOptions configure Readout.
type ReadoutOptions struct {
	// Pretrained is a `pretext train` run folder (required).
	Pretrained string
	// Train and Test are labeled sets as Load reads them; Test may equal
	// Train for an MNIST idx folder.
	Train, Test string
	// LabelsPerClass is the size of each subset, per class (>= 2).
	LabelsPerClass int
	// Subsets is the number of label subsets (>= 2: the interval needs
	// two); subset i is drawn with Seed+i.
	Subsets int
	// Seed draws the subsets, the random encoder and scratch's weights.
	Seed int64
	// Pool average-pools the encoder's [side, side, c] output before any
	// readout: 0 over the whole map (c features), p > 0 over p×p blocks (p
	// must divide side), flattened. LP-FT's head reads the same.
	Pool int
	// ScratchPool is scratch's pooling, as Pool. It is its own option
	// because the strongest from-scratch network is a fairer baseline than
	// the probe's: on MNIST with 100 steps the flattened map (1) trains to
	// about 0.78, the globally pooled one (0) to about 0.65.
	ScratchPool int
	// TestLimit scores on the first TestLimit test images (0: all), every
	// method on the same ones.
	TestLimit int
	// Scale is the standardisation's scaling, after each feature is
	// centred on the subset's mean: ScaleGlobal or ScaleFeature.
	Scale string
	// Folds is k of the k-fold cross-validation that chooses λ and the
	// trained methods' learning rate (fewer when LabelsPerClass is smaller).
	Folds int
	// Lambdas is the L2 grid of logistic regression.
	Lambdas []float64
	// LearningRates, Steps and BatchSize are scratch's and LP-FT's budget
	// (Adam), as in Protocol.
	LearningRates    []float64
	Steps, BatchSize int
	// SelectOn says on which subsets the trained methods' learning rate is
	// cross-validated: "each" (every subset chooses its own) or "first"
	// (subset 1 chooses, every subset uses that rate: the rate is then a
	// recipe fixed on other training labels, at a tenth of the cost).
	SelectOn string
	// LPFT adds LP-FT of the pretrained encoder.
	LPFT bool
	// Task names the pretraining in the summary line; "" is the run's
	// dataset tasks joined with '+'.
	Task string
	// Backend names the GoMLX backend.
	Backend string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// DefaultReadoutOptions: 10 labels per class, 10 subsets, global pooling
// for the readouts and none for scratch, one scale for every feature, 5 folds, λ from 1e-4 to 10 by decades, scratch's DefaultProtocol budget
// with the learning rate cross-validated on every subset.
func DefaultReadoutOptions() ReadoutOptions {
	p := DefaultProtocol()
	return ReadoutOptions{LabelsPerClass: 10, Subsets: 10, Seed: 1, Folds: 5, ScratchPool: 1, Scale: ScaleGlobal,
		Lambdas:       []float64{1e-4, 1e-3, 1e-2, 1e-1, 1, 10},
		LearningRates: p.LearningRates, Steps: p.Steps, BatchSize: p.BatchSize, SelectOn: "each"}
}

// Validate reports every bad field (Pool against the encoder is checked
// once it is loaded).
func (o ReadoutOptions) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if o.Pretrained == "" {
		bad("pretrained: a pretext train run is required")
	}
	if o.Train == "" || o.Test == "" {
		bad("the labeled train and test sets are required")
	}
	if o.LabelsPerClass < 2 {
		bad("labels per class: must be >= 2 for cross-validation (got %d)", o.LabelsPerClass)
	}
	if o.Subsets < 2 {
		bad("subsets: must be >= 2 for a confidence interval (got %d)", o.Subsets)
	}
	if o.Pool < 0 {
		bad("pool: must be >= 0 (got %d)", o.Pool)
	}
	if o.ScratchPool < 0 {
		bad("scratch pool: must be >= 0 (got %d)", o.ScratchPool)
	}
	if o.TestLimit < 0 {
		bad("test limit: must be >= 0 (got %d)", o.TestLimit)
	}
	if o.Folds < 2 {
		bad("folds: must be >= 2 (got %d)", o.Folds)
	}
	if len(o.Lambdas) == 0 {
		bad("lambdas: at least one")
	}
	for _, l := range o.Lambdas {
		if !(l > 0) {
			bad("lambda %g: must be > 0", l)
		}
	}
	if len(o.LearningRates) == 0 {
		bad("learning rates: at least one")
	}
	for _, lr := range o.LearningRates {
		if !(lr > 0) {
			bad("learning rate %g: must be > 0", lr)
		}
	}
	if o.Steps < 1 || o.BatchSize < 1 {
		bad("steps (%d) and batch size (%d) must be >= 1", o.Steps, o.BatchSize)
	}
	if o.Scale != ScaleGlobal && o.Scale != ScaleFeature {
		bad("scale %q: %s or %s", o.Scale, ScaleGlobal, ScaleFeature)
	}
	if o.SelectOn != "each" && o.SelectOn != "first" {
		bad("select on %q: each or first", o.SelectOn)
	}
	if strings.ContainsAny(o.Task, " \t\n") {
		bad("task %q: no spaces (it ends the summary line)", o.Task)
	}
	return errors.Join(errs...)
}

// MethodResult is one readout's accuracy on every subset.
type MethodResult struct {
	// Method is the features and the readout ("pretrained-logreg",
	// "random-knn5", "pixels-knn1", …) or a trained method ("scratch",
	// "pretrained-lpft").
	Method string `json:"method"`
	// Accuracies are the test accuracies, subset by subset.
	Accuracies []float64 `json:"accuracies"`
	// Chosen is what cross-validation chose on each subset: λ for logistic
	// regression, the learning rate for a trained method; none for k-NN.
	Chosen []float64 `json:"chosen,omitempty"`
	// CVAccuracies are the grid's mean cross-validation accuracies, subset
	// by subset (where a choice was made).
	CVAccuracies [][]float64 `json:"cv_accuracies,omitempty"`
	// Summary is the accuracies' mean, sd, min and max.
	Summary
	// Seconds is the method's wall time, every subset together (features
	// not included).
	Seconds float64 `json:"seconds"`
}

// ReadoutReport is Readout's outcome.
type ReadoutReport struct {
	Pretrained     string     `json:"pretrained"`
	Task           string     `json:"task"`
	LabelsPerClass int        `json:"labels_per_class"`
	Subsets        int        `json:"subsets"`
	Seed           int64      `json:"seed"`
	Classes        int        `json:"classes"`
	TestSize       int        `json:"test_size"`
	Pool           int        `json:"pool"`
	Scale          string     `json:"scale"`
	ScratchPool    int        `json:"scratch_pool"`
	FeatureDims    int        `json:"feature_dims"`
	Folds          int        `json:"folds"`
	Lambdas        []float64  `json:"lambdas"`
	LearningRates  []float64  `json:"learning_rates"`
	Steps          int        `json:"steps"`
	BatchSize      int        `json:"batch_size"`
	SelectOn       string     `json:"select_on"`
	Model          model.Conv `json:"model"`
	// Methods are the readouts in a fixed order.
	Methods []MethodResult `json:"methods"`
	// Gain is the mean over subsets of pretrained-logreg − scratch, and
	// GainLow, GainHigh its 95% t-interval.
	Gain     float64 `json:"gain"`
	GainLow  float64 `json:"gain_ci_low"`
	GainHigh float64 `json:"gain_ci_high"`
	// Seconds is the whole readout's wall time.
	Seconds float64 `json:"seconds"`
}

// Method returns a method's result, or nil.
func (r *ReadoutReport) Method(name string) *MethodResult {
	for i := range r.Methods {
		if r.Methods[i].Method == name {
			return &r.Methods[i]
		}
	}
	return nil
}

// SummaryLine is the report in one line:
//
//	pretrained=ACC scratch=ACC pixels=ACC random=ACC gain=G ci=LO,HI task=NAME
//
// pretrained, pixels and random are logistic-regression probes; every
// figure is a mean over the subsets, as a fraction.
func (r *ReadoutReport) SummaryLine() string {
	mean := func(m string) float64 {
		if x := r.Method(m); x != nil {
			return x.Mean
		}
		return math.NaN()
	}
	return fmt.Sprintf("pretrained=%.4f scratch=%.4f pixels=%.4f random=%.4f gain=%.4f ci=%.4f,%.4f task=%s",
		mean("pretrained-logreg"), mean("scratch"), mean("pixels-logreg"), mean("random-logreg"),
		r.Gain, r.GainLow, r.GainHigh, r.Task)
}

// WriteTable writes a line per method: mean ± sd over the subsets, min–max,
// and what cross-validation chose (value×subsets).
func (r *ReadoutReport) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d subsets of %d labels per class, %d classes, %d test images, pool %d (%d features; scratch pool %d), %d-fold CV\n",
		r.Subsets, r.LabelsPerClass, r.Classes, r.TestSize, r.Pool, r.FeatureDims, r.ScratchPool, r.Folds)
	fmt.Fprintf(&b, "%-18s %7s %7s %7s %7s  %s\n", "method", "mean", "sd", "min", "max", "chosen by CV")
	for _, m := range r.Methods {
		fmt.Fprintf(&b, "%-18s %7.4f %7.4f %7.4f %7.4f  %s\n", m.Method, m.Mean, m.SD, m.Min, m.Max, countChosen(m.Method, m.Chosen))
	}
	fmt.Fprintf(&b, "gain (pretrained-logreg − scratch, paired over %d subsets) %+.4f, 95%% CI [%.4f, %.4f]\n",
		r.Subsets, r.Gain, r.GainLow, r.GainHigh)
	_, err := io.WriteString(w, b.String())
	return err
}

func countChosen(method string, xs []float64) string {
	if len(xs) == 0 {
		return ""
	}
	name := "lr"
	if strings.HasSuffix(method, "-logreg") {
		name = "λ"
	}
	var vals []float64
	n := map[float64]int{}
	for _, x := range xs {
		if n[x] == 0 {
			vals = append(vals, x)
		}
		n[x]++
	}
	slices.Sort(vals)
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = fmt.Sprintf("%g×%d", v, n[v])
	}
	return name + " " + strings.Join(parts, " ")
}

// Readout runs the readout protocol (see the comment at the top of this
// file) and returns its report.
func Readout(o ReadoutOptions) (*ReadoutReport, error) {
	start := time.Now()
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("finetune: bad readout options:\n%w", err)
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	pre, conv, err := LoadPretrained(o.Pretrained)
	if err != nil {
		return nil, err
	}
	task := o.Task
	if task == "" {
		if task, err = pretrainedTasks(o.Pretrained); err != nil {
			return nil, err
		}
	}
	side, _ := conv.FeatureShape()
	for _, p := range []int{o.Pool, o.ScratchPool} {
		if p > 0 && side%p != 0 {
			return nil, fmt.Errorf("finetune: pool %d must divide the encoder's %d×%d feature map (0: global average)", p, side, side)
		}
	}
	be, err := backend.Open(o.Backend, logw)
	if err != nil {
		return nil, err
	}
	defer be.Finalize()
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
	if o.TestLimit > 0 && o.TestLimit < testSet.Len() {
		first := make([]int, o.TestLimit)
		for i := range first {
			first[i] = i
		}
		testSet = testSet.Pick(first)
	}
	classes := len(trainSet.Classes)
	folds := min(o.Folds, o.LabelsPerClass)

	// The subsets, and every labeled image any of them uses (features are
	// computed once for these).
	subsets := make([][]int, o.Subsets)
	var used []int
	for i := range subsets {
		if subsets[i], err = Subset(trainSet, o.LabelsPerClass, o.Seed+int64(i)); err != nil {
			return nil, err
		}
		used = append(used, subsets[i]...)
	}
	slices.Sort(used)
	used = slices.Compact(used)
	row := make(map[int]int, len(used))
	for r, i := range used {
		row[i] = r
	}
	labeled := trainSet.Pick(used)
	fmt.Fprintf(logw, "readout: %d subsets of %d labels per class (%d distinct images), %d test images, task %s\n",
		o.Subsets, o.LabelsPerClass, len(used), testSet.Len(), task)

	// Features: the pretrained encoder frozen, the random one, the pixels.
	type kind struct {
		name      string
		lab, test *matrix
	}
	t0 := time.Now()
	frozen, err := cloneEncoder(pre, gcontext.New(), false)
	if err != nil {
		return nil, err
	}
	fp, err := convFeatures(be, frozen.Reuse(), conv, o.Pool, labeled, testSet)
	if err != nil {
		return nil, fmt.Errorf("finetune: the pretrained encoder's features: %w", err)
	}
	fr, err := convFeatures(be, newContext(o.Seed).Checked(false), conv, o.Pool, labeled, testSet)
	if err != nil {
		return nil, fmt.Errorf("finetune: the random encoder's features: %w", err)
	}
	kinds := []kind{
		{"pretrained", fp[0], fp[1]},
		{"random", fr[0], fr[1]},
		{"pixels", pixelMatrix(labeled), pixelMatrix(testSet)},
	}
	fmt.Fprintf(logw, "features: %d dims per image from each encoder, %d pixels; %.1fs\n", fp[0].cols, kinds[2].lab.cols, time.Since(t0).Seconds())

	rep := &ReadoutReport{Pretrained: o.Pretrained, Task: task, LabelsPerClass: o.LabelsPerClass, Subsets: o.Subsets,
		Seed: o.Seed, Classes: classes, TestSize: testSet.Len(), Pool: o.Pool, Scale: o.Scale, ScratchPool: o.ScratchPool, FeatureDims: fp[0].cols, Folds: folds,
		Lambdas: o.Lambdas, LearningRates: o.LearningRates, Steps: o.Steps, BatchSize: o.BatchSize, SelectOn: o.SelectOn,
		Model: conv}
	results := map[string]*MethodResult{}
	var order []string
	result := func(name string) *MethodResult {
		if r, ok := results[name]; ok {
			return r
		}
		results[name] = &MethodResult{Method: name}
		order = append(order, name)
		return results[name]
	}
	for _, k := range kinds {
		for _, m := range []string{"logreg", "knn1", "knn5"} {
			result(k.name + "-" + m)
		}
	}
	result("scratch")
	if o.LPFT {
		result("pretrained-lpft")
	}

	fnScratch := conv.Classifier(classes, classifierPool(o.ScratchPool, side))
	fnLPFT := conv.Classifier(classes, classifierPool(o.Pool, side))
	var lrScratch, lrLPFT float64 // SelectOn "first": subset 1's choice
	for s, idx := range subsets {
		rows := make([]int, len(idx))
		labels := make([]int, len(idx))
		for j, i := range idx {
			rows[j], labels[j] = row[i], trainSet.Labels[i]
		}
		foldOf := stratifiedFolds(labels, folds)
		var probe *probeFit // the pretrained encoder's, for LP-FT
		for _, k := range kinds {
			t := time.Now()
			p := fitProbe(k.lab, o.Scale, rows, labels, classes, foldOf, o.Lambdas)
			r := result(k.name + "-logreg")
			r.Accuracies = append(r.Accuracies, p.accuracy(k.test, testSet.Labels))
			r.Chosen = append(r.Chosen, p.lambda)
			r.CVAccuracies = append(r.CVAccuracies, p.cv)
			r.Seconds += time.Since(t).Seconds()
			if k.name == "pretrained" {
				probe = p
			}
			t = time.Now()
			a1, a5 := knnAccuracy(k.lab, o.Scale, rows, labels, classes, k.test, testSet.Labels)
			r1, r5 := result(k.name+"-knn1"), result(k.name+"-knn5")
			r1.Accuracies, r5.Accuracies = append(r1.Accuracies, a1), append(r5.Accuracies, a5)
			r1.Seconds += time.Since(t).Seconds() / 2
			r5.Seconds += time.Since(t).Seconds() / 2
			fmt.Fprintf(logw, "subset %d: %-10s logreg %.4f (λ %g, CV %.3f)  knn1 %.4f  knn5 %.4f\n",
				s+1, k.name, r.Accuracies[s], p.lambda, slices.Max(p.cv), a1, a5)
		}

		sub := trainSet.Pick(idx)
		seed := o.Seed + int64(s)
		trained := []trainedMethod{{"scratch", fnScratch, &lrScratch, func([]int) (*gcontext.Context, error) { return newContext(seed), nil }}}
		if o.LPFT {
			trained = append(trained, trainedMethod{"pretrained-lpft", fnLPFT, &lrLPFT, func(fit []int) (*gcontext.Context, error) {
				// The head starts as the probe fitted on these rows only, with
				// the subset's λ (so no validation fold's label reaches it).
				fr := make([]int, len(fit))
				fl := make([]int, len(fit))
				for j, i := range fit {
					fr[j], fl[j] = rows[i], labels[i]
				}
				head := fitLogisticAt(kinds[0].lab, o.Scale, fr, fl, classes, probe.lambda)
				return lpftContext(pre, seed, head)
			}})
		}
		for _, m := range trained {
			t := time.Now()
			r := result(m.name)
			lr := *m.lr
			if len(o.LearningRates) == 1 {
				lr = o.LearningRates[0]
			} else if o.SelectOn == "each" || s == 0 {
				var cv []float64
				lr, cv, err = chooseRate(be, m.fn, sub, foldOf, folds, o, seed, m.build)
				if err != nil {
					return nil, fmt.Errorf("finetune: %s, subset %d: %w", m.name, s+1, err)
				}
				r.CVAccuracies = append(r.CVAccuracies, cv)
				*m.lr = lr
			}
			all := make([]int, sub.Len())
			for i := range all {
				all[i] = i
			}
			ctx, err := m.build(all)
			if err != nil {
				return nil, err
			}
			if _, _, err := fitExamples(be, ctx, m.fn, sub, lr, o.Steps, o.BatchSize, seed); err != nil {
				return nil, fmt.Errorf("finetune: %s, subset %d: %w", m.name, s+1, err)
			}
			acc, err := accuracyOf(be, ctx, m.fn, testSet)
			if err != nil {
				return nil, err
			}
			r.Accuracies = append(r.Accuracies, acc)
			r.Chosen = append(r.Chosen, lr)
			r.Seconds += time.Since(t).Seconds()
			fmt.Fprintf(logw, "subset %d: %-15s %.4f (lr %g; %.0fs)\n", s+1, m.name, acc, lr, time.Since(t).Seconds())
		}
	}

	for _, name := range order {
		r := results[name]
		r.Summary = Summarize(r.Accuracies)
		rep.Methods = append(rep.Methods, *r)
	}
	if rep.Gain, rep.GainLow, rep.GainHigh, err = PairedGain(results["pretrained-logreg"].Accuracies, results["scratch"].Accuracies); err != nil {
		return nil, err
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// trainedMethod is a method that trains the conv classifier fn: build
// makes its starting context for a training on the subset's examples fit;
// lr holds the learning rate chosen on the first subset.
type trainedMethod struct {
	name  string
	fn    train.ModelFn
	lr    *float64
	build func(fit []int) (*gcontext.Context, error)
}

// pretrainedTasks is a run's dataset tasks, each once, joined with '+'.
func pretrainedTasks(dir string) (string, error) {
	_, st, err := loadRun(dir)
	if err != nil {
		return "", err
	}
	var tasks []string
	for _, d := range st.Config.Data {
		if !slices.Contains(tasks, d.Task) {
			tasks = append(tasks, d.Task)
		}
	}
	if len(tasks) == 0 {
		return "", fmt.Errorf("finetune: pretrained %s: its config names no dataset", dir)
	}
	return strings.Join(tasks, "+"), nil
}

// classifierPool is model.Conv.Classifier's pool for a readout pool: the
// whole side for global average pooling.
func classifierPool(pool, side int) int {
	if pool == 0 {
		return side
	}
	return pool
}

// poolFeatures average-pools z, [batch, side, side, c], as
// model.Conv.Classifier does before its head (so a probe's weights fit the
// classifier's head: LP-FT), and flattens it.
func poolFeatures(z *graph.Node, pool int) *graph.Node {
	d := z.Shape().Dimensions
	p := classifierPool(pool, d[1])
	if p > 1 {
		z = graph.ReduceMean(graph.Reshape(z, d[0], d[1]/p, p, d[2]/p, p, d[3]), 2, 4)
	}
	return graph.Reshape(z, d[0], -1)
}

// matrix is a row-major matrix of features, a row per image.
type matrix struct {
	rows, cols int
	x          []float32
}

func (m *matrix) row(i int) []float32 { return m.x[i*m.cols : (i+1)*m.cols] }

func pixelMatrix(l *Labeled) *matrix {
	return &matrix{rows: l.Len(), cols: l.Size * l.Size * l.Channels, x: l.Pixels}
}

// convFeatures is the pooled encoder output of each set, by one executor
// (ctx creates the encoder's variables at random if it has none).
func convFeatures(be backends.Backend, ctx *gcontext.Context, conv model.Conv, pool int, sets ...*Labeled) ([]*matrix, error) {
	exec, err := gcontext.NewExec(be, ctx, func(ctx *gcontext.Context, in []*graph.Node) *graph.Node {
		return poolFeatures(conv.Encode(ctx, in[0]), pool)
	})
	if err != nil {
		return nil, err
	}
	var out []*matrix
	for _, set := range sets {
		m := &matrix{rows: set.Len()}
		err := inBatches(set.Len(), func(idx []int, n int) error {
			res, err := execOn(exec, set.inputs(idx))
			if err != nil {
				return err
			}
			v, err := tensors.CopyFlatData[float32](res)
			if err != nil {
				return err
			}
			m.cols = len(v) / len(idx)
			m.x = append(m.x, v[:n*m.cols]...)
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// The standardisation's scalings. Both centre each feature on the labeled
// subset's mean. ScaleFeature then divides each by its own standard
// deviation (the z-score); ScaleGlobal divides all by one number, the root
// of their mean variance, so the features keep their relative sizes and
// only the whole vector's scale is fixed (what makes one λ grid fit every
// encoder). ScaleGlobal is the default because, on a dev split of MNIST's
// training set (images 50000–59999, in no subset; 3 subsets of 10 per
// class), the z-score cost every kind of features 3–6 points of
// logistic-regression accuracy and 5–10 of k-NN: with 100 images, a
// ReLU feature that fires on a few of them, or a pixel near the border,
// gets the weight of the strongest one (docs/trainer.md has the figures).
const (
	ScaleGlobal  = "global"
	ScaleFeature = "feature"
)

// standardizer maps a feature to (x − mean)·scale over the rows it was
// fitted on. A feature constant on those rows gets scale 0: it tells the
// readout nothing, and with the z-score dividing by a zero deviation would
// let it dominate every distance on images where it is not constant
// (MNIST's border pixels are 0 on most small subsets).
type standardizer struct{ mean, scale []float64 }

// fitStandardizer fits on rows of m with the scaling scale (ScaleGlobal or
// ScaleFeature).
func fitStandardizer(m *matrix, scale string, rows []int) standardizer {
	s := standardizer{make([]float64, m.cols), make([]float64, m.cols)}
	for _, r := range rows {
		for j, v := range m.row(r) {
			s.mean[j] += float64(v)
		}
	}
	n := float64(len(rows))
	for j := range s.mean {
		s.mean[j] /= n
	}
	for _, r := range rows {
		for j, v := range m.row(r) {
			d := float64(v) - s.mean[j]
			s.scale[j] += d * d
		}
	}
	total := 0.0
	for j, ss := range s.scale {
		total += ss / n
		if sd := math.Sqrt(ss / n); sd > 1e-6*(1+math.Abs(s.mean[j])) {
			s.scale[j] = 1 / sd
		} else {
			s.scale[j] = 0
		}
	}
	if g := math.Sqrt(total / float64(m.cols)); scale == ScaleGlobal && g > 0 {
		for j, v := range s.scale {
			if v != 0 {
				s.scale[j] = 1 / g
			}
		}
	}
	return s
}

func (s standardizer) apply(dst []float64, src []float32) {
	for j, v := range src {
		dst[j] = (float64(v) - s.mean[j]) * s.scale[j]
	}
}

// standardized is the rows of m standardized by s, row-major.
func (s standardizer) rows(m *matrix, rows []int) []float64 {
	out := make([]float64, len(rows)*m.cols)
	for k, r := range rows {
		s.apply(out[k*m.cols:(k+1)*m.cols], m.row(r))
	}
	return out
}

// stratifiedFolds assigns the j-th example of each class (in the given
// order) to fold j mod k: every fold holds each class in the same share,
// and the assignment depends on nothing but the order.
func stratifiedFolds(labels []int, k int) []int {
	seen := map[int]int{}
	out := make([]int, len(labels))
	for i, c := range labels {
		out[i] = seen[c] % k
		seen[c]++
	}
	return out
}

// probeFit is logistic regression on standardized features, with the λ
// cross-validation chose.
type probeFit struct {
	std    standardizer
	model  *logistic
	lambda float64
	cv     []float64 // mean CV accuracy per λ of the grid
}

// fitProbe chooses λ from grid by k-fold cross-validation on rows (folds
// foldOf: the recipe, standardisation included, refitted on each fold's
// training part), the highest mean accuracy winning and a tie going to the
// larger λ; then refits on every row.
func fitProbe(m *matrix, scale string, rows, labels []int, classes int, foldOf []int, grid []float64) *probeFit {
	k := slices.Max(foldOf) + 1
	// From strong to weak regularisation, each fit warm-started at the
	// previous solution.
	lambdas := slices.Clone(grid)
	slices.SortFunc(lambdas, func(a, b float64) int { return cmp.Compare(b, a) })
	correct := make([]int, len(lambdas))
	for f := range k {
		var fr, fl, vr, vl []int
		for i, r := range rows {
			if foldOf[i] == f {
				vr, vl = append(vr, r), append(vl, labels[i])
			} else {
				fr, fl = append(fr, r), append(fl, labels[i])
			}
		}
		std := fitStandardizer(m, scale, fr)
		x := std.rows(m, fr)
		var prev *logistic
		buf := make([]float64, m.cols)
		for li, l := range lambdas {
			prev = fitLogistic(x, fl, m.cols, classes, l, prev)
			for j, r := range vr {
				std.apply(buf, m.row(r))
				if prev.predict(buf) == vl[j] {
					correct[li]++
				}
			}
		}
	}
	best := 0
	for li := range lambdas {
		if correct[li] > correct[best] {
			best = li
		}
	}
	p := fitLogisticAt(m, scale, rows, labels, classes, lambdas[best])
	// Report the CV accuracies in the grid's own order.
	for _, l := range grid {
		li := slices.Index(lambdas, l)
		p.cv = append(p.cv, float64(correct[li])/float64(len(rows)))
	}
	return p
}

// fitLogisticAt standardizes on rows and fits at λ from zero weights (the
// objective is strictly convex: the start changes only the iterations).
func fitLogisticAt(m *matrix, scale string, rows, labels []int, classes int, lambda float64) *probeFit {
	std := fitStandardizer(m, scale, rows)
	return &probeFit{std: std, model: fitLogistic(std.rows(m, rows), labels, m.cols, classes, lambda, nil), lambda: lambda}
}

func (p *probeFit) accuracy(m *matrix, labels []int) float64 {
	buf := make([]float64, m.cols)
	correct := 0
	for i := range m.rows {
		p.std.apply(buf, m.row(i))
		if p.model.predict(buf) == labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(max(m.rows, 1))
}

// logistic is multinomial logistic regression: logits W·x + b.
type logistic struct {
	classes, dim int
	w            []float64 // [classes][dim]
	b            []float64
	iters        int
}

func (l *logistic) logits(dst, x []float64) {
	for c := range l.classes {
		s := l.b[c]
		w := l.w[c*l.dim : (c+1)*l.dim]
		for j, v := range x {
			s += w[j] * v
		}
		dst[c] = s
	}
}

// predict is the class of the largest logit (the first on a tie).
func (l *logistic) predict(x []float64) int {
	z := make([]float64, l.classes)
	l.logits(z, x)
	best := 0
	for c, v := range z {
		if v > z[best] {
			best = c
		}
	}
	return best
}

// Logistic regression's solver: L-BFGS on the mean cross-entropy plus
// λ/2·‖W‖² (the bias not penalised), which is strictly convex in W, so the
// solution does not depend on the start; it stops when the gradient's
// largest component is under logisticTol or after logisticMaxIter
// iterations. Everything is sequential float64 arithmetic: the same input
// gives the same bits.
const (
	logisticTol     = 1e-6
	logisticMaxIter = 1000
	lbfgsMemory     = 10
)

// fitLogistic fits on x, [n][dim] row-major, and y, starting from init (nil:
// zeros).
func fitLogistic(x []float64, y []int, dim, classes int, lambda float64, init *logistic) *logistic {
	n := len(y)
	np := classes*dim + classes
	theta := make([]float64, np)
	if init != nil {
		copy(theta, init.w)
		copy(theta[classes*dim:], init.b)
	}
	z := make([]float64, classes)
	// eval returns the objective at th and its gradient in g.
	eval := func(th, g []float64) float64 {
		clear(g)
		w, b := th[:classes*dim], th[classes*dim:]
		gw, gb := g[:classes*dim], g[classes*dim:]
		f := 0.0
		for i := range n {
			xi := x[i*dim : (i+1)*dim]
			mx := math.Inf(-1)
			for c := range classes {
				s := b[c]
				wc := w[c*dim : (c+1)*dim]
				for j, v := range xi {
					s += wc[j] * v
				}
				z[c] = s
				mx = max(mx, s)
			}
			sum := 0.0
			for c := range classes {
				z[c] = math.Exp(z[c] - mx)
				sum += z[c]
			}
			f += math.Log(sum) + mx - (math.Log(z[y[i]]) + mx)
			for c := range classes {
				p := z[c] / sum
				if c == y[i] {
					p--
				}
				if p == 0 {
					continue
				}
				p /= float64(n)
				gb[c] += p
				gc := gw[c*dim : (c+1)*dim]
				for j, v := range xi {
					gc[j] += p * v
				}
			}
		}
		f /= float64(n)
		for j, v := range w {
			f += lambda / 2 * v * v
			gw[j] += lambda * v
		}
		return f
	}
	g := make([]float64, np)
	f := eval(theta, g)
	var ss, ys [][]float64
	var rhos []float64
	d := make([]float64, np)
	next, gNext := make([]float64, np), make([]float64, np)
	alpha := make([]float64, lbfgsMemory)
	iter := 0
	for ; iter < logisticMaxIter; iter++ {
		if maxAbs(g) < logisticTol {
			break
		}
		// Two-loop recursion: d = −H·g.
		for j := range d {
			d[j] = -g[j]
		}
		for k := len(ss) - 1; k >= 0; k-- {
			alpha[k] = rhos[k] * dot(ss[k], d)
			axpy(-alpha[k], ys[k], d)
		}
		if k := len(ss) - 1; k >= 0 {
			scale(dot(ss[k], ys[k])/dot(ys[k], ys[k]), d)
		} else {
			scale(1/math.Max(1, math.Sqrt(dot(g, g))), d)
		}
		for k := range ss {
			beta := rhos[k] * dot(ys[k], d)
			axpy(alpha[k]-beta, ss[k], d)
		}
		gd := dot(g, d)
		if gd >= 0 { // not a descent direction: restart from the gradient
			ss, ys, rhos = nil, nil, nil
			for j := range d {
				d[j] = -g[j]
			}
			gd = dot(g, d)
		}
		// Backtracking (Armijo) line search from the full step.
		step, fNext := 1.0, 0.0
		for range 60 {
			for j := range next {
				next[j] = theta[j] + step*d[j]
			}
			if fNext = eval(next, gNext); fNext <= f+1e-4*step*gd {
				break
			}
			step /= 2
		}
		s, yv := make([]float64, np), make([]float64, np)
		for j := range s {
			s[j], yv[j] = next[j]-theta[j], gNext[j]-g[j]
		}
		if sy := dot(s, yv); sy > 1e-12 {
			if len(ss) == lbfgsMemory {
				ss, ys, rhos = ss[1:], ys[1:], rhos[1:]
			}
			ss, ys, rhos = append(ss, s), append(ys, yv), append(rhos, 1/sy)
		}
		converged := f-fNext <= 1e-12*math.Max(1, math.Abs(f))
		theta, next = next, theta
		g, gNext = gNext, g
		f = fNext
		if converged {
			iter++
			break
		}
	}
	return &logistic{classes: classes, dim: dim, w: theta[:classes*dim], b: theta[classes*dim:], iters: iter}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func axpy(a float64, x, y []float64) {
	for i, v := range x {
		y[i] += a * v
	}
}

func scale(a float64, x []float64) {
	for i := range x {
		x[i] *= a
	}
}

func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(v))
	}
	return m
}

// knnAccuracy is the test accuracy of cosine k-NN, k = 1 and 5, on
// features standardized (scale) by the labeled rows' statistics. Neighbours are
// ranked by similarity, equal similarities by the labeled row's order; the
// 5 vote by majority, a tie going to the class whose voters' similarities
// sum higher, then to the lower class.
func knnAccuracy(m *matrix, scale string, rows, labels []int, classes int, test *matrix, testLabels []int) (acc1, acc5 float64) {
	std := fitStandardizer(m, scale, rows)
	ref := std.rows(m, rows)
	for k := range rows {
		unit(ref[k*m.cols : (k+1)*m.cols])
	}
	buf := make([]float64, m.cols)
	sims := make([]float64, len(rows))
	c1, c5 := 0, 0
	for i := range test.rows {
		std.apply(buf, test.row(i))
		unit(buf)
		for k := range rows {
			sims[k] = dot(ref[k*m.cols:(k+1)*m.cols], buf)
		}
		p1, p5 := knnVote(sims, labels, classes)
		if p1 == testLabels[i] {
			c1++
		}
		if p5 == testLabels[i] {
			c5++
		}
	}
	n := float64(max(test.rows, 1))
	return float64(c1) / n, float64(c5) / n
}

// knnVote is the 1-NN and 5-NN predictions from the similarities to the
// labeled rows (see knnAccuracy for the ties).
func knnVote(sims []float64, labels []int, classes int) (p1, p5 int) {
	const k = 5
	top := make([]int, 0, k+1) // indices, most similar first
	for i, s := range sims {
		at := len(top)
		for at > 0 && s > sims[top[at-1]] {
			at--
		}
		if at < k {
			top = slices.Insert(top, at, i)
			if len(top) > k {
				top = top[:k]
			}
		}
	}
	votes := make([]int, classes)
	sum := make([]float64, classes)
	for _, i := range top {
		votes[labels[i]]++
		sum[labels[i]] += sims[i]
	}
	p5 = 0
	for c := 1; c < classes; c++ {
		if votes[c] > votes[p5] || (votes[c] == votes[p5] && sum[c] > sum[p5]) {
			p5 = c
		}
	}
	return labels[top[0]], p5
}

// unit scales x to length 1 (a zero vector stays zero).
func unit(x []float64) {
	if n := math.Sqrt(dot(x, x)); n > 0 {
		scale(1/n, x)
	}
}

// chooseRate cross-validates a trained method's learning rate on sub
// (folds foldOf, k of them): for each rate of the grid, k trainings on the
// other folds, each scored on its fold; the best mean accuracy wins, a tie
// going to the earlier rate in the grid. It returns the rate and the
// grid's mean accuracies.
func chooseRate(be backends.Backend, fn train.ModelFn, sub *Labeled, foldOf []int, k int,
	o ReadoutOptions, seed int64, build func(fit []int) (*gcontext.Context, error)) (float64, []float64, error) {
	var cv []float64
	best := 0
	for li, lr := range o.LearningRates {
		correct := 0.0
		for f := range k {
			var fit, val []int
			for i, fo := range foldOf {
				if fo == f {
					val = append(val, i)
				} else {
					fit = append(fit, i)
				}
			}
			ctx, err := build(fit)
			if err != nil {
				return 0, nil, err
			}
			if _, _, err := fitExamples(be, ctx, fn, sub.Pick(fit), lr, o.Steps, o.BatchSize, seed); err != nil {
				return 0, nil, fmt.Errorf("learning rate %g, fold %d: %w", lr, f+1, err)
			}
			acc, err := accuracyOf(be, ctx, fn, sub.Pick(val))
			if err != nil {
				return 0, nil, err
			}
			correct += acc * float64(len(val))
		}
		cv = append(cv, correct/float64(sub.Len()))
		if cv[li] > cv[best] {
			best = li
		}
	}
	return o.LearningRates[best], cv, nil
}

// LP-FT (Kumar et al. 2022, "Fine-tuning can distort pretrained features"):
// the head starts as a linear probe's, so the first steps do not push a
// random head's errors into the encoder, and the encoder moves at
// lpftEncoderRate of the head's learning rate.
const lpftEncoderRate = 0.1

// paramEncoderRate is the context parameter that scales the encoder's
// learning rate in fitExamples (absent: 1).
const paramEncoderRate = "finetune_encoder_rate"

// lpftContext is a context holding the pretrained encoder, trainable, and
// the classifier's head set to the probe's: the probe reads standardized
// features, (z − mean)·scale, so the head on z has weights W·scale and
// biases b − W·(mean·scale).
func lpftContext(pre *gcontext.Context, seed int64, p *probeFit) (*gcontext.Context, error) {
	ctx, err := cloneEncoder(pre, newContext(seed), true)
	if err != nil {
		return nil, err
	}
	ctx.SetParam(paramEncoderRate, lpftEncoderRate)
	m := p.model
	w := make([]float32, m.dim*m.classes) // [dim][classes], as layers.Dense keeps it
	b := make([]float32, m.classes)
	for c := range m.classes {
		bias := m.b[c]
		for j := range m.dim {
			wj := m.w[c*m.dim+j] * p.std.scale[j]
			w[j*m.classes+c] = float32(wj)
			bias -= wj * p.std.mean[j]
		}
		b[c] = float32(bias)
	}
	head := ctx.In("head").In("dense")
	head.VariableWithValue("weights", tensors.FromFlatDataAndDimensions(w, m.dim, m.classes))
	head.VariableWithValue("biases", tensors.FromFlatDataAndDimensions(b, m.classes))
	return ctx, nil
}

// optimizerFor is fitExamples' optimizer: Adam at lr, the encoder's
// variables at lr times the context's paramEncoderRate when it is set.
func optimizerFor(ctx *gcontext.Context, lr float64) optimizers.Interface {
	adam := optimizers.Adam().LearningRate(lr).Done()
	if f := gcontext.GetParamOr(ctx, paramEncoderRate, 1.0); f != 1 {
		return slowEncoder{adam, f}
	}
	return adam
}

// slowEncoder scales inner's step on the encoder's variables by factor.
// Scaling the gradient would not do: Adam divides it by its own running
// magnitude; scaling the step is Adam at factor × the rate (no weight decay).
type slowEncoder struct {
	inner  optimizers.Interface
	factor float64
}

func (o slowEncoder) UpdateGraph(ctx *gcontext.Context, g *graph.Graph, loss *graph.Node) {
	var vars []*gcontext.Variable
	var before []*graph.Node
	for v := range ctx.InAbsPath("/" + model.EncoderScope).IterVariablesInScope() {
		if v.Trainable && v.InUseByGraph(g) {
			vars, before = append(vars, v), append(before, v.ValueGraph(g))
		}
	}
	o.inner.UpdateGraph(ctx, g, loss)
	for i, v := range vars {
		v.SetValueGraph(graph.Add(before[i], graph.MulScalar(graph.Sub(v.ValueGraph(g), before[i]), o.factor)))
	}
}

func (o slowEncoder) Clear(ctx *gcontext.Context) error { return o.inner.Clear(ctx) }
