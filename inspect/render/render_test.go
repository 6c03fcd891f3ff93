package render

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// wellFormed parses s as XML to its end.
func wellFormed(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s)
		}
	}
}

func TestSVG(t *testing.T) {
	many := Histogram{Title: "tokens per row"}
	for i := range 60 {
		many.Labels = append(many.Labels, fmt.Sprintf("%d-%d tokens", i*8, i*8+7))
		many.Counts = append(many.Counts, int64(i*i))
	}
	tests := []struct {
		name  string
		h     Histogram
		want  []string
		avoid []string
	}{
		{
			name:  "script title",
			h:     Histogram{Title: `<script>alert("x")</script> & co`, Labels: []string{"a<b", "c"}, Counts: []int64{3, 7}},
			want:  []string{"&lt;script&gt;", "&amp; co", "<title>a&lt;b: 3</title>", "<title>c: 7</title>"},
			avoid: []string{"<script", "http://", "https://"},
		},
		{
			name: "empty",
			h:    Histogram{Title: "nothing"},
			want: []string{"no data"},
		},
		{
			name: "labels and counts of different lengths",
			h:    Histogram{Title: "ragged", Labels: []string{"a", "b", "c"}, Counts: []int64{5, -2}},
			want: []string{"<title>c: 0</title>", "<title>b: -2</title>"},
		},
		{
			name: "control characters",
			h:    Histogram{Title: "bell\x07 nul\x00", Labels: []string{"\x01"}, Counts: []int64{1}},
			want: []string{"\uFFFD"},
		},
		{
			name: "many buckets",
			h:    many,
			want: []string{"rotate(-45", "<title>472-479 tokens: 3481</title>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := SVG(tt.h)
			wellFormed(t, s)
			if !strings.HasPrefix(s, "<svg ") || !strings.HasSuffix(s, "</svg>") {
				t.Errorf("not one <svg> element: %.60q…", s)
			}
			for _, w := range tt.want {
				if !strings.Contains(s, w) {
					t.Errorf("SVG lacks %q", w)
				}
			}
			for _, a := range tt.avoid {
				if strings.Contains(s, a) {
					t.Errorf("SVG contains %q", a)
				}
			}
		})
	}
}

func TestSVGGolden(t *testing.T) {
	got := SVG(Histogram{
		Title:  "inpaint mask ratio",
		Labels: []string{"0-10%", "10-20%", "20-30%", "30-40%", "40-50%"},
		Counts: []int64{0, 12, 345, 80, 7},
	})
	golden(t, "svg_mask_ratio.svg", []byte(got))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

// checker is a w×h black and white checkerboard of 1-pixel squares.
func checker(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			if (x+y)%2 == 0 {
				img.SetNRGBA(x, y, color.NRGBA{0, 0, 0, 255})
			} else {
				img.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
			}
		}
	}
	return img
}

func TestAxis(t *testing.T) {
	tests := []struct {
		top, tick, yMax int64
		label           string // of yMax
	}{
		{0, 1, 1, "1"},
		{1, 1, 1, "1"},
		{7, 2, 8, "8"},
		{345, 100, 400, "400"},
		{1000, 500, 1000, "1000"},
		{123456, 50000, 150000, "150k"},
		{2_400_000, 1_000_000, 3_000_000, "3M"},
		{9_100_000_000, 5_000_000_000, 10_000_000_000, "10G"},
	}
	for _, tt := range tests {
		tick, yMax := axis(tt.top)
		if tick != tt.tick || yMax != tt.yMax || short(yMax) != tt.label {
			t.Errorf("axis(%d) = %d, %d (%s), want %d, %d (%s)", tt.top, tick, yMax, short(yMax), tt.tick, tt.yMax, tt.label)
		}
	}
}

