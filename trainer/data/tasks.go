package data

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/pretext-dev/pretext/sinks"
)

// Rows is the loader's side of one task: how the rows of its Parquet row
// type T (the type the pipeline writes for it) become batches. A task
// registers it once, with Register, beside its code: the tasks this package
// ships in image.go, text.go and audio.go; a task added later in the
// trainer's file of that task, which also registers its head (see package
// train), so that a new task touches no file of the loader.
type Rows[T any] struct {
	// Key returns a row's key, for errors that name the row.
	Key func(*T) string
	// Split returns a row's split (train, val, test); nil when the task's
	// rows have no split column, and then Options.Split must be empty.
	Split func(*T) string
	// Batcher makes, for one dataset, the function that turns rows into a
	// batch. It sees the dataset's manifest (the label-shaping config the
	// pipeline recorded) and the options, and fails, before any row is
	// read, when they do not fit together.
	Batcher func(d Info, opts Options) (Batcher[T], error)
}

// Batcher makes the batch of rows, drawn in epoch epoch (a batcher that
// draws, as dynamic masking does, seeds by it). An error caused by one row
// is a *RowError, so that the loader can name the row's shard and key.
type Batcher[T any] func(rows []T, epoch int) (Batch, error)

// Info is what a Batcher knows of the dataset it reads.
type Info struct {
	// Dir is the dataset's folder, for errors.
	Dir string
	// Manifest is its manifest.
	Manifest *sinks.Manifest
}

// DecodeSection decodes one section of the manifest's label-config
// document (sinks.LabelConfig: the pipeline's resolved, label-shaping
// config), the one section picks, into v, a value of the type that owns that
// section (text.InstanceConfig, audio.Options …). A manifest without a
// config, or without that section, leaves v as it is.
func (i Info) DecodeSection(section func(sinks.LabelConfig) json.RawMessage, v any) error {
	lc, err := i.Manifest.LabelConfig()
	if err == nil {
		err = sinks.Section(section(lc), v)
	}
	if err != nil {
		return fmt.Errorf("data: %s: manifest config: %w", i.Dir, err)
	}
	return nil
}

// RowError is a row that cannot go into a batch.
type RowError struct {
	// Row is the row's index in the rows given to the Batcher.
	Row int
	Err error
}

func (e *RowError) Error() string { return e.Err.Error() }
func (e *RowError) Unwrap() error { return e.Err }

// reader is a registered task's Rows with its row type erased.
type reader struct {
	hasSplit bool
	open     func(ctx context.Context, d *dataset, opts Options) (source, error)
}

var (
	readersMu sync.RWMutex
	readers   = map[string]*reader{}
)

// Register makes the loader read the datasets of task, the name their
// manifests and shard footers carry, with r. It panics on an incomplete or
// second registration of a task: a programming error that any test of the
// package that registers it catches.
func Register[T any](task string, r Rows[T]) {
	if task == "" || r.Key == nil || r.Batcher == nil {
		panic(fmt.Sprintf("data: incomplete registration of task %q", task))
	}
	readersMu.Lock()
	defer readersMu.Unlock()
	if _, dup := readers[task]; dup {
		panic(fmt.Sprintf("data: task %q registered twice", task))
	}
	readers[task] = &reader{
		hasSplit: r.Split != nil,
		open: func(ctx context.Context, d *dataset, opts Options) (source, error) {
			b, err := r.Batcher(Info{Dir: d.dir, Manifest: d.manifest}, opts)
			if err != nil {
				return nil, err
			}
			return newStream(ctx, d, opts, codec[T]{split: r.Split, key: r.Key, build: b})
		},
	}
}

func readerOf(task string) *reader {
	readersMu.RLock()
	defer readersMu.RUnlock()
	return readers[task]
}

// Tasks are the tasks the loader reads, sorted.
func Tasks() []string {
	readersMu.RLock()
	defer readersMu.RUnlock()
	names := make([]string, 0, len(readers))
	for n := range readers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

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
