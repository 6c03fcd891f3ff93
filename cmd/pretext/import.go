package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/trainer/mnist"
)

// importFlags registers the import flags in fs and returns the command:
// `pretext import mnist --out DIR` writes MNIST's 60k training images as PNGs
// (no labels) under DIR/images for the image pipeline, and copies the four
// labeled idx files to DIR/idx for `pretext finetune`.
func importFlags(fs *flag.FlagSet) func(context.Context) error {
	out := fs.String("out", "", "output folder (required): images/ gets the PNGs, idx/ the labeled idx files")
	src := fs.String("src", "", "folder holding MNIST's idx files (default: the data/ folder of the Go module "+mnist.Module+" in the module cache)")
	pad := fs.Int("pad", 2, "background pixels added on every side of each image (2 makes 28×28 into 32×32, the pipeline's default minimum size)")
	limit := fs.Int("limit", 0, "write only the first N training images (0: all 60,000)")
	return func(ctx context.Context) error {
		args := fs.Args()
		if len(args) > 0 && args[0] != "mnist" {
			return usageError(fmt.Sprintf("unknown dataset %q: import knows mnist", args[0]))
		}
		if len(args) > 0 {
			if err := fs.Parse(args[1:]); err != nil {
				return configs.Mistake(err)
			}
		}
		if len(args) == 0 || len(fs.Args()) > 0 || *out == "" {
			return usageError("usage: pretext import mnist --out DIR [--src DIR] [--pad 2] [--limit N]")
		}
		dir := *src
		if dir == "" {
			var err error
			if dir, err = mnist.ModuleDir(); err != nil {
				return err
			}
		}
		train, err := mnist.Load(filepath.Join(dir, mnist.TrainImages), "")
		if err != nil {
			return err
		}
		if *limit > 0 && *limit < train.Len() {
			train.Pixels = train.Pixels[:*limit*train.Rows*train.Cols]
		}
		n, err := mnist.WritePNGs(train, filepath.Join(*out, "images"), *pad)
		if err != nil {
			return err
		}
		idx := filepath.Join(*out, "idx")
		if err := os.MkdirAll(idx, 0o755); err != nil {
			return err
		}
		for _, name := range []string{mnist.TrainImages, mnist.TrainLabels, mnist.TestImages, mnist.TestLabels} {
			if err := copyFile(filepath.Join(dir, name), filepath.Join(idx, name)); err != nil {
				return err
			}
		}
		// Both sets must read back: a bad download fails here, not in finetune.
		for _, set := range []string{"train", "test"} {
			if _, err := mnist.LoadDir(idx, set); err != nil {
				return err
			}
		}
		fmt.Printf("wrote %d images (%d×%d) to %s and the labeled idx files to %s\n",
			n, train.Cols+2**pad, train.Rows+2**pad, filepath.Join(*out, "images"), idx)
		return nil
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := to + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, to)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return nil
}
