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
	"flag"
	"fmt"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
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

Run "pretext run --help" for the run flags, Beam's included (--runner: prism
by default, in-process; direct, universal, flink, dataflow).
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
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
		os.Exit(2)
	}
	// Subcommand flags live in the global set beside Beam's, parsed after the
	// subcommand; beam.Init runs before dispatch.
	if err := flag.CommandLine.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	beam.Init()
	cleanup := func() {}
	if cmd == "run" || cmd == "vocab" { // the commands that run Beam pipelines
		cleanup = pipelines.PrivateTemp()
	}
	err := run(context.Background())
	cleanup()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pretext %s: %v\n", cmd, err)
		os.Exit(1)
	}
}