func TestSheet(t *testing.T) {
	const size = 64
	rows := []SheetRow{
		{Caption: "key=a variant=0 noise=gaussian level=0.1", Panels: []Panel{
			{"input", checker(4, 4)}, {"mask", MaskImage(make([]byte, 100*40), 100, 40)}, {"target", checker(20, 200)}}},
		{Caption: strings.Repeat("a very long caption ", 40), Panels: []Panel{
			{"input", checker(300, 300)}, {"a label longer than its cell", checker(3, 5)}, {"target", nil}}},
		{Caption: "unicode → ünïcødé \x00", Panels: []Panel{
			{"log-mel", Spectrogram([]float32{1, 2, 3, 4, 5, 6}, 3, 2, 0, 0)}, {"empty", image.NewGray(image.Rectangle{})}, {"x", checker(64, 64)}}},
	}
	b, err := Sheet(rows, size)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	wantW, wantH := 8+3*(size+8), 8+3*(size+42)
	if got := img.Bounds(); got != image.Rect(0, 0, wantW, wantH) {
		t.Fatalf("sheet is %v, want %dx%d", got, wantW, wantH)
	}
	if r, g, b, _ := img.At(0, 0).RGBA(); r != 0xffff || g != 0xffff || b != 0xffff {
		t.Errorf("background at (0,0) is not white")
	}
	// The 4×4 checkerboard is enlarged 16 times with nearest-neighbour
	// sampling: the first panel holds only black and white, in 16-pixel squares.
	x0, y0 := 8, 8+17
	for y := range size {
		for x := range size {
			r, _, _, _ := img.At(x0+x, y0+y).RGBA()
			want := uint32(0)
			if (x/16+y/16)%2 == 1 {
				want = 0xffff
			}
			if r != want {
				t.Fatalf("panel pixel (%d,%d) = %#x, want %#x", x, y, r, want)
			}
		}
	}
}

func TestSheetEdgeCases(t *testing.T) {
	for _, size := range []int{0, -1, MaxPanelSize + 1} {
		if _, err := Sheet(nil, size); err == nil {
			t.Errorf("Sheet(nil, %d) gave no error", size)
		}
	}
	if _, err := Sheet(make([]SheetRow, 100000), 256); err == nil {
		t.Errorf("a sheet of 100000 rows gave no error")
	}
	tests := []struct {
		name         string
		rows         []SheetRow
		wantW, wantH int
	}{
		{"no rows", nil, 8 + 16 + 8, 8},
		{"rows without panels", []SheetRow{{Caption: "c"}, {}}, 8 + 16 + 8, 8 + 2*(16+42)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Sheet(tt.rows, 16)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := png.DecodeConfig(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Width != tt.wantW || cfg.Height != tt.wantH {
				t.Errorf("sheet is %dx%d, want %dx%d", cfg.Width, cfg.Height, tt.wantW, tt.wantH)
			}
		})
	}
}

func TestFitText(t *testing.T) {
	tests := []struct {
		s    string
		maxW int
		want string
	}{
		{"short", 70, "short"},
		{"exactly ten", 77, "exactly ten"},
		{"abcdefghijkl", 70, "abcdefg..."},
		{"abcdef", 21, "abc"},
		{"abc", 0, ""},
		{"tab\there", 700, "tab here"},
		{"a→b", 70, "a?b"},
	}
	for _, tt := range tests {
		if got := fitText(tt.s, tt.maxW); got != tt.want {
			t.Errorf("fitText(%q, %d) = %q, want %q", tt.s, tt.maxW, got, tt.want)
		}
	}
}

// luma is the perceived brightness of c.
func luma(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	return 0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)
}

func TestSpectrogram(t *testing.T) {
	const frames, bins = 12, 5
	timeRamp := make([]float32, frames*bins)
	freqRamp := make([]float32, frames*bins)
	for f := range frames {
		for b := range bins {
			timeRamp[f*bins+b] = float32(f) - 40 // log-mel values are mostly negative
			freqRamp[f*bins+b] = float32(b)
		}
	}
	img := Spectrogram(timeRamp, frames, bins, 0, 0)
	if got := img.Bounds(); got != image.Rect(0, 0, frames, bins) {
		t.Fatalf("bounds %v, want %dx%d", got, frames, bins)
	}
	for x := 1; x < frames; x++ {
		if luma(img.At(x, 2)) <= luma(img.At(x-1, 2)) {
			t.Errorf("time ramp: brightness at frame %d is not above frame %d", x, x-1)
		}
	}
	if got, want := img.At(0, 0), colour(0); got != want {
		t.Errorf("lowest value is %v, want the map's first colour %v", got, want)
	}
	if got, want := img.At(frames-1, 0), colour(1); got != want {
		t.Errorf("highest value is %v, want the map's last colour %v", got, want)
	}

	img = Spectrogram(freqRamp, frames, bins, 0, 0)
	for y := 1; y < bins; y++ {
		// Low frequencies at the bottom: brightness rises going up.
		if luma(img.At(3, y-1)) <= luma(img.At(3, y)) {
			t.Errorf("frequency ramp: row %d is not brighter than row %d below it", y-1, y)
		}
	}

	// A fixed range clamps: with [0, 2], bins 2..4 are all at the top colour.
	img = Spectrogram(freqRamp, frames, bins, 0, 2)
	if got, want := img.At(0, 0), colour(1); got != want {
		t.Errorf("clamped value is %v, want %v", got, want)
	}
	if got, want := img.At(0, bins-1), colour(0); got != want {
		t.Errorf("value at lo is %v, want %v", got, want)
	}
}

