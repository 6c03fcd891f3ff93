package finetune

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	gcontext "github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/train"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/trainer/backend"
	"github.com/pretext-dev/pretext/trainer/model"
	ptrain "github.com/pretext-dev/pretext/trainer/train"
	"github.com/pretext-dev/pretext/transforms/text"
)

// TextOptions configure a text fine-tuning benchmark: a BERT pretrained by
// `pretext train` (a config with a bert: section) classifies documents.
type TextOptions struct {
	// Pretrained is the BERT run folder (or its checkpoints/ folder): its
	// encoder, model configuration and vocabulary are used by every method,
	// the baselines included (scratch is the same network, bow counts the
	// same tokens).
	Pretrained string
	// Vocab overrides the vocabulary file the run's config names (the
	// pipeline's text.vocab), e.g. when the run was made elsewhere.
	Vocab string
	// Train and Test are folders with one subfolder of .txt documents per
	// class (see LoadText). An empty Test reads Train/train and Train/test.
	Train, Test string
	// Protocol is as in Options; Modes' linear is logistic regression on
	// the frozen encoder's pooled features, standardized over the labeled
	// subset; the baselines are "scratch" (the same classifier, random
	// weights) and "bow" (logistic regression on log(1+count) of the tokens).
	Protocol
	// Pooling turns the encoder's states into the head's input:
	// model.PoolMean or model.PoolCLS.
	Pooling string
	// MaxLen truncates every document to this many tokens, [CLS] and [SEP]
	// included; 0 means the model's max_positions.
	MaxLen int
	// Backend names the GoMLX backend.
	Backend string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// DefaultTextOptions: DefaultProtocol with the scratch and bow baselines,
// mean pooling and the model's length.
func DefaultTextOptions() TextOptions {
	return TextOptions{Protocol: DefaultProtocol("scratch", "bow"), Pooling: model.PoolMean}
}

// Validate reports every bad field.
func (o TextOptions) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if o.Train == "" {
		bad("the labeled documents (--data) are required")
	}
	if o.Pretrained == "" {
		bad("text fine-tuning needs a BERT run (--pretrained): its vocabulary and architecture serve every method")
	}
	o.check(bad, "scratch", "bow")
	if err := model.CheckPooling(o.Pooling); err != nil {
		bad("%v", err)
	}
	if o.MaxLen != 0 && o.MaxLen < 3 {
		bad("max length: must be >= 3 ([CLS], a token, [SEP]) or 0 for the model's (got %d)", o.MaxLen)
	}
	return errors.Join(errs...)
}

// TextReport is a text benchmark's outcome; its rows are those of Report.
type TextReport struct {
	Pretrained     string   `json:"pretrained"`
	PretrainSteps  int      `json:"pretrain_steps"`
	Vocab          string   `json:"vocab"`
	VocabSize      int      `json:"vocab_size"`
	LowerCase      bool     `json:"lower_case"`
	MaxLen         int      `json:"max_len"`
	Pooling        string   `json:"pooling"`
	LabelsPerClass int      `json:"labels_per_class"`
	ValPerClass    int      `json:"val_per_class"`
	Classes        []string `json:"classes"`
	TrainSize      int      `json:"train_size"`
	TestSize       int      `json:"test_size"`
	// Truncated counts the test documents longer than MaxLen tokens.
	Truncated     int        `json:"test_truncated"`
	Steps         int        `json:"steps"`
	BatchSize     int        `json:"batch_size"`
	LearningRates []float64  `json:"learning_rates"`
	Seed          int64      `json:"seed"`
	Model         model.BERT `json:"model"`
	Rows          []Row      `json:"rows"`
	// Best is the pretrained mode with the best validation accuracy.
	Best string `json:"best_pretrained"`
}

// Row returns the row of a method, or nil.
func (r *TextReport) Row(method string) *Row { return findRow(r.Rows, method) }

// ErrNotBERT is returned for a run folder whose checkpoint is not of a BERT
// (e.g. the image encoder–decoder's).
var ErrNotBERT = errors.New("not a BERT pretraining run")

