package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/inspect"
)

// defaultVocab is the vocab of the shipped text config, used for mlm_nsp
// datasets when neither --vocab nor --config names one (and only when its
// sha256 is the one the dataset was made with).
const defaultVocab = "testdata/wordpiece/vocab-bert-base-uncased.txt"

// inspectFlags registers the inspect flags in fs and returns the command:
// it verifies datasets, measures their labels against their config and
// prints a summary, JSON or an HTML report. DIR is the first argument.
func inspectFlags(fs *flag.FlagSet) func(context.Context) error {
	task := fs.String("task", "", "inspect only this task's dataset of a run folder")
	config := fs.String("config", "", "run config whose task sections override the configs stored in the manifests")
	html := fs.String("html", "", "write a self-contained HTML report (histograms, contact sheets) to this file")
	sheet := fs.Int("sheet", 8, "rows per contact sheet in the HTML report")
	check := fs.Bool("check", false, "exit non-zero when a gate fails, naming every failed gate")
	asJSON := fs.Bool("json", false, "print the whole report as JSON instead of the summary")
	thresholds := fs.String("thresholds", "", "YAML file of extra gates (max_dead_letter_share, max_duplicate_rate, …)")
	vocab := fs.String("vocab", "", "vocab.txt of mlm_nsp datasets (default: --config's text.vocab, else "+defaultVocab+")")
	return func(ctx context.Context) error {
		// The flag package stops at the first argument; flags may also follow DIR.
		var dirs []string
		for args := fs.Args(); len(args) > 0; args = fs.Args() {
			dirs = append(dirs, args[0])
			if err := fs.Parse(args[1:]); err != nil {
				return err
			}
		}
		if len(dirs) != 1 {
			return usageError("usage: pretext inspect DIR [--task T] [--config FILE] [--html report.html] [--sheet N] [--check] [--json] [--thresholds FILE] [--vocab FILE]")
		}
		opts := inspect.Options{Dir: dirs[0], Task: *task, VocabPath: *vocab, ConfigName: *config}
		if *config != "" {
			cfg, err := configs.Load(*config)
			if err != nil {
				return err
			}
			opts.Config = &cfg
		}
		if opts.VocabPath == "" && (opts.Config == nil || opts.Config.Text.Vocab == "") {
			if _, err := os.Stat(defaultVocab); err == nil {
				opts.VocabPath = defaultVocab
			}
		}
		if *thresholds != "" {
			th, err := inspect.ReadThresholds(*thresholds)
			if err != nil {
				return err
			}
			opts.Thresholds = th
		}
		if *html != "" {
			opts.Sample = *sheet
		}
		rep, err := inspect.Run(ctx, opts)
		if err != nil {
			return err
		}
		if *html != "" {
			page, err := rep.HTML()
			if err != nil {
				return err
			}
			if err := os.WriteFile(*html, page, 0o644); err != nil {
				return err
			}
		}
		if *asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else if err := rep.WriteText(os.Stdout); err != nil {
			return err
		}
		if *html != "" {
			fmt.Fprintf(os.Stderr, "wrote %s\n", *html)
		}
		if *check && !rep.OK {
			return fmt.Errorf("%d failed gates and problems:\n  %s", len(rep.Failures), strings.Join(rep.Failures, "\n  "))
		}
		return nil
	}
}
