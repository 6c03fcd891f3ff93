package finetune

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/pretext-dev/pretext/trainer/backend"
	"github.com/pretext-dev/pretext/trainer/internal/shardtest"
	"github.com/pretext-dev/pretext/trainer/model"
	ptrain "github.com/pretext-dev/pretext/trainer/train"
)

// blobs is n points per class around the corners of a simplex in dim
// dimensions (class c's centre at sep on axis c), with unit Gaussian noise:
// linearly separable for a large sep.
func blobs(classes, n, dim int, sep float64, seed uint64) (*matrix, []int) {
	rng := rand.New(rand.NewPCG(seed, 9))
	m := &matrix{rows: classes * n, cols: dim}
	var labels []int
	for c := range classes {
		for range n {
			for j := range dim {
				v := rng.NormFloat64()
				if j == c {
					v += sep
				}
				m.x = append(m.x, float32(v))
			}
			labels = append(labels, c)
		}
	}
	return m, labels
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestLogisticSeparable: on well separated blobs the probe fits its rows
// exactly and generalises, its solver converges (gradient under the
// tolerance before the iteration cap), and cross-validation's choice and
// the weights are the same bits on a second run.
func TestLogisticSeparable(t *testing.T) {
	m, labels := blobs(3, 20, 5, 8, 1)
	test, testLabels := blobs(3, 50, 5, 8, 2)
	grid := []float64{1e-4, 1e-2, 1}
	folds := stratifiedFolds(labels, 5)
	p := fitProbe(m, ScaleGlobal, seq(m.rows), labels, 3, folds, grid)
	if acc := p.accuracy(m, labels); acc != 1 {
		t.Errorf("training accuracy %v, want 1 on separable blobs", acc)
	}
	if acc := p.accuracy(test, testLabels); acc < 0.97 {
		t.Errorf("test accuracy %v, want >= 0.97", acc)
	}
	if p.model.iters >= logisticMaxIter {
		t.Errorf("λ %g: the solver hit the %d-iteration cap", p.lambda, logisticMaxIter)
	}
	if len(p.cv) != len(grid) || !slices.Contains(grid, p.lambda) {
		t.Errorf("λ %g, CV accuracies %v: want one of %v and one accuracy each", p.lambda, p.cv, grid)
	}
	again := fitProbe(m, ScaleGlobal, seq(m.rows), labels, 3, folds, grid)
	if again.lambda != p.lambda || !slices.Equal(again.cv, p.cv) || !slices.Equal(again.model.w, p.model.w) {
		t.Errorf("a second run chose λ %g (CV %v), the first %g (CV %v), or different weights", again.lambda, again.cv, p.lambda, p.cv)
	}
	// The rule: the best CV accuracy, a tie going to the larger λ.
	best := slices.Max(p.cv)
	for i, l := range grid {
		if p.cv[i] == best && l > p.lambda || p.cv[i] > best {
			t.Errorf("λ %g chosen with CV %v over %v: want the largest λ of the best", p.lambda, p.cv, grid)
		}
	}
	t.Logf("separable: λ %g, CV %v, %d iterations", p.lambda, p.cv, p.model.iters)
	// Overlapping blobs in 200 dimensions, z-scored: here CV accuracy
	// falls as λ grows (0.75, 0.725, 0.7, 0.675), so the rule must pick
	// the weakest.
	m, labels = blobs(2, 20, 200, 1.5, 3)
	grid = []float64{1e-4, 1e-2, 1, 100}
	p = fitProbe(m, ScaleFeature, seq(m.rows), labels, 2, stratifiedFolds(labels, 5), grid)
	if p.lambda != 1e-4 || !slices.Equal(p.cv, []float64{0.75, 0.725, 0.7, 0.675}) {
		t.Errorf("overlapping blobs: λ %g, CV %v: want 1e-4 and [0.75 0.725 0.7 0.675]", p.lambda, p.cv)
	}
}

// TestLogisticOptimum: at the solver's solution the objective's gradient
// vanishes (checked by central differences, not by the solver's own
// gradient), so λ really is the objective's.
func TestLogisticOptimum(t *testing.T) {
	m, labels := blobs(3, 6, 4, 1, 4)
	std := fitStandardizer(m, ScaleFeature, seq(m.rows))
	x := std.rows(m, seq(m.rows))
	const lambda = 0.05
	l := fitLogistic(x, labels, 4, 3, lambda, nil)
	obj := func() float64 {
		f := 0.0
		z := make([]float64, 3)
		for i := range labels {
			l.logits(z, x[i*4:(i+1)*4])
			mx := slices.Max(z)
			s := 0.0
			for _, v := range z {
				s += math.Exp(v - mx)
			}
			f += math.Log(s) + mx - z[labels[i]]
		}
		f /= float64(len(labels))
		for _, w := range l.w {
			f += lambda / 2 * w * w
		}
		return f
	}
	for _, p := range []*float64{&l.w[0], &l.w[5], &l.w[11], &l.b[1]} {
		const h = 1e-5
		v := *p
		*p = v + h
		up := obj()
		*p = v - h
		down := obj()
		*p = v
		if g := (up - down) / (2 * h); math.Abs(g) > 1e-5 {
			t.Errorf("gradient %g at the solution, want ~0", g)
		}
	}
}

// TestStandardizeLabeledOnly: the test images are shifted far from the
// labeled ones. Standardized with the labeled subset's statistics they stay
// on class 1's side; standardized with their own, half would cross to
// class 0 (accuracy about 0.5). A feature constant on the labeled subset
// is dropped, so its large test values cannot sway the cosine neighbours.
func TestStandardizeLabeledOnly(t *testing.T) {
	lab := &matrix{rows: 4, cols: 2, x: []float32{-1, 0, -1.2, 0, 1, 0, 1.2, 0}}
	labels := []int{0, 0, 1, 1}
	test := &matrix{rows: 6, cols: 2}
	for i := range 6 {
		// Feature 0 from 2 to 7, all class 1; feature 1, constant (0)
		// on the labeled rows, is large and alternating here.
		test.x = append(test.x, float32(2+i), float32(50*(1-2*(i%2))))
	}
	testLabels := []int{1, 1, 1, 1, 1, 1}
	// Feature 0's variance is 1.22, feature 1's 0: the z-score divides
	// feature 0 by √1.22, the global scale by √((1.22+0)/2).
	for scale, want := range map[string]float64{ScaleFeature: 1 / math.Sqrt(1.22), ScaleGlobal: 1 / math.Sqrt(0.61)} {
		std := fitStandardizer(lab, scale, seq(4))
		if std.mean[0] != 0 || math.Abs(std.scale[0]-want) > 1e-6 || std.scale[1] != 0 {
			t.Errorf("%s: standardizer %+v: want the labeled rows' mean 0, scale %.4f, and feature 1 dropped", scale, std, want)
		}
		p := fitProbe(lab, scale, seq(4), labels, 2, stratifiedFolds(labels, 2), []float64{0.01})
		if acc := p.accuracy(test, testLabels); acc != 1 {
			t.Errorf("%s: probe test accuracy %v, want 1 (the test set's own statistics would give ~0.5)", scale, acc)
		}
		// 5-NN of 4 labeled rows: a 2–2 vote, the summed similarity decides.
		if a1, a5 := knnAccuracy(lab, scale, seq(4), labels, 2, test, testLabels); a1 != 1 || a5 != 1 {
			t.Errorf("%s: k-NN test accuracy %v (k 1), %v (k 5), want 1", scale, a1, a5)
		}
	}
}

// TestKNNCosine: a test point whose direction is a small reference's but
// which is nearer, in distance, to a large one: cosine k-NN takes the
// direction. Then the vote's ties, by hand.
func TestKNNCosine(t *testing.T) {
	lab := &matrix{rows: 6, cols: 2, x: []float32{1, 1, -1, -1, 1, -1, -1, 1, 0.2, 0.1, -0.2, -0.1}}
	labels := []int{0, 1, 2, 3, 4, 4}
	test := &matrix{rows: 1, cols: 2, x: []float32{3, 1.6}}
	for _, scale := range []string{ScaleGlobal, ScaleFeature} {
		// The Euclidean nearest, standardized alike, is row 0 (class 0).
		std := fitStandardizer(lab, scale, seq(6))
		q := std.rows(test, []int{0})
		ref := std.rows(lab, seq(6))
		dist := func(r int) float64 { return math.Hypot(q[0]-ref[2*r], q[1]-ref[2*r+1]) }
		if dist(0) >= dist(4) {
			t.Fatalf("%s: the example is wrong: distance to row 0 %v, to row 4 %v", scale, dist(0), dist(4))
		}
		for _, want := range []int{4, 0} {
			a1, a5 := knnAccuracy(lab, scale, seq(6), labels, 5, test, []int{want})
			if wantAcc := map[bool]float64{true: 1, false: 0}[want == 4]; a1 != wantAcc || a5 != wantAcc {
				t.Errorf("%s, label %d: 1-NN accuracy %v, 5-NN %v, want %v (the 5 nearest tie 1–1–1–1–1; class 4's similarity is the highest)", scale, want, a1, a5, wantAcc)
			}
		}
	}
	for _, c := range []struct {
		sims   []float64
		labels []int
		p1, p5 int
	}{
		// Top 5: 0,1,2,4,3 → classes 0,1,1,2,0: 0 and 1 tie 2–2, 1's
		// similarities sum higher (1.65 vs 1.2).
		{[]float64{0.9, 0.85, 0.8, 0.3, 0.5, 0.1}, []int{0, 1, 1, 0, 2, 2}, 0, 1},
		// Equal similarities: the earlier row is nearer; a 2–2 tie with
		// equal sums goes to the lower class.
		{[]float64{0.5, 0.5, 0.5, 0.5, 0.5}, []int{1, 0, 0, 1, 2}, 1, 0},
		// A clear majority beats a nearer neighbour.
		{[]float64{0.99, 0.5, 0.6, 0.7, 0.1}, []int{2, 1, 1, 1, 2}, 2, 1},
	} {
		if p1, p5 := knnVote(c.sims, c.labels, 3); p1 != c.p1 || p5 != c.p5 {
			t.Errorf("knnVote(%v, %v) = %d, %d, want %d, %d", c.sims, c.labels, p1, p5, c.p1, c.p5)
		}
	}
}

func TestStratifiedFolds(t *testing.T) {
	got := stratifiedFolds([]int{0, 0, 0, 1, 1, 1, 1, 2}, 3)
	if want := []int{0, 1, 2, 0, 1, 2, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("folds %v, want %v", got, want)
	}
}

// pretrainedRun trains a tiny conv encoder for a few steps of denoising
// and returns its run folder, with folders of 3-class 16×16 bar images:
// train (n per class) and test (10 per class).
func pretrainedRun(t *testing.T, n int) (run, trainDir, testDir string) {
	t.Helper()
	dir := t.TempDir()
	trainDir, testDir = filepath.Join(dir, "train"), filepath.Join(dir, "test")
	writeClasses(t, trainDir, 3, n, 1)
	writeClasses(t, testDir, 3, 10, 2)
	if _, err := shardtest.Images(filepath.Join(dir, "shards"), "denoise", 1, 16, 16, 3); err != nil {
		t.Fatal(err)
	}
	cfg := ptrain.Default()
	cfg.Output = filepath.Join(dir, "run")
	cfg.Model = model.Conv{Channels: []int{4, 8}, InChannels: 1, Size: 16}
	cfg.Data = []ptrain.Dataset{{Dir: filepath.Join(dir, "shards"), Task: "denoise", Loss: "l2", Region: "all"}}
	cfg.Train = ptrain.Schedule{Steps: 4, BatchSize: 4, LearningRate: 1e-2, ShuffleBuffer: 4, CheckpointEvery: 4, Keep: 1, LogEvery: 4}
	if _, err := ptrain.Run(context.Background(), cfg, ptrain.Options{}); err != nil {
		t.Fatal(err)
	}
	return cfg.Output, trainDir, testDir
}

// TestReadout end to end on bars: every method on every subset, the
// gain's interval around the gain, and the summary line's format.
func TestReadout(t *testing.T) {
	run, trainDir, testDir := pretrainedRun(t, 12)
	o := DefaultReadoutOptions()
	o.Pretrained, o.Train, o.Test = run, trainDir, testDir
	o.LabelsPerClass, o.Subsets, o.Folds, o.Steps, o.BatchSize = 4, 3, 2, 15, 8
	o.LearningRates, o.LPFT, o.Lambdas, o.TestLimit = []float64{1e-2, 3e-2}, true, []float64{1e-2, 1}, 24
	var log strings.Builder
	o.Log = &log
	rep, err := Readout(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(log.String())
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Log(table.String())
	var names []string
	for _, m := range rep.Methods {
		names = append(names, m.Method)
		if len(m.Accuracies) != 3 {
			t.Errorf("%s: %d accuracies, want one per subset (3)", m.Method, len(m.Accuracies))
		}
	}
	want := []string{"pretrained-logreg", "pretrained-knn1", "pretrained-knn5", "random-logreg", "random-knn1", "random-knn5",
		"pixels-logreg", "pixels-knn1", "pixels-knn5", "scratch", "pretrained-lpft"}
	if !slices.Equal(names, want) {
		t.Errorf("methods %v, want %v", names, want)
	}
	if a := rep.Method("pixels-logreg").Mean; a < 0.75 {
		t.Errorf("pixels-logreg %.3f, want >= 0.75 on bars", a)
	}
	if !(rep.GainLow <= rep.Gain && rep.Gain <= rep.GainHigh) {
		t.Errorf("gain %v outside its interval [%v, %v]", rep.Gain, rep.GainLow, rep.GainHigh)
	}
	if rep.FeatureDims != 8 || rep.Folds != 2 || rep.TestSize != 24 {
		t.Errorf("feature dims %d, folds %d, test size %d: want 8 (global pooling of 8 channels), 2 and 24", rep.FeatureDims, rep.Folds, rep.TestSize)
	}
	line := rep.SummaryLine()
	re := regexp.MustCompile(`^pretrained=[01]\.\d{4} scratch=[01]\.\d{4} pixels=[01]\.\d{4} random=[01]\.\d{4} gain=-?[01]\.\d{4} ci=-?[01]\.\d{4},-?[01]\.\d{4} task=denoise$`)
	if !re.MatchString(line) {
		t.Errorf("summary line %q does not match %s", line, re)
	}
	t.Log(line)
}

// TestLPFTHead: the LP-FT classifier, before any training step, predicts
// as the probe does: the standardisation is folded into the head exactly.
func TestLPFTHead(t *testing.T) {
	run, trainDir, _ := pretrainedRun(t, 8)
	pre, conv, err := LoadPretrained(run)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(trainDir, "train", conv.Size, conv.InChannels)
	if err != nil {
		t.Fatal(err)
	}
	be, err := backend.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Finalize()
	for _, pool := range []int{0, 2} {
		frozen, err := cloneEncoder(pre, newContext(1), false)
		if err != nil {
			t.Fatal(err)
		}
		f, err := convFeatures(be, frozen.Reuse(), conv, pool, set)
		if err != nil {
			t.Fatal(err)
		}
		fit := seq(12) // classes 0 and the first half of 1: the rest are unseen
		p := fitLogisticAt(f[0], ScaleFeature, fit, set.Labels[:12], 3, 1e-3)
		ctx, err := lpftContext(pre, 1, p)
		if err != nil {
			t.Fatal(err)
		}
		side, _ := conv.FeatureShape()
		got, err := accuracyOf(be, ctx, conv.Classifier(3, classifierPool(pool, side)), set)
		if err != nil {
			t.Fatal(err)
		}
		if want := p.accuracy(f[0], set.Labels); got != want {
			t.Errorf("pool %d: the LP-FT classifier's accuracy before training %v, the probe's %v", pool, got, want)
		}
	}
}

// TestSlowEncoder: with the encoder rate at 0.1, one Adam step moves the
// encoder's weights a tenth as far as at rate 1 (Adam's first step is
// lr·sign(g) on a weight whose gradient is not ~0), and the head as far.
func TestSlowEncoder(t *testing.T) {
	run, trainDir, _ := pretrainedRun(t, 4)
	pre, conv, err := LoadPretrained(run)
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(trainDir, "train", conv.Size, conv.InChannels)
	if err != nil {
		t.Fatal(err)
	}
	be, err := backend.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Finalize()
	moved := func(rate float64) (enc, head float64) {
		ctx, err := cloneEncoder(pre, newContext(1), true)
		if err != nil {
			t.Fatal(err)
		}
		if rate != 1 {
			ctx.SetParam(paramEncoderRate, rate)
		}
		weights := func() []float32 {
			v, err := tensors.CopyFlatData[float32](ctx.InAbsPath("/encoder/c0/conv").GetVariable("weights").MustValue())
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		before := weights()
		if _, _, err := fitExamples(be, ctx, conv.Classifier(3, 1), set, 1e-2, 1, 4, 1); err != nil {
			t.Fatal(err)
		}
		for i, w := range weights() {
			enc = max(enc, math.Abs(float64(w-before[i])))
		}
		hb, err := tensors.CopyFlatData[float32](ctx.InAbsPath("/head/dense").GetVariable("biases").MustValue())
		if err != nil {
			t.Fatal(err)
		}
		return enc, math.Abs(float64(hb[0]))
	}
	e1, h1 := moved(1)
	e01, h01 := moved(0.1)
	if math.Abs(e1-1e-2) > 1e-4 || math.Abs(e01-1e-3) > 1e-5 || math.Abs(h1-h01) > 1e-6 {
		t.Errorf("one step moved an encoder weight %g at rate 1 and %g at 0.1 (want 0.01 and 0.001), a head bias %g and %g (want equal)", e1, e01, h1, h01)
	}
}

func TestReadoutValidate(t *testing.T) {
	o := DefaultReadoutOptions()
	o.LabelsPerClass, o.Subsets, o.Pool, o.SelectOn, o.Lambdas, o.Scale = 1, 1, -1, "all", []float64{0}, "z"
	err := o.Validate()
	for _, want := range []string{"pretrained", "train and test", "labels per class", "subsets", "pool", "select on", "lambda 0", "scale"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %q", err, want)
		}
	}
}