// PretrainedBERT is a BERT pretraining run's last checkpoint.
type PretrainedBERT struct {
	// Ctx holds the checkpoint's variables.
	Ctx *gcontext.Context
	// Model is the run's BERT, Step its last step.
	Model model.BERT
	Step  int
	// VocabPath is the vocabulary the run trained with, Vocab the
	// vocabulary read from it; LowerCase is the text pipeline's
	// text.lower_case (from the shards' manifest; true when it can't be
	// read, as bert-base-uncased).
	VocabPath string
	Vocab     *text.Vocab
	LowerCase bool
}

// runState is the part of a checkpoint's run state a fine-tuning reads.
type runState struct {
	Step   int `json:"step"`
	Config struct {
		Model model.Conv       `json:"model"`
		BERT  *model.BERT      `json:"bert"`
		Data  []ptrain.Dataset `json:"data"`
	} `json:"config"`
}

// loadRun loads the last checkpoint of a `pretext train` run folder (or of
// its checkpoints/ folder) and its run state.
func loadRun(dir string) (*gcontext.Context, runState, error) {
	var st runState
	if _, err := os.Stat(filepath.Join(dir, ptrain.CheckpointDir)); err == nil {
		dir = filepath.Join(dir, ptrain.CheckpointDir)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, st, fmt.Errorf("finetune: pretrained: %w", err)
	}
	ctx := gcontext.New()
	h, err := checkpoints.Build(ctx).Dir(dir).Immediate().Done()
	if err != nil {
		return nil, st, fmt.Errorf("finetune: pretrained %s: %w", dir, err)
	}
	if ok, _ := h.HasCheckpoints(); !ok {
		return nil, st, fmt.Errorf("finetune: pretrained %s: no checkpoint (run pretext train first)", dir)
	}
	if err := json.Unmarshal([]byte(gcontext.GetParamOr(ctx, "pretext_state", "")), &st); err != nil {
		return nil, st, fmt.Errorf("finetune: pretrained %s: not a pretext train checkpoint: %w", dir, err)
	}
	return ctx, st, nil
}

// IsBERTRun says whether dir is a `pretext train` run of a BERT (its config
// had a bert: section); an unreadable run is an error.
func IsBERTRun(dir string) (bool, error) {
	_, st, err := loadRun(dir)
	if err != nil {
		return false, err
	}
	return st.Config.BERT != nil, nil
}

// LoadBERT loads a BERT run's last checkpoint with its model configuration
// and vocabulary (vocab, when not empty, instead of the one the run's
// config names). A run of another model is ErrNotBERT.
func LoadBERT(dir, vocab string) (*PretrainedBERT, error) {
	ctx, st, err := loadRun(dir)
	if err != nil {
		return nil, err
	}
	if st.Config.BERT == nil {
		return nil, fmt.Errorf("finetune: pretrained %s: %w: its config has no bert: section (an image encoder–decoder run fine-tunes on images)", dir, ErrNotBERT)
	}
	b := *st.Config.BERT
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("finetune: pretrained %s: bert: %w", dir, err)
	}
	p := &PretrainedBERT{Ctx: ctx, Model: b, Step: st.Step, VocabPath: vocab, LowerCase: true}
	if len(st.Config.Data) > 0 {
		if p.VocabPath == "" {
			p.VocabPath = st.Config.Data[0].Vocab
		}
		if m, err := sinks.ReadManifest(context.Background(), st.Config.Data[0].Dir); err == nil {
			var c struct {
				Text struct {
					LowerCase *bool `json:"lower_case"`
				} `json:"text"`
			}
			if json.Unmarshal(m.Config, &c) == nil && c.Text.LowerCase != nil {
				p.LowerCase = *c.Text.LowerCase
			}
		}
	}
	if p.VocabPath == "" {
		return nil, fmt.Errorf("finetune: pretrained %s: the run's config names no vocabulary: give one (--vocab)", dir)
	}
	if p.Vocab, _, err = text.LoadVocab(context.Background(), p.VocabPath); err != nil {
		return nil, fmt.Errorf("finetune: pretrained %s: the run's vocabulary: %w (give it with --vocab)", dir, err)
	}
	rows := -1
	for v := range ctx.InAbsPath("/" + model.EncoderScope + "/token").IterVariablesInScope() {
		rows = v.Shape().Dimensions[0]
	}
	if rows < 0 {
		return nil, fmt.Errorf("finetune: pretrained %s: the checkpoint has no /%s/token embeddings", dir, model.EncoderScope)
	}
	if rows != p.Vocab.Size() {
		return nil, fmt.Errorf("finetune: vocab %s has %d tokens, the checkpoint's token embeddings %d: it is not the vocabulary the run trained with", p.VocabPath, p.Vocab.Size(), rows)
	}
	return p, nil
}

