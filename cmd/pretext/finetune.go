package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/trainer/backend"
	"github.com/pretext-dev/pretext/trainer/finetune"
)

// finetuneFlags registers the finetune flags in fs and returns the command:
// fine-tune a pretrained encoder on a few labels per class and compare it
// with the same network trained from scratch and with logistic regression
// on the raw input (pixels, or a text's token counts); print a table and
// write JSON. A BERT run (a config with a bert: section) fine-tunes on
// labeled documents, any other run on labeled images.
func finetuneFlags(fs *flag.FlagSet) func(context.Context) error {
	d := finetune.DefaultOptions()
	pretrained := fs.String("pretrained", "", "pretext train run folder (its last checkpoint's encoder); a BERT run fine-tunes on text")
	data := fs.String("data", "", "labeled training data (required): images as a .csv of path,label rows (paths relative to the CSV's folder), a .parquet file or folder of them with columns input (encoded PNG/JPEG) and label (string or integer), a folder of MNIST idx files, or one subfolder of images per class; for a BERT run one subfolder of .txt documents per class, or train/ and test/ folders of them")
	test := fs.String("test", "", "labeled test data, as --data (default: --data, whose idx test set, or test/ folder, is read)")
	perClass := fs.Int("labels-per-class", d.LabelsPerClass, "labeled examples per class, drawn deterministically from --seed")
	valPerClass := fs.Int("val-per-class", d.ValPerClass, "of those, examples per class that choose the learning rate")
	mode := fs.String("mode", "both", "pretrained encoder: linear (frozen), full (trained), both, or none")
	baseline := fs.String("baseline", "scratch,pixels", "baselines, comma-separated: scratch (same network, random init), pixels (logistic regression on pixels; images), bow (logistic regression on token counts; text, the default there: scratch,bow), or none")
	lrs := fs.String("lr", "0.0003,0.001,0.003", "learning-rate grid (Adam), comma-separated, the same for every method")
	steps := fs.Int("steps", d.Steps, "training steps of every method and grid point")
	batch := fs.Int("batch", d.BatchSize, "batch size")
	pool := fs.Int("pool", d.Pool, "images: average-pool the encoder's features over N×N blocks before the head (1: none)")
	pooling := fs.String("pooling", finetune.DefaultTextOptions().Pooling, "text: the head reads the encoder's mean over the tokens (mean) or its [CLS] state (cls)")
	maxLen := fs.Int("max-len", 0, "text: cut documents to N tokens, [CLS] and [SEP] included (0: the model's bert.max_positions)")
	vocab := fs.String("vocab", "", "text: the vocabulary the BERT run trained with (default: the one its config names)")
	seed := fs.Int64("seed", d.Seed, "seed of the labeled subset, the initial weights and the batches")
	be := fs.String("backend", "", "GoMLX backend: "+backend.Choices+"; empty: $"+backend.EnvVar+", else go")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	rd := finetune.DefaultReadoutOptions()
	readout := fs.Bool("readout", false, "images: the readout protocol (docs/trainer.md): frozen features of the pretrained encoder, a random-init encoder and the pixels, each read out by cross-validated logistic regression and cosine k-NN, against scratch, over --subsets label subsets; the last line is pretrained=… scratch=… pixels=… random=… gain=… ci=LO,HI task=…")
	subsets := fs.Int("subsets", rd.Subsets, "readout: label subsets (subset i is drawn with --seed+i)")
	folds := fs.Int("folds", rd.Folds, "readout: k of the k-fold cross-validation that chooses λ and the learning rate")
	lambdas := fs.String("lambda", joinFloats(rd.Lambdas), "readout: logistic regression's L2 grid, comma-separated")
	selectOn := fs.String("select", rd.SelectOn, "readout: cross-validate scratch's (and LP-FT's) learning rate on each subset (each) or on the first only, its rate serving all (first)")
	lpft := fs.Bool("lpft", false, "readout: add LP-FT (the pretrained encoder and the probe's head, the encoder at 0.1× the head's rate)")
	scratchPool := fs.Int("scratch-pool", rd.ScratchPool, "readout: scratch's pooling, as --pool (default 1: the flattened map, the stronger from-scratch network)")
	scale := fs.String("scale", rd.Scale, "readout: after centring each feature on the subset's mean, divide all by one deviation (global) or each by its own (feature: the z-score)")
	testLimit := fs.Int("test-limit", 0, "readout: score on the first N test images (0: all)")
	task := fs.String("task", "", "readout: the task name on the last line (default: the pretrained run's tasks joined with +)")
	return func(ctx context.Context) error {
		if *readout {
			return runReadout(fs, readoutFlags{*pretrained, *data, *test, *perClass, *subsets, *seed, *pool, *scratchPool, *testLimit, *folds,
				*lambdas, *lrs, *steps, *batch, *selectOn, *lpft, *scale, *task, *be, *jsonOut})
		}
		if *data == "" || len(fs.Args()) > 0 {
			return usageError("usage: pretext finetune --data DIR [--test DIR] [--pretrained RUN] [--labels-per-class N] [--mode linear|full|both|none] [--baseline scratch,pixels|scratch,bow|none] [--lr 0.0003,0.001,0.003] [--steps N] [--seed N] [--json FILE]; or pretext finetune --readout --pretrained RUN --data DIR [--labels-per-class N] [--subsets N] [--pool N] [--lpft] [--task NAME]")
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		var modes, baselines []string
		switch *mode {
		case "both":
			modes = []string{"linear", "full"}
		case "none":
		default:
			modes = []string{*mode}
		}
		if *baseline != "none" && *baseline != "" {
			baselines = strings.Split(*baseline, ",")
		}
		var grid []float64
		for _, s := range strings.Split(*lrs, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return configs.Mistake(fmt.Errorf("--lr: %w", err))
			}
			grid = append(grid, v)
		}
		isBERT := false
		if *pretrained != "" {
			var err error
			if isBERT, err = finetune.IsBERTRun(*pretrained); err != nil {
				return err
			}
		}
		if !isBERT && finetune.IsTextData(*data) {
			if *pretrained == "" {
				return usageError(fmt.Sprintf("%s holds text: text fine-tuning needs --pretrained, a BERT run (its vocabulary and architecture serve every method)", *data))
			}
			return usageError(fmt.Sprintf("%s holds text, but --pretrained %s is not a BERT run (its config has no bert: section): pretrain with a config like configs/train-bert.yaml", *data, *pretrained))
		}
		if isBERT {
			o := finetune.DefaultTextOptions()
			o.Pretrained, o.Vocab, o.Train, o.Test = *pretrained, *vocab, *data, *test
			o.LabelsPerClass, o.ValPerClass, o.Steps, o.BatchSize, o.Seed, o.Backend = *perClass, *valPerClass, *steps, *batch, *seed, *be
			o.Pooling, o.MaxLen, o.Modes, o.LearningRates, o.Log = *pooling, *maxLen, modes, grid, os.Stderr
			if set["baseline"] {
				o.Baselines = baselines
			}
			rep, err := finetune.RunText(o)
			if err != nil {
				return err
			}
			fmt.Printf("%d labels per class (%d for validation), %d classes, %d test documents of up to %d tokens, %d steps of %d, seed %d\n",
				rep.LabelsPerClass, rep.ValPerClass, len(rep.Classes), rep.TestSize, rep.MaxLen, rep.Steps, rep.BatchSize, rep.Seed)
			return printReport(rep.Rows, rep.Best, rep, *jsonOut)
		}
		o := d
		o.Pretrained, o.Train, o.Test = *pretrained, *data, *test
		if o.Test == "" {
			o.Test = o.Train
		}
		o.LabelsPerClass, o.ValPerClass, o.Steps, o.BatchSize, o.Seed, o.Backend, o.Pool = *perClass, *valPerClass, *steps, *batch, *seed, *be, *pool
		o.Log, o.Modes, o.Baselines, o.LearningRates = os.Stderr, modes, baselines, grid
		rep, err := finetune.Run(o)
		if err != nil {
			return err
		}
		fmt.Printf("%d labels per class (%d for validation), %d test images, %d steps of %d, seed %d\n",
			rep.LabelsPerClass, rep.ValPerClass, rep.TestSize, rep.Steps, rep.BatchSize, rep.Seed)
		return printReport(rep.Rows, rep.Best, rep, *jsonOut)
	}
}

