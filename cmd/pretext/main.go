// Command pretext builds pseudo-labeled datasets for self-supervised learning.
//
//	pretext run --config FILE [--input GLOB] [--output DIR] [--seed N] [--limit N] [--dry-run] [beam flags]
//	pretext tasks
//	pretext tokenize --vocab FILE [--cased]
//	pretext vocab --input GLOB --output vocab.txt [--size N] [--cased]
//	pretext inspect DIR [--task T] [--config FILE] [--check] [--html FILE] [--json]
//	pretext import mnist --out DIR
//	pretext train --config FILE
//	pretext finetune --pretrained DIR --data DIR --test DIR
//
// The same binary is a Beam worker: runners start it without a subcommand,
// with flags only, and beam.Init then runs the worker harness.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/pipelines"

	// Filesystems for inputs and outputs on any runner.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"

	// Tasks register themselves.
	_ "github.com/pretext-dev/pretext/transforms/text"
	_ "github.com/pretext-dev/pretext/transforms/vision"
)

const usage = `pretext builds pseudo-labeled datasets for self-supervised learning.

Usage:
  pretext run --config FILE [--input GLOB] [--output DIR] [--seed N] [--limit N] [--dry-run] [beam flags]
  pretext tasks
  pretext tokenize --vocab FILE [--cased] < lines.txt
  pretext vocab --input GLOB --output vocab.txt [--size 30522] [--cased]
  pretext inspect DIR [--task T] [--config FILE] [--thresholds FILE] [--check] [--html FILE] [--sheet N] [--json]
  pretext import mnist --out DIR [--src DIR] [--pad 2] [--limit N]
  pretext train --config configs/train-FILE.yaml [--backend go|xla:cpu|xla:cuda] [--steps N]
  pretext finetune --pretrained DIR --data DIR --test DIR [--labels-per-class N] [--mode linear|full|both] [--baseline scratch,pixels]
  pretext finetune --readout --pretrained DIR --data DIR [--labels-per-class N] [--subsets 10] [--pool 0] [--lpft] [--json FILE]

Run "pretext run --help" for the run flags, Beam's included (--runner: prism
by default, in-process; direct, universal, flink, dataflow).
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(configs.ExitMistake)
	}
	cmd := os.Args[1]
	if len(cmd) > 0 && cmd[0] == '-' {
		// Started by a runner as a worker (or asked for -h): no subcommand.
		flag.Parse()
		beam.Init()
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var run func(context.Context) error
	switch cmd {
	case "run":
		run = runFlags(flag.CommandLine)
	case "tasks":
		run = tasksCmd
	case "tokenize":
		run = tokenizeFlags(flag.CommandLine)
	case "vocab":
		run = vocabFlags(flag.CommandLine)
	case "inspect":
		run = inspectFlags(flag.CommandLine)
	case "import":
		run = importFlags(flag.CommandLine)
	case "train":
		run = trainFlags(flag.CommandLine)
	case "finetune":
		run = finetuneFlags(flag.CommandLine)
	case "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "pretext: unknown command %q\n\n%s", cmd, usage)
		os.Exit(configs.ExitMistake)
	}
	// Subcommand flags live in the global set beside Beam's, parsed after the
	// subcommand; beam.Init runs before dispatch.
	// A mistyped flag is one line, not the mistake followed by every
	// flag Beam defines; -h and --help still list them.
	flag.CommandLine.Init(os.Args[0], flag.ContinueOnError)
	flag.CommandLine.SetOutput(io.Discard)
	err := flag.CommandLine.Parse(os.Args[2:])
	flag.CommandLine.SetOutput(os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		flag.CommandLine.Usage()
		os.Exit(configs.ExitOK)
	case err != nil:
		fmt.Fprintf(os.Stderr, "pretext %s: %v (pretext %s --help lists the flags)\n", cmd, err, cmd)
		os.Exit(configs.ExitMistake)
	}
	beam.Init()
	cleanup := func() {}
	if cmd == "run" || cmd == "vocab" { // the commands that run Beam pipelines
		cleanup = pipelines.PrivateTemp()
	}
	stop := onSignal(cmd, cleanup)
	err = run(context.Background())
	stop()
	cleanup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pretext %s: %v\n", cmd, err)
		os.Exit(configs.ExitCode(err))
	}
}

// onSignal makes SIGINT and SIGTERM end the command with one line and exit
// status 130 or 143 (configs.ExitInterrupted, ExitTerminated) instead of the
// runtime's silent death by signal. A run releases its output first and
// the line says what it kept and removed: its writes all go to its own
// folder in OUT/.pretext, which is removed (docs/reliability.md), and a
// dataset changes only by the commit's swap, which an exit cannot leave
// half done. The pipeline is not cancelled first: prism panics when a
// cancellation reaches it while it starts its worker, and the process ends
// anyway. stop undoes it.
func onSignal(cmd string, cleanup func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			logsMuted.Store(true)
			code, name := configs.ExitInterrupted, "SIGINT"
			if sig == syscall.SIGTERM {
				code, name = configs.ExitTerminated, "SIGTERM"
			}
			msg := ""
			if release := forceRelease.Load(); release != nil {
				msg = ": " + (*release)()
			}
			cleanup()
			fmt.Fprintf(os.Stderr, "pretext %s: interrupted by %s%s\n", cmd, name, msg)
			os.Exit(code)
		case <-done:
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// usageError is a mistake in how a command was called: exit status 2.
func usageError(msg string) error { return configs.Mistake(errors.New(msg)) }
