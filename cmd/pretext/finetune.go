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
	return func(ctx context.Context) error {
		if *data == "" || len(fs.Args()) > 0 {
			return usageError("usage: pretext finetune --data DIR [--test DIR] [--pretrained RUN] [--labels-per-class N] [--mode linear|full|both|none] [--baseline scratch,pixels|scratch,bow|none] [--lr 0.0003,0.001,0.003] [--steps N] [--seed N] [--json FILE]")
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
