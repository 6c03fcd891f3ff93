package transforms

import (
	"errors"
	"fmt"
	"slices"
)

// Fields collects every bad field of a config, each message prefixed with
// the field's path in the YAML file, e.g.
// "tasks.denoise.gaussian_sigma: min must be >= 0 (got -3)". It is pretext's
// one validation helper: the run config (package configs), every task's
// config and the trainer's configs report their bad fields through it, so
// that a config with several mistakes names each of them, the same way.
type Fields struct {
	// Path is prefixed to every field ("tasks.denoise"); "" for none.
	Path string
	errs []error
}

// Addf reports field as bad, with a message made by format.
func (f *Fields) Addf(field, format string, args ...any) {
	p := field
	if f.Path != "" {
		p = f.Path + "." + field
	}
	f.errs = append(f.errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
}

// Add adds errors that already name their fields (a nested config's).
func (f *Fields) Add(errs ...error) {
	for _, err := range errs {
		if err != nil {
			f.errs = append(f.errs, err)
		}
	}
}

// Errs returns the errors so far, one per bad field.
func (f *Fields) Errs() []error { return f.errs }

// Err joins the errors so far: nil when every field is good.
func (f *Fields) Err() error { return errors.Join(f.errs...) }

// AtLeast checks an integer field against a lower bound.
func (f *Fields) AtLeast(field string, v, lo int) {
	if v < lo {
		f.Addf(field, "must be >= %d (got %d)", lo, v)
	}
}

// Within checks a number is in [lo, hi] (NaN fails).
func (f *Fields) Within(field string, v, lo, hi float64) {
	if !(v >= lo && v <= hi) {
		f.Addf(field, "must be in [%g, %g] (got %g)", lo, hi, v)
	}
}

// Span checks a [min, max] range: both ends in [lo, hi] and min <= max.
// An open lower bound (min must be > lo) is asked for with openLo.
func (f *Fields) Span(field string, r [2]float64, lo, hi float64, openLo bool) {
	switch {
	case openLo && !(r[0] > lo):
		f.Addf(field, "min must be > %g (got %g)", lo, r[0])
	case !openLo && !(r[0] >= lo):
		f.Addf(field, "min must be >= %g (got %g)", lo, r[0])
	}
	if !(r[1] <= hi) {
		f.Addf(field, "max must be <= %g (got %g)", hi, r[1])
	}
	if r[0] > r[1] {
		f.Addf(field, "min must be <= max (got [%g, %g])", r[0], r[1])
	}
}

// Kinds checks a non-empty list of distinct names, each one of known.
func (f *Fields) Kinds(field string, got, known []string) {
	if len(got) == 0 {
		f.Addf(field, "must name at least one of %v", known)
	}
	for i, k := range got {
		switch {
		case !slices.Contains(known, k):
			f.Addf(field, "unknown kind %q (want one of %v)", k, known)
		case slices.Contains(got[:i], k):
			f.Addf(field, "kind %q listed twice", k)
		}
	}
}