// TextSet is a labeled set of tokenized documents, each [CLS] tokens [SEP]
// padded with [PAD] to SeqLen.
type TextSet struct {
	SeqLen int
	// IDs and Mask are [N, SeqLen]: the token ids and 1 for a real token, 0
	// for padding.
	IDs, Mask []int32
	// Labels are the classes, in [0, len(Classes)).
	Labels []int
	// Classes names the classes (the subfolders, in name order).
	Classes []string
	// Truncated counts the documents cut to SeqLen.
	Truncated int
}

// Len is the number of documents.
func (s *TextSet) Len() int { return len(s.Labels) }

// Pick returns the documents at idx, in that order.
func (s *TextSet) Pick(idx []int) *TextSet {
	out := &TextSet{SeqLen: s.SeqLen, Classes: s.Classes}
	for _, i := range idx {
		out.IDs = append(out.IDs, s.IDs[i*s.SeqLen:(i+1)*s.SeqLen]...)
		out.Mask = append(out.Mask, s.Mask[i*s.SeqLen:(i+1)*s.SeqLen]...)
		out.Labels = append(out.Labels, s.Labels[i])
	}
	return out
}

func (s *TextSet) label(i int) int { return s.Labels[i] }

func (s *TextSet) inputs(idx []int) []*tensors.Tensor {
	S := s.SeqLen
	ids, mask := make([]int32, len(idx)*S), make([]int32, len(idx)*S)
	for k, i := range idx {
		copy(ids[k*S:], s.IDs[i*S:(i+1)*S])
		copy(mask[k*S:], s.Mask[i*S:(i+1)*S])
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, len(idx), S), tensors.FromFlatDataAndDimensions(mask, len(idx), S)}
}

// ErrNoTexts is returned for a labeled folder, or a class subfolder,
// without .txt documents.
var ErrNoTexts = errors.New("no labeled documents")

// LoadText reads a folder with one subfolder of .txt documents (UTF-8, one
// document a file) per class, tokenized by tok and cut to maxLen tokens
// ([CLS] and [SEP] included). A class subfolder without documents, an
// empty document or fewer than two classes is an error.
func LoadText(dir string, tok *text.Tokenizer, v *text.Vocab, maxLen int) (*TextSet, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("finetune: labeled documents: %w", err)
	}
	cls, _ := v.ID(text.CLS)
	sep, _ := v.ID(text.SEP)
	pad, _ := v.ID(text.PAD) // 0 without [PAD]: masked out anyway
	s := &TextSet{SeqLen: maxLen}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		cdir := filepath.Join(dir, e.Name())
		files, err := os.ReadDir(cdir)
		if err != nil {
			return nil, fmt.Errorf("finetune: labeled documents: %w", err)
		}
		class, n := len(s.Classes), 0
		for _, f := range files {
			if f.IsDir() || !strings.EqualFold(filepath.Ext(f.Name()), ".txt") {
				continue
			}
			path := filepath.Join(cdir, f.Name())
			raw, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("finetune: %w", err)
			}
			_, ids := tok.TokenizeIDs(string(raw))
			if len(ids) == 0 {
				return nil, fmt.Errorf("finetune: %s: an empty document (no tokens)", path)
			}
			if len(ids) > maxLen-2 {
				ids = ids[:maxLen-2]
				s.Truncated++
			}
			row := make([]int32, maxLen)
			mask := make([]int32, maxLen)
			row[0] = cls
			copy(row[1:], ids)
			row[len(ids)+1] = sep
			for j := range maxLen {
				if j < len(ids)+2 {
					mask[j] = 1
				} else {
					row[j] = pad
				}
			}
			s.IDs, s.Mask = append(s.IDs, row...), append(s.Mask, mask...)
			s.Labels = append(s.Labels, class)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("finetune: class folder %s: %w: want one .txt file per document", cdir, ErrNoTexts)
		}
		s.Classes = append(s.Classes, e.Name())
	}
	if len(s.Classes) == 0 {
		return nil, fmt.Errorf("finetune: %s: %w: want one subfolder of .txt documents per class", dir, ErrNoTexts)
	}
	if len(s.Classes) < 2 {
		return nil, fmt.Errorf("finetune: %s: one class (%s): want a subfolder of .txt documents per class, at least two", dir, s.Classes[0])
	}
	return s, nil
}

