package inspect

import (
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/inspect/render"
)

// hostile is a string from the data (a key, a caption, a token, a dead
// letter's detail) that would run as script if the report did not escape it.
const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>&"'`

// Every string that reaches the HTML report from the data, or from the
// folder and config names, is shown as text: the page has no element or
// attribute the data made, and holds each hostile string escaped.
func TestHTMLEscapesData(t *testing.T) {
	d := &Dataset{
		Name: hostile, Dir: hostile, Task: hostile, Status: hostile, ConfigSource: hostile,
		Problems: []string{hostile}, Notes: []string{hostile},
		Facts:      []Fact{{Name: hostile, Value: hostile}},
		Gates:      []Gate{{Name: hostile, Measured: hostile, Expected: hostile, OK: false}},
		Histograms: []Histogram{{Title: hostile, Labels: []string{hostile, "b"}, Counts: []int64{1, 2}}},
		fragments: []string{render.TokensHTML(hostile, []render.Token{
			{Text: hostile, Segment: 0}, {Text: hostile, Masked: true, Original: hostile, Segment: 1},
		})},
	}
	failed := *d
	failed.Status = "failed"
	r := &Report{Dir: hostile, Datasets: []*Dataset{d, &failed}, Failures: []string{hostile}}
	page, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	for _, raw := range []string{"<script", "<img", "onerror=alert(1)>", `"x")`} {
		if strings.Contains(s, raw) {
			t.Errorf("the page holds %q unescaped", raw)
		}
	}
	if n := strings.Count(s, "&lt;script&gt;alert("); n < 12 {
		t.Errorf("the hostile string appears escaped %d times; every field should show it as text", n)
	}
}