func TestSpectrogramEdgeCases(t *testing.T) {
	nan := float32(0)
	nan /= nan
	img := Spectrogram([]float32{1, nan, 3}, 2, 2, 0, 0)
	if img.Bounds().Dx() != 2 || img.Bounds().Dy() != 2 {
		t.Fatalf("bounds %v", img.Bounds())
	}
	// [frame][bin]: (0,0)=1 (0,1)=NaN (1,0)=3 (1,1)=missing.
	if got := img.At(0, 0); got != color.Color(missing) {
		t.Errorf("NaN drawn as %v, want grey", got)
	}
	if got := img.At(1, 0); got != color.Color(missing) {
		t.Errorf("missing cell drawn as %v, want grey", got)
	}
	if got, want := img.At(1, 1), colour(1); got != want {
		t.Errorf("max drawn as %v, want %v", got, want)
	}
	if got, want := Spectrogram([]float32{4, 4}, 2, 1, 0, 0).At(0, 0), colour(0.5); got != want {
		t.Errorf("a constant is drawn as %v, want the middle colour %v", got, want)
	}
	for _, shape := range [][2]int{{0, 5}, {5, 0}, {-1, 3}, {1 << 20, 1 << 20}} {
		if !Spectrogram(nil, shape[0], shape[1], 0, 0).Bounds().Empty() {
			t.Errorf("Spectrogram of shape %v is not empty", shape)
		}
		if !GridMask(nil, shape[0], shape[1]).Bounds().Empty() {
			t.Errorf("GridMask of shape %v is not empty", shape)
		}
		if !MaskImage(nil, shape[0], shape[1]).Bounds().Empty() {
			t.Errorf("MaskImage of shape %v is not empty", shape)
		}
	}
}

func TestMasks(t *testing.T) {
	// MaskImage is row-major w×h: the hole is the top right pixel.
	m := MaskImage([]byte{0, 255, 0, 0, 0}, 3, 2).(*image.Gray)
	if want := []byte{0, 255, 0, 0, 0, 128}; !bytes.Equal(m.Pix, want) {
		t.Errorf("MaskImage pixels %v, want %v", m.Pix, want)
	}
	// GridMask is [frame][bin]: frame 0 has bin 2 (the highest) masked,
	// frame 1 bin 0 (the lowest).
	g := GridMask([]byte{0, 0, 1, 1, 0, 0}, 2, 3).(*image.Gray)
	want := []byte{
		255, 0, // bin 2
		0, 0, // bin 1
		0, 255, // bin 0
	}
	if !bytes.Equal(g.Pix, want) {
		t.Errorf("GridMask pixels %v, want %v", g.Pix, want)
	}
}

func TestTokensHTML(t *testing.T) {
	got := TokensHTML(`key <k> & "q"`, []Token{
		{Text: "[CLS]"},
		{Text: "<b>bold</b>"},
		{Text: "[MASK]", Masked: true, Original: `<i>"x"`},
		{Text: "[SEP]"},
		{Text: "##ing", Segment: 1},
		{Text: "kept", Segment: 1, Masked: true, Original: "kept"},
		{Text: "[SEP]", Segment: 1},
	})
	for _, w := range []string{
		"&lt;b&gt;bold&lt;/b&gt;",
		"key &lt;k&gt; &amp; &#34;q&#34;",
		`title="was: &lt;i&gt;&#34;x&#34;"`,
		`<sup>&lt;i&gt;&#34;x&#34;</sup>`,
		`<span class="tok seg-a special">[CLS]</span>`,
		`<span class="tok seg-b">##ing</span>`,
		`<span class="tok seg-b masked" title="was: kept">kept<sup>kept</sup></span>`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("TokensHTML lacks %q in\n%s", w, got)
		}
	}
	for _, a := range []string{"<b>", "<i>"} {
		if strings.Contains(got, a) {
			t.Errorf("TokensHTML contains unescaped %q", a)
		}
	}
	wellFormed(t, got)
}