// IsTextData says whether dir looks like labeled documents: a class
// subfolder holding a .txt file.
func IsTextData(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if e.Name() == "train" {
			if IsTextData(filepath.Join(dir, "train")) {
				return true
			}
		}
		files, _ := os.ReadDir(filepath.Join(dir, e.Name()))
		for _, f := range files {
			if !f.IsDir() && strings.EqualFold(filepath.Ext(f.Name()), ".txt") {
				return true
			}
		}
	}
	return false
}

// featureSet is a matrix of features per example, for a linear head.
type featureSet struct {
	dim    int
	x      []float32
	labels []int
}

func (f *featureSet) Len() int        { return len(f.labels) }
func (f *featureSet) label(i int) int { return f.labels[i] }

func (f *featureSet) inputs(idx []int) []*tensors.Tensor {
	x := make([]float32, len(idx)*f.dim)
	for k, i := range idx {
		copy(x[k*f.dim:], f.x[i*f.dim:(i+1)*f.dim])
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, len(idx), f.dim)}
}

// bagOfWords is the documents' token counts over the vocabulary,
// log(1+count), the special tokens and padding left out.
func bagOfWords(s *TextSet, v *text.Vocab) *featureSet {
	dim := v.Size()
	f := &featureSet{dim: dim, x: make([]float32, s.Len()*dim), labels: s.Labels}
	for i := range s.Len() {
		row := f.x[i*dim : (i+1)*dim]
		for j := range s.SeqLen {
			id := s.IDs[i*s.SeqLen+j]
			if s.Mask[i*s.SeqLen+j] == 0 || text.IsSpecial(v.Token(id)) {
				continue
			}
			row[id]++
		}
		for k, c := range row {
			if c > 0 {
				row[k] = float32(math.Log1p(float64(c)))
			}
		}
	}
	return f
}

// encoderFeatures runs the frozen encoder in ctx over s: its pooled output,
// [N, Width].
func encoderFeatures(be backends.Backend, ctx *gcontext.Context, b model.BERT, vocabSize int, pooling string, s *TextSet) (*featureSet, error) {
	f := &featureSet{dim: b.Width, labels: s.Labels}
	if s.Len() == 0 {
		return f, nil
	}
	exec, err := gcontext.NewExec(be, ctx.Reuse(), func(ctx *gcontext.Context, in []*graph.Node) *graph.Node {
		return b.Features(ctx, vocabSize, in[0], in[1], pooling)
	})
	if err != nil {
		return nil, err
	}
	err = inBatches(s.Len(), func(idx []int, n int) error {
		out, err := execOn(exec, s.inputs(idx))
		if err != nil {
			return err
		}
		v, err := tensors.CopyFlatData[float32](out)
		if err != nil {
			return err
		}
		f.x = append(f.x, v[:n*b.Width]...)
		return nil
	})
	return f, err
}

