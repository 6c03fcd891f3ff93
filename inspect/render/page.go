package render

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"strings"
)

// Gate is one quality gate's outcome.
type Gate struct {
	Name     string
	Measured string
	Expected string
	OK       bool
}

// Section is one part of the report (one dataset).
type Section struct {
	Title    string
	Status   string      // e.g. "ok", "FAILED: 2 gates", "incomplete"
	Facts    [][2]string // key/value table
	Gates    []Gate
	Problems []string // integrity problems, shown in red
	SVGs     []string // histograms from SVG
	PNGs     []Image  // contact sheets
	HTML     []string // trusted fragments from TokensHTML
}

// Image is a PNG with its title, as Sheet makes them.
type Image struct {
	Title string
	PNG   []byte
}

// pngMagic starts every PNG file.
const pngMagic = "\x89PNG\r\n\x1a\n"

// Page assembles a single self-contained HTML document: the title, a table of
// contents with each section's status, then each section with its status,
// its facts as a key/value table, its gates as a table with a pass or fail
// mark per gate, its problems in red, its histograms, its contact sheets and
// its text fragments, in that order.
//
// The status is coloured by what it says: green when it starts with "ok" or
// "pass", red when it mentions "fail" or "error", amber otherwise (for
// example "incomplete"); case does not matter.
//
// The document has an inline stylesheet, images as data: URIs, no JavaScript
// and no reference to anything outside it. All strings are escaped except
// SVGs and HTML, which must come from SVG and TokensHTML. An Image whose bytes
// are not a PNG is not embedded; its title is shown with a note instead.
func Page(title string, sections []Section) []byte {
	var b bytes.Buffer
	e := html.EscapeString
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	fmt.Fprintf(&b, "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n", e(title), pageCSS)
	fmt.Fprintf(&b, "<h1>%s</h1>\n", e(title))

	b.WriteString("<nav class=\"toc\"><h2>Contents</h2>\n")
	if len(sections) == 0 {
		b.WriteString("<p class=\"none\">No datasets.</p>\n")
	} else {
		b.WriteString("<ol>\n")
		for i, s := range sections {
			fmt.Fprintf(&b, "<li><a href=\"#section-%d\">%s</a> %s</li>\n", i+1, e(s.Title), status(s.Status))
		}
		b.WriteString("</ol>\n")
	}
	b.WriteString("</nav>\n")

	for i, s := range sections {
		fmt.Fprintf(&b, "<section id=\"section-%d\">\n<h2>%s %s</h2>\n", i+1, e(s.Title), status(s.Status))
		if len(s.Facts) > 0 {
			b.WriteString("<table class=\"facts\">\n")
			for _, f := range s.Facts {
				fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>\n", e(f[0]), e(f[1]))
			}
			b.WriteString("</table>\n")
		}
		if len(s.Gates) > 0 {
			passed := 0
			for _, g := range s.Gates {
				if g.OK {
					passed++
				}
			}
			fmt.Fprintf(&b, "<h3>Quality gates: %d of %d passed</h3>\n", passed, len(s.Gates))
			b.WriteString("<table class=\"gates\">\n<tr><th></th><th>Gate</th><th>Measured</th><th>Expected</th></tr>\n")
			for _, g := range s.Gates {
				row, mark := "fail", `<td class="mark fail" title="failed">✗</td>`
				if g.OK {
					row, mark = "pass", `<td class="mark pass" title="passed">✓</td>`
				}
				fmt.Fprintf(&b, "<tr class=\"%s\">%s<td>%s</td><td>%s</td><td>%s</td></tr>\n",
					row, mark, e(g.Name), e(g.Measured), e(g.Expected))
			}
			b.WriteString("</table>\n")
		}
		if len(s.Problems) > 0 {
			fmt.Fprintf(&b, "<h3>Integrity problems: %d</h3>\n<ul class=\"problems\">\n", len(s.Problems))
			for _, p := range s.Problems {
				fmt.Fprintf(&b, "<li>%s</li>\n", e(p))
			}
			b.WriteString("</ul>\n")
		}
		if len(s.SVGs) > 0 {
			b.WriteString("<div class=\"charts\">\n")
			for _, svg := range s.SVGs {
				fmt.Fprintf(&b, "<figure class=\"chart\">%s</figure>\n", svg)
			}
			b.WriteString("</div>\n")
		}
		for _, img := range s.PNGs {
			if !strings.HasPrefix(string(img.PNG), pngMagic) {
				fmt.Fprintf(&b, "<figure class=\"sheet\"><figcaption>%s</figcaption><p class=\"bad\">not a PNG image (%d bytes)</p></figure>\n", e(img.Title), len(img.PNG))
				continue
			}
			fmt.Fprintf(&b, "<figure class=\"sheet\"><figcaption>%s</figcaption><img alt=\"%s\" src=\"data:image/png;base64,%s\"></figure>\n",
				e(img.Title), e(img.Title), base64.StdEncoding.EncodeToString(img.PNG))
		}
		if len(s.HTML) > 0 {
			b.WriteString("<div class=\"fragments\">\n")
			for _, h := range s.HTML {
				b.WriteString(h)
				b.WriteByte('\n')
			}
			b.WriteString("</div>\n")
		}
		b.WriteString("</section>\n")
	}
	b.WriteString("</body>\n</html>\n")
	return b.Bytes()
}

