package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/pretext-dev/pretext/transforms/text"
)

// tokenizeFlags registers the tokenize flags in fs and returns the command:
// it reads lines on stdin and writes {"tokens": [...], "ids": [...]} per line.
func tokenizeFlags(fs *flag.FlagSet) func(context.Context) error {
	vocab := fs.String("vocab", "", "WordPiece vocab.txt on any Beam filesystem (required)")
	cased := fs.Bool("cased", false, "keep case and accents (cased models); the default lower-cases and strips accents")
	return func(ctx context.Context) error {
		if *vocab == "" {
			return usageError("--vocab is required")
		}
		v, _, err := text.LoadVocab(ctx, *vocab)
		if err != nil {
			return err
		}
		tok := text.NewTokenizer(v, !*cased)
		in := bufio.NewScanner(os.Stdin)
		in.Buffer(make([]byte, 1<<20), 64<<20)
		out := bufio.NewWriter(os.Stdout)
		defer out.Flush()
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		for in.Scan() {
			tokens, ids := tok.TokenizeIDs(in.Text())
			if tokens == nil {
				tokens, ids = []string{}, []int32{}
			}
			if err := enc.Encode(struct {
				Tokens []string `json:"tokens"`
				IDs    []int32  `json:"ids"`
			}{tokens, ids}); err != nil {
				return err
			}
		}
		if err := in.Err(); err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
		return nil
	}
}