// RunText runs the text benchmark: every method's learning rate is chosen on
// the validation part of the labeled subset, then the method trains on the
// whole subset and is scored on the test documents.
func RunText(o TextOptions) (*TextReport, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("finetune: bad options:\n%w", err)
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	pre, err := LoadBERT(o.Pretrained, o.Vocab)
	if err != nil {
		return nil, err
	}
	b, V := pre.Model, pre.Vocab.Size()
	maxLen := o.MaxLen
	if maxLen == 0 {
		maxLen = b.MaxPositions
	}
	if maxLen > b.MaxPositions {
		return nil, fmt.Errorf("finetune: max length %d: the model has %d positions (bert.max_positions)", maxLen, b.MaxPositions)
	}
	trainDir, testDir := o.Train, o.Test
	if testDir == "" {
		trainDir, testDir = filepath.Join(o.Train, "train"), filepath.Join(o.Train, "test")
		if _, err := os.Stat(testDir); err != nil {
			return nil, fmt.Errorf("finetune: no test documents: give --test, or put train/ and test/ class folders in %s", o.Train)
		}
	}
	tok := text.NewTokenizer(pre.Vocab, pre.LowerCase)
	trainSet, err := LoadText(trainDir, tok, pre.Vocab, maxLen)
	if err != nil {
		return nil, err
	}
	testSet, err := LoadText(testDir, tok, pre.Vocab, maxLen)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(trainSet.Classes, testSet.Classes) {
		return nil, fmt.Errorf("finetune: the train classes %v differ from the test classes %v", trainSet.Classes, testSet.Classes)
	}
	idx, err := Subset(&Labeled{Labels: trainSet.Labels, Classes: trainSet.Classes}, o.LabelsPerClass, o.Seed)
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
	classes := len(trainSet.Classes)
	rep := &TextReport{Pretrained: o.Pretrained, PretrainSteps: pre.Step, Vocab: pre.VocabPath, VocabSize: V,
		LowerCase: pre.LowerCase, MaxLen: maxLen, Pooling: o.Pooling,
		LabelsPerClass: o.LabelsPerClass, ValPerClass: o.ValPerClass, Classes: trainSet.Classes,
		TrainSize: trainSet.Len(), TestSize: testSet.Len(), Truncated: testSet.Truncated,
		Steps: o.Steps, BatchSize: o.BatchSize, LearningRates: o.LearningRates, Seed: o.Seed, Model: b}
	fmt.Fprintf(logw, "BERT run %s (step %d, vocab %s, %d tokens, lower case %v); documents cut to %d tokens (%d of %d test documents cut)\n",
		o.Pretrained, pre.Step, pre.VocabPath, V, pre.LowerCase, maxLen, testSet.Truncated, testSet.Len())
	fmt.Fprintf(logw, "labeled subset: %d documents (%d per class of %d, %d of them for validation), test set %d documents\n",
		sub.Len(), o.LabelsPerClass, classes, o.ValPerClass, testSet.Len())

	be, err := backend.Open(o.Backend, logw)
	if err != nil {
		return nil, err
	}
	defer be.Finalize()

	// A method is a model function and the examples it reads (subset, fit,
	// val, test), with a fresh context per training.
	type method struct {
		name              string
		fn                train.ModelFn
		sub, fit, val, ts examples
		ctx               func() (*gcontext.Context, error)
	}
	fresh := func() (*gcontext.Context, error) { return newContext(o.Seed), nil }
	cloned := func() (*gcontext.Context, error) { return cloneEncoder(pre.Ctx, newContext(o.Seed), true) }
	split := func(pick func([]int) examples) (fit, val examples) { return pick(fitIdx), pick(valIdx) }
	var methods []method
	for _, m := range o.Modes {
		switch m {
		case "linear":
			// The frozen encoder's features are computed once; the head
			// is logistic regression on them.
			enc, err := cloneEncoder(pre.Ctx, gcontext.New(), false)
			if err != nil {
				return nil, err
			}
			t0 := time.Now()
			fs, err := encoderFeatures(be, enc, b, V, o.Pooling, sub)
			if err != nil {
				return nil, fmt.Errorf("finetune: the pretrained encoder's features: %w", err)
			}
			ft, err := encoderFeatures(be, enc, b, V, o.Pooling, testSet)
			if err != nil {
				return nil, fmt.Errorf("finetune: the pretrained encoder's features: %w", err)
			}
			standardize(fs, ft)
			fmt.Fprintf(logw, "pretrained encoder features of %d documents in %.1fs\n", fs.Len()+ft.Len(), time.Since(t0).Seconds())
			fit, val := split(func(i []int) examples { return fs.pick(i) })
			methods = append(methods, method{"pretrained-linear", model.Linear(classes), fs, fit, val, ft, fresh})
		case "full":
			fit, val := split(func(i []int) examples { return sub.Pick(i) })
			methods = append(methods, method{"pretrained-full", b.Classifier(V, classes, o.Pooling), sub, fit, val, testSet, cloned})
		}
	}
	for _, bl := range o.Baselines {
		switch bl {
		case "scratch":
			fit, val := split(func(i []int) examples { return sub.Pick(i) })
			methods = append(methods, method{"scratch", b.Classifier(V, classes, o.Pooling), sub, fit, val, testSet, fresh})
		case "bow":
			fs, ft := bagOfWords(sub, pre.Vocab), bagOfWords(testSet, pre.Vocab)
			fit, val := split(func(i []int) examples { return fs.pick(i) })
			methods = append(methods, method{"bow", model.Linear(classes), fs, fit, val, ft, fresh})
		}
	}

	bestVal := -1.0
	for _, m := range methods {
		start := time.Now()
		row := Row{Method: m.name}
		for _, lr := range o.LearningRates {
			acc := 0.0
			if len(o.LearningRates) > 1 || m.val.Len() > 0 {
				ctx, err := m.ctx()
				if err != nil {
					return nil, err
				}
				_, loss, err := fitExamples(be, ctx, m.fn, m.fit, lr, o.Steps, o.BatchSize, o.Seed)
				if err != nil {
					return nil, fmt.Errorf("finetune: %s, learning rate %g: %w", m.name, lr, err)
				}
				if acc, err = accuracyOf(be, ctx, m.fn, m.val); err != nil {
					return nil, err
				}
				fmt.Fprintf(logw, "%-18s lr %-7g validation accuracy %.3f (training loss %.3f)\n", m.name, lr, acc, loss)
			}
			row.ValAccuracies = append(row.ValAccuracies, acc)
		}
		best := 0
		for i, a := range row.ValAccuracies {
			if a > row.ValAccuracies[best] {
				best = i
			}
		}
		row.LearningRate, row.ValAccuracy = o.LearningRates[best], row.ValAccuracies[best]
		ctx, err := m.ctx()
		if err != nil {
			return nil, err
		}
		eps, loss, err := fitExamples(be, ctx, m.fn, m.sub, row.LearningRate, o.Steps, o.BatchSize, o.Seed)
		if err != nil {
			return nil, fmt.Errorf("finetune: %s: %w", m.name, err)
		}
		if row.TestAccuracy, err = accuracyOf(be, ctx, m.fn, m.ts); err != nil {
			return nil, err
		}
		row.Seconds, row.ExamplesPerSec = time.Since(start).Seconds(), eps
		fmt.Fprintf(logw, "%-18s lr %-7g TEST accuracy %.4f (training loss %.3f; %.0fs, %.0f examples/s)\n", m.name, row.LearningRate, row.TestAccuracy, loss, row.Seconds, eps)
		rep.Rows = append(rep.Rows, row)
		if strings.HasPrefix(m.name, "pretrained-") && row.ValAccuracy > bestVal {
			bestVal, rep.Best = row.ValAccuracy, m.name
		}
	}
	return rep, nil
}

