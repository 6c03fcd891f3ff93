package render

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Histogram is counts over labelled buckets, drawn as a bar chart.
type Histogram struct {
	Title  string
	Labels []string // one per bucket, e.g. "0-10%"
	Counts []int64
}

// The chart's geometry, in SVG user units (pixels at 100% zoom).
const (
	svgWidth      = 560 // two charts side by side on a 1280-pixel screen
	svgPlotHeight = 180
	svgLeft       = 64 // room for the y-axis numbers
	svgRight      = 16
	svgTop        = 36 // room for the title
	svgLabelFlat  = 28 // x labels written horizontally
	svgCharWidth  = 6  // rough width of a character at font-size 10
	svgMaxLabel   = 16 // longer bucket labels are cut (the full one is in the tooltip)
	svgMaxTitle   = 64 // longer titles are cut (the full one is the chart's <title>)
)

// SVG returns a self-contained inline <svg> bar chart of h: the title on top,
// the bucket labels under the bars, a count axis with grid lines, and each
// bucket's label and count as a tooltip (an SVG <title>) over the whole height
// of its column so that empty buckets can be hovered too.
//
// The buckets are the longer of Labels and Counts, a missing label being
// empty and a missing count 0; negative counts are drawn as empty bars. An
// empty histogram draws a frame saying "no data". The element has no xmlns
// attribute, which an HTML parser does not need: it is meant to be inlined in
// an HTML page, not saved as an .svg file. All text is escaped, and the
// output is well-formed XML.
func SVG(h Histogram) string {
	n := max(len(h.Labels), len(h.Counts))
	plotW := float64(svgWidth - svgLeft - svgRight)
	bw := plotW
	if n > 0 {
		bw = plotW / float64(n)
	}
	labels := make([]string, n)
	counts := make([]int64, n)
	var top int64
	longest := 0
	for i := range n {
		if i < len(h.Labels) {
			labels[i] = h.Labels[i]
		}
		if i < len(h.Counts) {
			counts[i] = h.Counts[i]
		}
		top = max(top, counts[i])
		longest = max(longest, len([]rune(cut(labels[i], svgMaxLabel))))
	}
	slant := float64(longest*svgCharWidth) > bw-2
	labelH := svgLabelFlat
	if slant {
		// A label at 45° reaches down by its length over √2.
		labelH = 18 + int(math.Ceil(float64(longest*svgCharWidth)/math.Sqrt2))
	}
	height := svgTop + svgPlotHeight + labelH
	// With more buckets than fit side by side, label every step-th one.
	step := 1
	if slant && bw < 12 {
		step = int(math.Ceil(12 / bw))
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="histogram" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="sans-serif" font-size="10">`,
		svgWidth, height, svgWidth, height, esc(h.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(h.Title))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#fff"/>`, svgWidth, height)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="13" font-weight="bold" fill="#222">%s</text>`, svgLeft, esc(cut(h.Title, svgMaxTitle)))

	base := float64(svgTop + svgPlotHeight)
	if n == 0 {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%s" height="%d" fill="none" stroke="#ccc"/>`, svgLeft, svgTop, num(plotW), svgPlotHeight)
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="#888">no data</text>`, num(svgLeft+plotW/2), num(svgTop+svgPlotHeight/2))
		b.WriteString(`</svg>`)
		return b.String()
	}

	tick, yMax := axis(top)
	for v := int64(0); v <= yMax; v += tick {
		y := base - float64(v)/float64(yMax)*svgPlotHeight
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%s" y2="%s" stroke="#e4e4e4"/>`, svgLeft, num(y), num(svgLeft+plotW), num(y))
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" fill="#555">%s</text>`, svgLeft-6, num(y+3.5), short(v))
	}

	for i := range n {
		x := svgLeft + float64(i)*bw
		barH := 0.0
		if counts[i] > 0 {
			barH = float64(counts[i]) / float64(yMax) * svgPlotHeight
		}
		gap := min(bw*0.1, 4)
		fmt.Fprintf(&b, `<g><title>%s: %d</title>`, esc(labels[i]), counts[i])
		fmt.Fprintf(&b, `<rect x="%s" y="%d" width="%s" height="%d" fill="#fff" fill-opacity="0"/>`, num(x), svgTop, num(bw), svgPlotHeight)
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="#3b7dd8"/>`, num(x+gap/2), num(base-barH), num(bw-gap), num(barH))
		if c := strconv.FormatInt(counts[i], 10); float64(len(c)*svgCharWidth) <= bw-2 {
			fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="#333">%s</text>`, num(x+bw/2), num(base-barH-3), c)
		}
		b.WriteString(`</g>`)
		if i%step != 0 {
			continue
		}
		cx := x + bw/2
		if slant {
			fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end" transform="rotate(-45 %s %s)" fill="#333">%s</text>`,
				num(cx), num(base+12), num(cx), num(base+12), esc(cut(labels[i], svgMaxLabel)))
		} else {
			fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" fill="#333">%s</text>`, num(cx), num(base+14), esc(cut(labels[i], svgMaxLabel)))
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%s" y2="%s" stroke="#888"/>`, svgLeft, num(base), num(svgLeft+plotW), num(base))
	b.WriteString(`</svg>`)
	return b.String()
}

// axis returns a round tick step (1, 2 or 5 times a power of ten) giving
// about four ticks, and the axis top: the first tick at or above top.
func axis(top int64) (tick, yMax int64) {
	if top <= 0 {
		return 1, 1
	}
	raw := float64(top) / 4
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	tick = int64(pow)
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			tick = int64(m * pow)
			break
		}
	}
	tick = max(tick, 1)
	yMax = (top + tick - 1) / tick * tick
	return tick, yMax
}

// short writes an axis tick compactly: 250000 as 250k, 3000000 as 3M.
func short(v int64) string {
	switch {
	case v >= 1e9 && v%1e8 == 0:
		return strconv.FormatFloat(float64(v)/1e9, 'f', -1, 64) + "G"
	case v >= 1e6 && v%1e5 == 0:
		return strconv.FormatFloat(float64(v)/1e6, 'f', -1, 64) + "M"
	case v >= 1e4 && v%100 == 0:
		return strconv.FormatFloat(float64(v)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatInt(v, 10)
}

// esc escapes s for XML text and attribute values; characters XML forbids
// become U+FFFD, so data with control bytes still gives a well-formed chart.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

// cut shortens s to at most n runes, marking the cut with "…".
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// num formats a coordinate with one decimal at most, which keeps the SVG
// short and the same on every platform.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}
