// Package render draws the pictures of the `pretext inspect` report: bar
// charts of label distributions (SVG), contact sheets of image, mask and
// spectrogram rows (PNG), masked-LM rows as tinted tokens (HTML), and the
// single self-contained HTML page that holds them.
//
// Everything here is a pure function of its arguments: no files, no network,
// no clock, so the same rows give byte-identical pages. The page references
// nothing outside itself (images are data: URIs, the stylesheet is inline,
// there is no JavaScript), so a report can be mailed, attached to a CI run or
// opened offline.
//
// Text that comes from the data (keys, sources, tokens, titles) is escaped
// wherever it is written; the only strings passed through unescaped are the
// fragments this package made itself (SVG and TokensHTML output), which Page
// takes as trusted.
//
// Malformed input never panics: a nil or empty image is drawn as a grey box,
// a buffer shorter than its stated shape leaves its missing cells grey, and a
// shape too large to be real gives an empty image.
package render
