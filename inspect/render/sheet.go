package render

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"unicode"

	"github.com/disintegration/imaging"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Panel is one picture of a sheet row with its label ("input", "mask", "target").
type Panel struct {
	Label string
	Image image.Image
}

// SheetRow is one example: panels side by side and a caption (key and parameters).
type SheetRow struct {
	Caption string
	Panels  []Panel
}

// The sheet's layout, in pixels.
const (
	sheetGap   = 8                       // around and between panels and rows
	sheetLineH = 17                      // one line of basicfont 7x13 and its spacing
	sheetRowH  = 2*sheetLineH + sheetGap // a row is label line, panel, caption line and a gap, plus panelSize
	// MaxPanelSize is the largest panelSize Sheet accepts.
	MaxPanelSize = 2048
	// maxSheetPixels bounds the sheet's memory (4 bytes a pixel).
	maxSheetPixels = 1 << 26
)

var (
	sheetWhite = image.NewUniform(color.White)
	sheetText  = image.NewUniform(color.RGBA{0x11, 0x11, 0x11, 0xff})
	sheetLabel = image.NewUniform(color.RGBA{0x55, 0x55, 0x55, 0xff})
	sheetFrame = image.NewUniform(color.RGBA{0xd0, 0xd0, 0xd0, 0xff})
	sheetEmpty = image.NewUniform(color.RGBA{0xbb, 0xbb, 0xbb, 0xff})
	sheetRule  = image.NewUniform(color.RGBA{0xee, 0xee, 0xee, 0xff})
	sheetFace  = basicfont.Face7x13
)

// sheetAscent is basicfont.Face7x13's ascent: the baseline's offset from the
// top of a line.
const sheetAscent = 11

// Sheet draws rows as a contact sheet PNG and returns its bytes.
//
// Each row is a line of panel labels, the panels side by side, each scaled
// to fit a panelSize×panelSize cell keeping its aspect ratio and centred in
// it, and the caption under them. Images smaller than the cell are enlarged
// with nearest-neighbour sampling so that their pixels stay visible (a 32×32
// mask stays sharp); larger ones are reduced with a box filter. Text is
// basicfont 7x13, cut with "..." where it would run past the sheet (a label,
// past its cell); characters the font lacks are drawn as '?'. The background
// is white, transparent pixels show it, and a nil or empty image is a grey
// cell.
//
// The sheet is 8+n·(panelSize+8) pixels wide, n being the largest number of
// panels in a row (at least 1), and 8+len(rows)·(panelSize+42) pixels tall.
// panelSize must be in [1, MaxPanelSize], and the sheet at most 64M pixels.
func Sheet(rows []SheetRow, panelSize int) ([]byte, error) {
	if panelSize < 1 || panelSize > MaxPanelSize {
		return nil, fmt.Errorf("render.Sheet: panel size %d is not in [1, %d]", panelSize, MaxPanelSize)
	}
	cols := 1
	for _, r := range rows {
		cols = max(cols, len(r.Panels))
	}
	w := sheetGap + cols*(panelSize+sheetGap)
	rowH := panelSize + sheetRowH
	if int64(w)*int64(sheetGap+len(rows)*rowH) > maxSheetPixels {
		return nil, fmt.Errorf("render.Sheet: %d rows of %d panels of %d pixels exceed %d pixels", len(rows), cols, panelSize, maxSheetPixels)
	}
	h := sheetGap + len(rows)*rowH
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), sheetWhite, image.Point{}, draw.Src)

	for i, r := range rows {
		y := sheetGap + i*rowH
		if i > 0 {
			draw.Draw(dst, image.Rect(0, y-sheetGap/2, w, y-sheetGap/2+1), sheetRule, image.Point{}, draw.Src)
		}
		for j, p := range r.Panels {
			x := sheetGap + j*(panelSize+sheetGap)
			text(dst, sheetLabel, x, y+sheetAscent+2, p.Label, panelSize)
			cell := image.Rect(x, y+sheetLineH, x+panelSize, y+sheetLineH+panelSize)
			frame(dst, cell.Inset(-1))
			panel(dst, cell, p.Image)
		}
		text(dst, sheetText, sheetGap, y+sheetLineH+panelSize+sheetAscent+3, r.Caption, w-2*sheetGap)
	}

	var buf bytes.Buffer
	if err := png.Encode(&buf, dst); err != nil {
		return nil, fmt.Errorf("render.Sheet: encoding the PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// panel draws img scaled into cell, keeping its aspect ratio, centred.
func panel(dst *image.RGBA, cell image.Rectangle, img image.Image) {
	if img == nil || img.Bounds().Empty() {
		draw.Draw(dst, cell, sheetEmpty, image.Point{}, draw.Src)
		return
	}
	b := img.Bounds()
	size := cell.Dx()
	scale := min(float64(size)/float64(b.Dx()), float64(size)/float64(b.Dy()))
	nw := max(1, min(size, int(float64(b.Dx())*scale+0.5)))
	nh := max(1, min(size, int(float64(b.Dy())*scale+0.5)))
	var src image.Image
	switch {
	case nw == b.Dx() && nh == b.Dy():
		src = img
	case scale > 1:
		src = imaging.Resize(img, nw, nh, imaging.NearestNeighbor)
	default:
		src = imaging.Resize(img, nw, nh, imaging.Box)
	}
	at := cell.Min.Add(image.Pt((size-nw)/2, (size-nh)/2))
	draw.Draw(dst, image.Rectangle{Min: at, Max: at.Add(image.Pt(nw, nh))}, src, src.Bounds().Min, draw.Over)
}

// frame draws a one-pixel outline just inside r.
func frame(dst *image.RGBA, r image.Rectangle) {
	for _, e := range []image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+1)},
		{image.Pt(r.Min.X, r.Max.Y-1), r.Max},
		{r.Min, image.Pt(r.Min.X+1, r.Max.Y)},
		{image.Pt(r.Max.X-1, r.Min.Y), r.Max},
	} {
		draw.Draw(dst, e, sheetFrame, image.Point{}, draw.Src)
	}
}

// text draws s with its baseline at (x, y), cut to maxW pixels.
func text(dst *image.RGBA, c image.Image, x, y int, s string, maxW int) {
	d := font.Drawer{Dst: dst, Src: c, Face: sheetFace, Dot: fixed.P(x, y)}
	d.DrawString(fitText(s, maxW))
}

// fitText makes s drawable in basicfont 7x13 and at most maxW pixels wide:
// runes the font lacks become '?', control characters spaces, and a string
// too long is cut and ends in "...".
func fitText(s string, maxW int) string {
	r := []rune(s)
	for i, c := range r {
		if unicode.IsControl(c) {
			r[i] = ' '
		} else if _, ok := sheetFace.GlyphAdvance(c); !ok {
			r[i] = '?'
		}
	}
	fits := maxW / sheetFace.Advance
	switch {
	case len(r) <= fits:
		return string(r)
	case fits < 4:
		return string(r[:max(fits, 0)])
	}
	return string(r[:fits-3]) + "..."
}
