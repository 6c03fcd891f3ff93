package inspect

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/pretext-dev/pretext/inspect/render"
)

// WriteText writes the report for a person: per dataset its status,
// counts, key statistics, notes, problems and gates with ✓ or ✗.
func (r *Report) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "pretext inspect %s\n", r.Dir)
	for _, d := range r.Datasets {
		fmt.Fprintf(b, "\n%s (%s): %s\n", d.Name, d.Task, strings.ToUpper(d.Status))
		width := len("checked against")
		for _, f := range d.Facts {
			width = max(width, len([]rune(f.Name)))
		}
		for _, f := range d.Facts {
			fmt.Fprintf(b, "  %-*s  %s\n", width, f.Name, f.Value)
		}
		if d.ConfigSource != "" {
			fmt.Fprintf(b, "  %-*s  %s\n", width, "checked against", d.ConfigSource)
		}
		for _, n := range d.Notes {
			fmt.Fprintf(b, "  note: %s\n", n)
		}
		for _, p := range d.Problems {
			fmt.Fprintf(b, "  problem: %s\n", p)
		}
		if len(d.Gates) > 0 {
			passed := 0
			for _, g := range d.Gates {
				if g.OK {
					passed++
				}
			}
			fmt.Fprintf(b, "  gates: %d of %d passed\n", passed, len(d.Gates))
			for _, g := range d.Gates {
				mark := "✓"
				if !g.OK {
					mark = "✗"
				}
				fmt.Fprintf(b, "    %s %s: %s; expected %s\n", mark, g.Name, g.Measured, g.Expected)
			}
		}
	}
	if r.OK {
		fmt.Fprintf(b, "\nevery dataset passes (%d)\n", len(r.Datasets))
	} else {
		fmt.Fprintf(b, "\n%d failures:\n", len(r.Failures))
		for _, f := range r.Failures {
			fmt.Fprintf(b, "  ✗ %s\n", f)
		}
	}
	return b.Flush()
}

// PanelSize is the side of a contact sheet's panels, in pixels.
const PanelSize = 160

// HTML renders the report as one self-contained page: per dataset its
// facts, gates, problems, histograms (inline SVG), a contact sheet of the
// sampled rows (PNG) for image, audio and video tasks, and the sampled rows
// with their masked tokens for text.
func (r *Report) HTML() ([]byte, error) {
	var sections []render.Section
	for _, d := range r.Datasets {
		s := render.Section{
			Title:    fmt.Sprintf("%s (%s)", d.Name, d.Task),
			Status:   d.Status,
			Problems: d.Problems,
			HTML:     d.fragments,
		}
		if d.Status == "failed" {
			n := 0
			for _, g := range d.Gates {
				if !g.OK {
					n++
				}
			}
			s.Status = fmt.Sprintf("failed: %d gates, %d problems", n, len(d.Problems))
		}
		for _, f := range d.Facts {
			s.Facts = append(s.Facts, [2]string{f.Name, f.Value})
		}
		if d.ConfigSource != "" {
			s.Facts = append(s.Facts, [2]string{"checked against", d.ConfigSource})
		}
		for _, n := range d.Notes {
			s.Facts = append(s.Facts, [2]string{"note", n})
		}
		for _, g := range d.Gates {
			s.Gates = append(s.Gates, render.Gate{Name: g.Name, Measured: g.Measured, Expected: g.Expected, OK: g.OK})
		}
		for _, h := range d.Histograms {
			s.SVGs = append(s.SVGs, render.SVG(render.Histogram{Title: h.Title, Labels: h.Labels, Counts: h.Counts}))
		}
		if len(d.sheet) > 0 {
			png, err := render.Sheet(d.sheet, PanelSize)
			if err != nil {
				return nil, fmt.Errorf("inspect: contact sheet of %s: %w", d.Name, err)
			}
			s.PNGs = append(s.PNGs, render.Image{Title: fmt.Sprintf("%d rows of %s (smallest key hashes)", len(d.sheet), d.Name), PNG: png})
		}
		sections = append(sections, s)
	}
	title := "pretext inspect " + r.Dir
	return render.Page(title, sections), nil
}
