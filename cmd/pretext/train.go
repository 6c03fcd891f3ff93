package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/pretext-dev/pretext/trainer/backend"
	"github.com/pretext-dev/pretext/trainer/train"
)

// trainFlags registers the train flags in fs and returns the command: it
// pretrains the model of a configs/train-*.yaml file on pretext's shards,
// resuming from the output folder's last checkpoint.
func trainFlags(fs *flag.FlagSet) func(context.Context) error {
	config := fs.String("config", "", "training config (configs/train-*.yaml), required")
	be := fs.String("backend", "", "GoMLX backend, overrides the config's: "+backend.Choices+"; empty: $"+backend.EnvVar+", else go")
	steps := fs.Int("steps", 0, "train this many steps in all, overriding the config's train.steps")
	maxTime := fs.Duration("max-time", 0, "stop after this much training time, with a checkpoint (0: no limit); a later run resumes")
	output := fs.String("output", "", "run folder (checkpoints, loss.csv, loss.png), overriding the config's output")
	return func(ctx context.Context) error {
		if *config == "" || len(fs.Args()) > 0 {
			return usageError("usage: pretext train --config FILE [--backend NAME] [--steps N] [--max-time 5m] [--output DIR]")
		}
		cfg, err := train.Load(*config)
		if err != nil {
			return err
		}
		if *be != "" {
			cfg.Backend = *be
		}
		if *steps > 0 {
			cfg.Train.Steps = *steps
		}
		if *output != "" {
			cfg.Output = *output
		}
		res, err := train.Run(ctx, cfg, train.Options{Log: os.Stderr, MaxTime: *maxTime})
		if err != nil {
			return err
		}
		acc := ""
		if !math.IsNaN(res.Accuracy) {
			acc = fmt.Sprintf(" (accuracy %.3f)", res.Accuracy)
		}
		fmt.Printf("trained steps %d→%d: loss %.4f → %.4f%s, %.1f examples/s, %d parameters; checkpoints in %s, loss curve %s\n",
			res.ResumedFrom, res.Step, res.FirstLoss, res.LastLoss, acc, res.ExamplesPerSec, res.Params,
			filepath.Join(cfg.Output, train.CheckpointDir), filepath.Join(cfg.Output, train.LossPNG))
		return nil
	}
}