// printReport prints the rows' table and, last, the one-line summary
// "pretrained=ACC scratch=ACC pixels=ACC" (bow for text; the methods run),
// and writes rep as JSON to jsonOut unless it is empty.
func printReport(rows []finetune.Row, best string, rep any, jsonOut string) error {
	fmt.Printf("%-18s %8s %8s %8s %9s\n", "method", "lr", "val acc", "test acc", "examples/s")
	acc := map[string]float64{}
	for _, r := range rows {
		fmt.Printf("%-18s %8g %8.3f %8.4f %9.0f\n", r.Method, r.LearningRate, r.ValAccuracy, r.TestAccuracy, r.ExamplesPerSec)
		acc[r.Method] = r.TestAccuracy
	}
	var summary []string
	if a, ok := acc[best]; ok {
		fmt.Printf("pretrained = %s (best validation accuracy of the pretrained modes)\n", best)
		summary = append(summary, fmt.Sprintf("pretrained=%.4f", a))
	}
	for _, m := range []string{"scratch", "pixels", "bow"} {
		if a, ok := acc[m]; ok {
			summary = append(summary, fmt.Sprintf("%s=%.4f", m, a))
		}
	}
	fmt.Println(strings.Join(summary, " "))
	if jsonOut != "" {
		js, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonOut, append(js, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// readoutFlags are the flags `pretext finetune --readout` reads.
type readoutFlags struct {
	pretrained, data, test string
	perClass, subsets      int
	seed                   int64
	pool, scratchPool      int
	testLimit, folds       int
	lambdas, lrs           string
	steps, batch           int
	selectOn               string
	lpft                   bool
	scale                  string
	task, backend, jsonOut string
}

// runReadout runs the readout protocol: progress on stderr, the table and,
// last, the summary line on stdout. A flag that does not apply, or a bad
// value, is one line naming it.
func runReadout(fs *flag.FlagSet, f readoutFlags) error {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, name := range []string{"mode", "baseline", "val-per-class", "pooling", "max-len", "vocab"} {
		if set[name] {
			return usageError(fmt.Sprintf("--%s does not apply with --readout (its methods and selection rule are fixed: docs/trainer.md)", name))
		}
	}
	if len(fs.Args()) > 0 {
		return usageError(fmt.Sprintf("unexpected argument %q", fs.Args()[0]))
	}
	o := finetune.DefaultReadoutOptions()
	o.Pretrained, o.Train, o.Test, o.LabelsPerClass, o.Subsets, o.Seed = f.pretrained, f.data, f.test, f.perClass, f.subsets, f.seed
	o.ScratchPool, o.TestLimit, o.Scale = f.scratchPool, f.testLimit, f.scale
	o.Folds, o.Steps, o.BatchSize, o.SelectOn, o.LPFT, o.Task, o.Backend = f.folds, f.steps, f.batch, f.selectOn, f.lpft, f.task, f.backend
	if o.Test == "" {
		o.Test = o.Train
	}
	// --pool's default is 1 for the other fine-tunings; the readout's is
	// global average pooling.
	if set["pool"] {
		o.Pool = f.pool
	}
	var err error
	if o.Lambdas, err = parseFloats("--lambda", f.lambdas); err != nil {
		return err
	}
	if o.LearningRates, err = parseFloats("--lr", f.lrs); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return configs.Mistake(fmt.Errorf("--readout: %s", strings.ReplaceAll(err.Error(), "\n", "; ")))
	}
	if isBERT, err := finetune.IsBERTRun(o.Pretrained); err != nil {
		return err
	} else if isBERT {
		return usageError(fmt.Sprintf("--readout reads image encoders: %s is a BERT run", o.Pretrained))
	}
	o.Log = os.Stderr
	rep, err := finetune.Readout(o)
	if err != nil {
		return err
	}
	if f.jsonOut != "" {
		js, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.jsonOut, append(js, '\n'), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "readout done in %.0fs\n", rep.Seconds)
	if err := rep.WriteTable(os.Stdout); err != nil {
		return err
	}
	fmt.Println(rep.SummaryLine())
	return nil
}

// parseFloats parses a comma-separated list of numbers; its errors name flag.
func parseFloats(flag, s string) ([]float64, error) {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, configs.Mistake(fmt.Errorf("%s: %w", flag, err))
		}
		out = append(out, v)
	}
	return out, nil
}

func joinFloats(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}