// status renders a section status as a coloured badge.
func status(s string) string {
	l := strings.ToLower(strings.TrimSpace(s))
	class := "warn"
	switch {
	case strings.Contains(l, "fail") || strings.Contains(l, "error"):
		class = "bad"
	case strings.HasPrefix(l, "ok") || strings.HasPrefix(l, "pass"):
		class = "ok"
	}
	return `<span class="status ` + class + `">` + html.EscapeString(s) + `</span>`
}

const pageCSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;background:#fafafa;margin:0 auto;padding:16px 24px 48px;max-width:1240px}
h1{font-size:22px;margin:8px 0 16px}
h2{font-size:18px;margin:0 0 12px}
h3{font-size:14px;margin:16px 0 6px}
nav.toc{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 16px;margin-bottom:20px}
nav.toc ol{margin:0;padding-left:22px}
nav.toc li{margin:2px 0}
a{color:#1a5fb4;text-decoration:none}
a:hover{text-decoration:underline}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:16px;margin-bottom:20px}
.status{display:inline-block;font-size:12px;font-weight:600;border-radius:10px;padding:1px 9px;vertical-align:middle;margin-left:6px}
.status.ok{background:#dcf3e0;color:#146c2e}
.status.bad{background:#fbe0e0;color:#a4161a}
.status.warn{background:#fff1cc;color:#8a5a00}
table{border-collapse:collapse;margin:4px 0 8px}
th,td{border:1px solid #e2e2e2;padding:3px 10px;text-align:left;vertical-align:top}
table.facts th{background:#f4f4f4;font-weight:600;white-space:nowrap}
table.facts td,table.gates td{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;word-break:break-all}
table.gates th{background:#f4f4f4}
td.mark{font-weight:bold;text-align:center;font-family:inherit}
td.mark.pass{color:#146c2e}
td.mark.fail{color:#a4161a}
tr.fail td{background:#fff4f4}
ul.problems{color:#a4161a;margin:4px 0}
p.bad{color:#a4161a}
.charts{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
figure{margin:12px 0}
figure.chart{margin:0;border:1px solid #eee}
figure.chart svg{display:block;max-width:100%;height:auto}
figcaption{font-weight:600;margin-bottom:4px}
figure.sheet img{display:block;max-width:100%;image-rendering:pixelated;border:1px solid #eee}
.fragments{margin-top:12px}
.tokrow{margin:10px 0;padding:8px;border:1px solid #eee;border-radius:4px}
.tokcap{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;color:#555;margin-bottom:6px}
.toks{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;line-height:2.3}
.tok{padding:1px 3px;border-radius:3px;white-space:pre}
.tok.seg-a{background:#e3eefc}
.tok.seg-b{background:#e6f6e6}
.tok.special{color:#999}
.tok.masked{outline:2px solid #e8590c;background:#ffe8d6;font-weight:600}
.tok.masked sup{color:#c2410c;font-weight:normal;font-size:10px;margin-left:2px}
`