// standardize scales every feature of the sets to mean 0 and standard
// deviation 1 over fit (the labeled subset; no labels are read): a briefly
// pretrained encoder's pooled states share a large common part, and small
// differences on it are what a linear head must read in a few Adam steps,
// whose updates have a fixed size whatever the features' scale.
func standardize(fit *featureSet, sets ...*featureSet) {
	n, d := fit.Len(), fit.dim
	if n == 0 {
		return
	}
	mean, sd := make([]float64, d), make([]float64, d)
	for i := range n {
		for j, x := range fit.x[i*d : (i+1)*d] {
			mean[j] += float64(x)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := range n {
		for j, x := range fit.x[i*d : (i+1)*d] {
			sd[j] += (float64(x) - mean[j]) * (float64(x) - mean[j])
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j]/float64(n)) + 1e-6
	}
	for _, s := range append([]*featureSet{fit}, sets...) {
		for i := range s.Len() {
			row := s.x[i*d : (i+1)*d]
			for j := range row {
				row[j] = float32((float64(row[j]) - mean[j]) / sd[j])
			}
		}
	}
}

func (f *featureSet) pick(idx []int) *featureSet {
	out := &featureSet{dim: f.dim}
	for _, i := range idx {
		out.x = append(out.x, f.x[i*f.dim:(i+1)*f.dim]...)
		out.labels = append(out.labels, f.labels[i])
	}
	return out
}

// cloneEncoder copies the encoder's variables of from into to, trainable
// or not, and returns to.
func cloneEncoder(from, to *gcontext.Context, trainable bool) (*gcontext.Context, error) {
	for v := range from.InAbsPath("/" + model.EncoderScope).IterVariablesInScope() {
		nv, err := v.CloneToContext(to)
		if err != nil {
			return nil, err
		}
		nv.SetTrainable(trainable)
	}
	return to, nil
}
