package vision

import (
	"errors"
	"fmt"
	"slices"
)

// fieldErrors collects every bad field of a config, each message prefixed
// with the field's path in the YAML file, e.g.
// "tasks.denoise.gaussian_sigma: min must be >= 0 (got -3)".
type fieldErrors struct {
	path string
	errs []error
}

func (f *fieldErrors) addf(field, format string, args ...any) {
	p := field
	if f.path != "" {
		p = f.path + "." + field
	}
	f.errs = append(f.errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
}

func (f *fieldErrors) err() error { return errors.Join(f.errs...) }

// atLeast checks an integer field against a lower bound.
func (f *fieldErrors) atLeast(field string, v, lo int) {
	if v < lo {
		f.addf(field, "must be >= %d (got %d)", lo, v)
	}
}

// within checks a number is in [lo, hi] (NaN fails).
func (f *fieldErrors) within(field string, v, lo, hi float64) {
	if !(v >= lo && v <= hi) {
		f.addf(field, "must be in [%g, %g] (got %g)", lo, hi, v)
	}
}

// span checks a [min, max] range: both ends in [lo, hi] and min <= max.
// An open lower bound (min must be > lo) is asked for with openLo.
func (f *fieldErrors) span(field string, r [2]float64, lo, hi float64, openLo bool) {
	switch {
	case openLo && !(r[0] > lo):
		f.addf(field, "min must be > %g (got %g)", lo, r[0])
	case !openLo && !(r[0] >= lo):
		f.addf(field, "min must be >= %g (got %g)", lo, r[0])
	}
	if !(r[1] <= hi) {
		f.addf(field, "max must be <= %g (got %g)", hi, r[1])
	}
	if r[0] > r[1] {
		f.addf(field, "min must be <= max (got [%g, %g])", r[0], r[1])
	}
}

// kinds checks a non-empty list of distinct names, each one of known.
func (f *fieldErrors) kinds(field string, got, known []string) {
	if len(got) == 0 {
		f.addf(field, "must name at least one of %v", known)
	}
	for i, k := range got {
		switch {
		case !slices.Contains(known, k):
			f.addf(field, "unknown kind %q (want one of %v)", k, known)
		case slices.Contains(got[:i], k):
			f.addf(field, "kind %q listed twice", k)
		}
	}
}
