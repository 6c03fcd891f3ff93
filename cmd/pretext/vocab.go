package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/pretext-dev/pretext/pipelines"
	"github.com/pretext-dev/pretext/transforms/text"
)

// vocabFlags registers the vocab flags in fs and returns the command, a Beam
// pipeline that learns a WordPiece vocabulary from a corpus.
func vocabFlags(fs *flag.FlagSet) func(context.Context) error {
	input := fs.String("input", "", "corpus file pattern (required; ** matches across folders)")
	output := fs.String("output", "", "vocab.txt to write, on any Beam filesystem (required)")
	size := fs.Int("size", 30522, "vocabulary size, reserved tokens included")
	cased := fs.Bool("cased", false, "keep case and accents (the default lower-cases, as bert-base-uncased)")
	return func(ctx context.Context) error {
		var errs []error
		if *input == "" {
			errs = append(errs, usageError("--input is required"))
		}
		if *output == "" {
			errs = append(errs, usageError("--output is required"))
		}
		if *size < 100 {
			errs = append(errs, usageError(fmt.Sprintf("--size must be >= 100 (got %d)", *size)))
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		quietRunnerLogs()
		learn := text.DefaultLearnConfig()
		learn.Size = *size
		p, s := beam.NewPipelineWithRoot()
		pipelines.Vocab(s, pipelines.VocabOptions{Input: *input, Output: *output, LowerCase: !*cased, Learn: learn})
		start := time.Now()
		if err := beamx.Run(ctx, p); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s in %.1fs\n", *output, time.Since(start).Seconds())
		return nil
	}
}
