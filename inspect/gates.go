package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Z is the number of standard errors a measured share may stray from the
// intended one. The two-sided normal tail beyond 4σ is 6.3·10⁻⁵: a correct
// dataset fails a given share gate about once in 16,000 inspections, so a
// failure means something, while a real deviation of d is caught as soon as
// n exceeds about (4/d)²·p(1−p) rows.
const Z = 4

// Bound is the tolerance of a share measured over n independent draws whose
// intended probability is p: z·sqrt(p(1−p)/n) + 1/n, with z = Z. The first
// term is the binomial standard error scaled to Z; the 1/n term is one draw,
// so that small n (and p near 0 or 1, where the normal approximation is
// poor) are not failed for a count that is off by one. It shrinks as n
// grows; n = 0 gives +Inf (nothing measured, nothing to fail).
func Bound(p float64, n int64) float64 {
	if n <= 0 {
		return math.Inf(1)
	}
	nf := float64(n)
	return Z*math.Sqrt(p*(1-p)/nf) + 1/nf
}

// Gate is one quality gate: a measured value against what the config (or a
// threshold) intends.
type Gate struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Measured string `json:"measured"`
	Expected string `json:"expected"`
	// Value, Want and Tolerance are set for share gates: OK is
	// |Value − Want| <= Tolerance.
	Value     *float64 `json:"value,omitempty"`
	Want      *float64 `json:"want,omitempty"`
	Tolerance *float64 `json:"tolerance,omitempty"`
	// N is the number of draws the share was measured over.
	N int64 `json:"n,omitempty"`
}

func ptr(v float64) *float64 { return &v }

// shareGate compares hits/n with the intended share p, with the binomial
// Bound plus slack (0 for a plain share gate).
func shareGate(name string, hits, n int64, p, slack float64, why string) Gate {
	if n == 0 {
		return Gate{Name: name, OK: true, Measured: "no draws", Expected: fmt.Sprintf("%.4g (nothing to measure)", p)}
	}
	v := float64(hits) / float64(n)
	tol := Bound(p, n) + slack
	exp := fmt.Sprintf("%.4f ± %.4f (z=%d, n=%d)", p, tol, Z, n)
	if why != "" {
		exp += "; " + why
	}
	return Gate{
		Name: name, OK: math.Abs(v-p) <= tol,
		Measured: fmt.Sprintf("%.4f (%d of %d)", v, hits, n), Expected: exp,
		Value: ptr(v), Want: ptr(p), Tolerance: ptr(tol), N: n,
	}
}

// zeroGate is a hard gate: bad counts rows that break a rule; examples name
// up to three of them.
func zeroGate(name string, bad, of int64, rule string, examples []string) Gate {
	g := Gate{Name: name, OK: bad == 0, Expected: rule}
	if bad == 0 {
		g.Measured = fmt.Sprintf("0 of %d", of)
		return g
	}
	g.Measured = fmt.Sprintf("%d of %d", bad, of)
	if len(examples) > 0 {
		g.Measured += " (e.g. " + strings.Join(examples, "; ") + ")"
	}
	return g
}

// maxGate is a threshold on an exactly measured value (not a sample).
func maxGate(name string, v, limit float64, measured string) Gate {
	return Gate{Name: name, OK: v <= limit, Measured: measured, Expected: fmt.Sprintf("<= %.4g (--thresholds)", limit), Value: ptr(v), Want: ptr(limit)}
}

// examples collects up to three examples of a broken rule and counts them all.
type examples struct {
	n    int64
	list []string
}

func (e *examples) add(format string, args ...any) {
	e.n++
	if len(e.list) < 3 {
		e.list = append(e.list, fmt.Sprintf(format, args...))
	}
}

// wholeRange reports where a share of n that must lie in r can lie: a share
// drawn as a whole count k/n with k in [r0·n, r1·n] when such a k exists
// (the pipelines' guarantee), otherwise the count nearest the middle of r.
// It returns the allowed [lo, hi] of the share.
func wholeRange(r [2]float64, n int) (lo, hi float64) {
	if n <= 0 {
		return r[0], r[1]
	}
	nf := float64(n)
	a := math.Ceil(r[0]*nf - 1e-9)
	b := math.Floor(r[1]*nf + 1e-9)
	if a <= b {
		return r[0], r[1]
	}
	c := math.Min(nf, math.Round((r[0]+r[1])/2*nf)) / nf
	return c, c
}

// within reports whether v lies in [lo, hi] up to float32 rounding, which is
// how shares are stored.
func within(v, lo, hi float64) bool {
	const eps = 1e-6
	return v >= lo-eps && v <= hi+eps
}

// Thresholds are extra gates a user sets in a YAML file (--thresholds); an
// absent key sets no gate. Shares are in [0, 1].
type Thresholds struct {
	// MaxDeadLetterShare bounds dead letters / inputs of each task dataset.
	MaxDeadLetterShare *float64 `yaml:"max_dead_letter_share" json:"max_dead_letter_share,omitempty"`
	// MaxFilteredShare bounds filtered inputs / inputs.
	MaxFilteredShare *float64 `yaml:"max_filtered_share" json:"max_filtered_share,omitempty"`
	// MaxDuplicateRate bounds the share of image rows whose target repeats
	// another row's (exact content hash).
	MaxDuplicateRate *float64 `yaml:"max_duplicate_rate" json:"max_duplicate_rate,omitempty"`
	// MaxGrayShare bounds colorize rows whose source is grayscale.
	MaxGrayShare *float64 `yaml:"max_gray_share" json:"max_gray_share,omitempty"`
	// MaxSilentShare bounds silent av_correspond and audio_mask rows.
	MaxSilentShare *float64 `yaml:"max_silent_share" json:"max_silent_share,omitempty"`
	// MaxUNKRate bounds [UNK] among the non-special tokens of mlm_nsp rows.
	MaxUNKRate *float64 `yaml:"max_unk_rate" json:"max_unk_rate,omitempty"`
	// MinRows is the least number of rows of each task dataset.
	MinRows *int64 `yaml:"min_rows" json:"min_rows,omitempty"`
}

// ReadThresholds reads a thresholds file strictly: an unknown key or a
// share outside [0, 1] is an error, each named.
func ReadThresholds(path string) (*Thresholds, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("thresholds: %w", err)
	}
	t, err := ParseThresholds(data)
	if err != nil {
		return nil, fmt.Errorf("thresholds %s: %w", path, err)
	}
	return t, nil
}

// ParseThresholds decodes thresholds from YAML; see ReadThresholds.
func ParseThresholds(data []byte) (*Thresholds, error) {
	var t Thresholds
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var errs []error
	for _, s := range []struct {
		name string
		v    *float64
	}{
		{"max_dead_letter_share", t.MaxDeadLetterShare}, {"max_filtered_share", t.MaxFilteredShare},
		{"max_duplicate_rate", t.MaxDuplicateRate}, {"max_gray_share", t.MaxGrayShare},
		{"max_silent_share", t.MaxSilentShare}, {"max_unk_rate", t.MaxUNKRate},
	} {
		if s.v != nil && !(*s.v >= 0 && *s.v <= 1) {
			errs = append(errs, fmt.Errorf("%s: must be in [0, 1] (got %v)", s.name, *s.v))
		}
	}
	if t.MinRows != nil && *t.MinRows < 0 {
		errs = append(errs, fmt.Errorf("min_rows: must be >= 0 (got %d)", *t.MinRows))
	}
	return &t, errors.Join(errs...)
}
