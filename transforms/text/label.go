package text

import (
	"context"
	"fmt"

	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// Labeler is what a text task registers as its transforms.Task.Impl: the
// text pipeline calls every configured text task through it, and knows
// nothing else of any of them.
//
// The pipeline reads and tokenizes each document once, cuts the corpus into
// groups of text.group_size documents (in key order within a bucket) and
// calls Label once per document and task. others are the rest of the
// document's group, in order; when a bucket holds a single document, they
// are the first group of the next bucket that holds any, and they are empty
// only when the whole corpus is one document. doc and others are shared by
// every task of the run and reused after Label returns: a labeler must not
// change them or keep them.
//
// Label writes the document's rows to out (their keys and payload sizes as
// sinks.Writer takes them) and counts its label statistics there; it returns
// the number of rows written. A document the task cannot use is not an
// error: Label returns no rows and the reason (a short snake_case word such
// as "no_instances"), which the manifests count as a filter drop when no
// task of the run made rows of the document. err is a failure of the run
// (out could not write), and fails the bundle.
//
// A task that draws random numbers seeds them from (env.Seed, env.Task,
// doc.ID, …) with package seeding, so that its rows do not depend on the
// other tasks of the run, on workers or on bundles.
type Labeler interface {
	Label(ctx context.Context, doc Document, others []Document, env Env, out RowWriter) (rows int, filtered string, err error)
}

// Env is what a text task knows of its run besides the documents.
type Env struct {
	// Seed is the run's seed.
	Seed int64
	// Task is the task's name.
	Task string
	// Config is the task's config (its registered NewConfig, decoded from
	// the run's config).
	Config transforms.Config
	// Vocab is the run's vocabulary (text.vocab), which tokenized the
	// documents.
	Vocab *Vocab
}

// RowWriter takes the rows of one task: sinks.Writer is one. Add writes a
// row of the task's registered Format under key; size is its payload in
// bytes (what the writer buffers before it spills). Count adds n to the
// named statistic of the task's manifest.
type RowWriter interface {
	Add(ctx context.Context, key string, row any, size int) error
	Count(stat string, n int64)
}

var _ RowWriter = (*sinks.Writer)(nil)

// ReasonNoRows is the filter reason of a document that no task made rows
// of when none said why.
const ReasonNoRows = "no_rows"

// TaskSpec is one text task of a run as the pipeline's DoFns carry it.
type TaskSpec = transforms.Spec

// Labelers are the text tasks of a run, ready to label documents.
type Labelers struct {
	labelers []Labeler
	envs     []Env
}

// NewLabelers looks up each task in the registry, checks that it is a text
// task and decodes its config.
func NewLabelers(specs []TaskSpec, seed int64, v *Vocab) (*Labelers, error) {
	l := &Labelers{}
	for _, ts := range specs {
		lab, cfg, err := transforms.Resolve[Labeler](ts.Name, ts.Config, "text")
		if err != nil {
			return nil, fmt.Errorf("text: %w", err)
		}
		l.labelers = append(l.labelers, lab)
		l.envs = append(l.envs, Env{Seed: seed, Task: ts.Name, Config: cfg, Vocab: v})
	}
	return l, nil
}

// Label makes the rows of doc for every task, task i writing to out[i]. It
// returns the rows of all tasks and, when there are none, the reason of the
// first task (in the order given to NewLabelers) that gave one, or
// ReasonNoRows. An error names its task.
func (l *Labelers) Label(ctx context.Context, doc Document, others []Document, out []RowWriter) (rows int, filtered string, err error) {
	for i, lab := range l.labelers {
		n, why, err := lab.Label(ctx, doc, others, l.envs[i], out[i])
		if err != nil {
			return 0, "", fmt.Errorf("%s: %w", l.envs[i].Task, err)
		}
		rows += n
		if n == 0 && filtered == "" {
			filtered = why
		}
	}
	switch {
	case rows > 0:
		filtered = ""
	case filtered == "":
		filtered = ReasonNoRows
	}
	return rows, filtered, nil
}