func ExampleTokensHTML() {
	fmt.Println(TokensHTML("doc-1#0", []Token{
		{Text: "[CLS]"},
		{Text: "[MASK]", Masked: true, Original: "run"},
		{Text: "##ing"},
		{Text: "[SEP]"},
		{Text: "fast", Segment: 1},
		{Text: "[SEP]", Segment: 1},
	}))
	// Output:
	// <div class="tokrow"><div class="tokcap">doc-1#0</div><div class="toks"><span class="tok seg-a special">[CLS]</span> <span class="tok seg-a masked" title="was: run">[MASK]<sup>run</sup></span> <span class="tok seg-a">##ing</span> <span class="tok seg-a special">[SEP]</span> <span class="tok seg-b">fast</span> <span class="tok seg-b special">[SEP]</span></div></div>
}

func TestPage(t *testing.T) {
	sheet, err := Sheet([]SheetRow{{Caption: "k", Panels: []Panel{{"input", checker(8, 8)}}}}, 32)
	if err != nil {
		t.Fatal(err)
	}
	sections := []Section{
		{
			Title:  "denoise",
			Status: "ok",
			Facts:  [][2]string{{"rows", "1200"}, {"bad </table> key", "v<alue>"}},
			Gates:  []Gate{{Name: "noise level mean", Measured: "0.10", Expected: "0.1 ± 0.01", OK: true}},
			SVGs:   []string{SVG(Histogram{Title: "noise level", Labels: []string{"0-0.1"}, Counts: []int64{3}})},
			PNGs:   []Image{{Title: "examples", PNG: sheet}},
		},
		{
			Title:    "inpaint <script>alert(1)</script>",
			Status:   "FAILED: 2 gates",
			Gates:    []Gate{{Name: "mask ratio", Measured: "0.9", Expected: "< 0.5"}, {Name: "holes", Measured: "0", Expected: "> 0"}},
			Problems: []string{"shard 3 of 4 missing", "row <x> undecodable"},
			PNGs:     []Image{{Title: "broken", PNG: []byte("GIF89a")}},
		},
		{
			Title:  "mlm",
			Status: "incomplete",
			HTML:   []string{TokensHTML("k", []Token{{Text: "[CLS]"}, {Text: "hi"}})},
		},
	}
	page := Page("pretext inspect <out>", sections)
	s := string(page)
	for _, w := range []string{
		"<!DOCTYPE html>",
		"<title>pretext inspect &lt;out&gt;</title>",
		"denoise", "inpaint &lt;script&gt;alert(1)&lt;/script&gt;", "mlm",
		`href="#section-1"`, `id="section-3"`,
		"data:image/png;base64,",
		"bad &lt;/table&gt; key", "v&lt;alue&gt;",
		`<span class="status ok">ok</span>`,
		`<span class="status bad">FAILED: 2 gates</span>`,
		`<span class="status warn">incomplete</span>`,
		"Quality gates: 0 of 2 passed",
		`<td class="mark pass"`, `<td class="mark fail"`,
		"row &lt;x&gt; undecodable",
		"not a PNG image (6 bytes)",
		`<svg class="histogram"`,
		`<span class="tok seg-a special">[CLS]</span>`,
	} {
		if !strings.Contains(s, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	for _, a := range []string{"<script", "http://", "https://", "bad </table>"} {
		if strings.Contains(s, a) {
			t.Errorf("page contains %q", a)
		}
	}
	if got := strings.Count(s, "data:image/png;base64,"); got != 1 {
		t.Errorf("page embeds %d PNGs, want 1", got)
	}
	if !bytes.Equal(page, Page("pretext inspect <out>", sections)) {
		t.Errorf("the same sections give different pages")
	}
	if !strings.Contains(string(Page("empty", nil)), "No datasets.") {
		t.Errorf("an empty page does not say so")
	}
}

func BenchmarkSheet(b *testing.B) {
	rows := make([]SheetRow, 8)
	for i := range rows {
		rows[i] = SheetRow{Caption: fmt.Sprintf("row %d", i), Panels: []Panel{
			{"input", checker(64, 64)}, {"mask", checker(64, 64)}, {"target", checker(256, 256)}}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sheet(rows, 128); err != nil {
			b.Fatal(err)
		}
	}
}
