package data

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/pretext-dev/pretext/sinks"
)

// family says how to read one task's rows.
type family struct {
	hasSplit bool // rows have a split column
	open     func(ctx context.Context, d *dataset, opts Options) (source, error)
}

// The tasks the loader reads, by the name their manifest and footers carry.
var families = map[string]*family{
	"colorize":      {hasSplit: true, open: openWith(colorizeCodec)},
	"denoise":       {hasSplit: true, open: openWith(denoiseCodec)},
	"inpaint":       {hasSplit: true, open: openWith(inpaintCodec)},
	"mlm_nsp":       {hasSplit: false, open: openWith(textCodec)},
	"audio_mask":    {hasSplit: true, open: openWith(audioCodec)},
	"av_correspond": {hasSplit: true, open: openWith(avCodec)},
}

func familyOf(task string) *family { return families[task] }

func taskNames() []string {
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// openWith returns a family's open function for row type T, whose codec
// newCodec makes for the dataset and options.
func openWith[T any](newCodec func(d *dataset, opts Options) (codec[T], error)) func(context.Context, *dataset, Options) (source, error) {
	return func(ctx context.Context, d *dataset, opts Options) (source, error) {
		c, err := newCodec(d, opts)
		if err != nil {
			return nil, err
		}
		return newStream(ctx, d, opts, c)
	}
}

// The row types' keys and splits.
func colorizeKey(r *sinks.ColorizeRow) string   { return r.Key }
func colorizeSplit(r *sinks.ColorizeRow) string { return r.Split }
func denoiseKey(r *sinks.DenoiseRow) string     { return r.Key }
func denoiseSplit(r *sinks.DenoiseRow) string   { return r.Split }
func inpaintKey(r *sinks.InpaintRow) string     { return r.Key }
func inpaintSplit(r *sinks.InpaintRow) string   { return r.Split }
func mlmKey(r *sinks.MLMRow) string             { return r.Key }
func audioKey(r *sinks.AudioMaskRow) string     { return r.Key }
func audioSplit(r *sinks.AudioMaskRow) string   { return r.Split }
func avKey(r *sinks.AVRow) string               { return r.Key }
func avSplit(r *sinks.AVRow) string             { return r.Split }

// parallel runs fn(0) … fn(n-1) on up to workers goroutines and returns the
// error of the lowest index that failed, so that the error, like the batch,
// does not depend on scheduling.
func parallel(n, workers int, fn func(i int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
