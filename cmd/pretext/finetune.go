package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/pretext-dev/pretext/trainer/backend"
	"github.com/pretext-dev/pretext/trainer/finetune"
)

// finetuneFlags registers the finetune flags in fs and returns the command:
// fine-tune a pretrained encoder on a few labels per class and compare it
// with the same network trained from scratch and with logistic regression
// on pixels; print a table and write JSON.
func finetuneFlags(fs *flag.FlagSet) func(context.Context) error {
	d := finetune.DefaultOptions()
	pretrained := fs.String("pretrained", "", "pretext train run folder (its last checkpoint's encoder)")
	data := fs.String("data", "", "labeled training images: a folder of MNIST idx files, or one subfolder of images per class (required)")
	test := fs.String("test", "", "labeled test images, as --data (default: --data, whose idx test set is read)")
	perClass := fs.Int("labels-per-class", d.LabelsPerClass, "labeled images per class, drawn deterministically from --seed")
	valPerClass := fs.Int("val-per-class", d.ValPerClass, "of those, images per class that choose the learning rate")
	mode := fs.String("mode", "both", "pretrained encoder: linear (frozen), full (trained), both, or none")
	baseline := fs.String("baseline", "scratch,pixels", "baselines, comma-separated: scratch (same network, random init), pixels (logistic regression on pixels), or none")
	lrs := fs.String("lr", "0.0003,0.001,0.003", "learning-rate grid (Adam), comma-separated, the same for every method")
	steps := fs.Int("steps", d.Steps, "training steps of every method and grid point")
	batch := fs.Int("batch", d.BatchSize, "batch size")
	pool := fs.Int("pool", d.Pool, "average-pool the encoder's features over N×N blocks before the head (1: none)")
	seed := fs.Int64("seed", d.Seed, "seed of the labeled subset, the initial weights and the batches")
	be := fs.String("backend", "", "GoMLX backend: "+backend.Choices+"; empty: $"+backend.EnvVar+", else go")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	return func(ctx context.Context) error {
		if *data == "" || len(fs.Args()) > 0 {
			return errors.New("usage: pretext finetune --data DIR [--test DIR] [--pretrained RUN] [--labels-per-class N] [--mode linear|full|both|none] [--baseline scratch,pixels|none] [--lr 0.0003,0.001,0.003] [--steps N] [--seed N] [--json FILE]")
		}
		o := d
		o.Pretrained, o.Train, o.Test = *pretrained, *data, *test
		if o.Test == "" {
			o.Test = o.Train
		}
		o.LabelsPerClass, o.ValPerClass, o.Steps, o.BatchSize, o.Seed, o.Backend, o.Pool = *perClass, *valPerClass, *steps, *batch, *seed, *be, *pool
		o.Log = os.Stderr
		switch *mode {
		case "both":
			o.Modes = []string{"linear", "full"}
		case "none":
			o.Modes = nil
		default:
			o.Modes = []string{*mode}
		}
		o.Baselines = nil
		if *baseline != "none" && *baseline != "" {
			o.Baselines = strings.Split(*baseline, ",")
		}
		o.LearningRates = nil
		for _, s := range strings.Split(*lrs, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return fmt.Errorf("--lr: %w", err)
			}
			o.LearningRates = append(o.LearningRates, v)
		}
		rep, err := finetune.Run(o)
		if err != nil {
			return err
		}
		fmt.Printf("%d labels per class (%d for validation), %d test images, %d steps of %d, seed %d\n",
			rep.LabelsPerClass, rep.ValPerClass, rep.TestSize, rep.Steps, rep.BatchSize, rep.Seed)
		fmt.Printf("%-18s %8s %8s %8s %9s\n", "method", "lr", "val acc", "test acc", "examples/s")
		for _, r := range rep.Rows {
			fmt.Printf("%-18s %8g %8.3f %8.4f %9.0f\n", r.Method, r.LearningRate, r.ValAccuracy, r.TestAccuracy, r.ExamplesPerSec)
		}
		var summary []string
		if r := rep.Row(rep.Best); r != nil {
			summary = append(summary, fmt.Sprintf("pretrained=%.4f", r.TestAccuracy))
		}
		for _, m := range []string{"scratch", "pixels"} {
			if r := rep.Row(m); r != nil {
				summary = append(summary, fmt.Sprintf("%s=%.4f", m, r.TestAccuracy))
			}
		}
		if rep.Best != "" {
			fmt.Printf("pretrained = %s (best validation accuracy of the pretrained modes)\n", rep.Best)
		}
		fmt.Println(strings.Join(summary, " "))
		if *jsonOut != "" {
			js, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(*jsonOut, append(js, '\n'), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
}
