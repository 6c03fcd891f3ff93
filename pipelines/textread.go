package pipelines

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// TextRange is a byte range [Start, End) of a text file in BERT's format (one
// sentence per line, a blank line between documents). Large files are cut
// into ranges so that their documents spread over workers.
type TextRange struct {
	Source, Key string
	Start, End  int64
}

// SplitRanges cuts a file of size bytes into ranges of at most rangeBytes.
func SplitRanges(ref struct{ Source, Key string }, size, rangeBytes int64) []TextRange {
	if size <= 0 || rangeBytes <= 0 {
		return []TextRange{{Source: ref.Source, Key: ref.Key, Start: 0, End: size}}
	}
	var out []TextRange
	for s := int64(0); s < size; s += rangeBytes {
		out = append(out, TextRange{Source: ref.Source, Key: ref.Key, Start: s, End: min(s+rangeBytes, size)})
	}
	return out
}

// TextDocument is one document read from a range: its byte offset in the
// file (its identity) and its non-blank lines, or the reason it is bad.
type TextDocument struct {
	Offset int64
	Lines  []string
	// Bad is a dead-letter reason ("line_too_long", "not_utf8"); Lines is
	// then empty and Detail says where.
	Bad, Detail string
}

// ErrStop, returned by an emit function, ends ReadDocuments early.
var ErrStop = errors.New("stop")

// ReadDocuments reads the documents a range owns from r, which is positioned
// at max(start-1, 0) of the file. Ranges agree on ownership without talking to
// each other: a document belongs to the range holding the start of the blank
// line before it (the first document of a file to the range at 0). So every
// document is read by exactly one range, whole, even when it crosses the
// range's end. Lines longer than maxLine bytes and documents longer than
// maxDoc bytes are never held in memory: the document becomes a dead letter.
//
// A file of only blank lines has no document, yet it is an input: the range
// at 0, having found no document of its own, reads on while the lines stay
// blank and, at the end of the file, emits one bad document at offset 0
// (Bad "no_tokens"). Any other range stops at its end as usual, so exactly
// one range reports such a file, in every range size.
func ReadDocuments(r io.Reader, start, end int64, maxLine, maxDoc int, emit func(TextDocument) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	pos := max(start-1, 0)
	if start > 0 {
		// Skip the line holding byte start-1: the first line start at or after
		// start follows it.
		n, _, err := skipLine(br)
		pos += n
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	// sep is the offset of the last blank line seen, -1 if none yet. At the
	// head of a file there is a virtual separator at 0.
	sep := int64(-1)
	if start == 0 {
		sep = 0
	}
	var doc *TextDocument
	docBytes := 0
	emitted := false // a document began in this range
	finish := func() error {
		if doc == nil {
			return nil
		}
		d := *doc
		doc = nil
		return emit(d)
	}
	// blankFile is called at the end of the file: the range at 0 reports a
	// file that held no document.
	blankFile := func() error {
		if start != 0 || emitted {
			return nil
		}
		return emit(TextDocument{Offset: 0, Bad: "no_tokens", Detail: "the file has only blank lines"})
	}
	for {
		lineStart := pos
		line, n, long, err := readLine(br, maxLine)
		pos += n
		if n == 0 && err == io.EOF {
			if doc == nil {
				return stopOK(blankFile())
			}
			return finish()
		}
		if err != nil && err != io.EOF {
			return err
		}
		blank := !long && len(bytes.TrimSpace(line)) == 0
		switch {
		case blank:
			if err := finish(); err != nil {
				return stopOK(err)
			}
			sep = lineStart
			if sep >= end {
				if start == 0 && !emitted {
					return stopOK(blankRest(br, maxLine, blankFile))
				}
				return nil
			}
		case doc == nil && sep >= 0 && sep < end:
			doc = &TextDocument{Offset: lineStart}
			docBytes = 0
			emitted = true
			fallthrough
		case doc != nil:
			switch {
			case doc.Bad != "":
			case long:
				doc.Bad, doc.Detail, doc.Lines = "line_too_long", fmt.Sprintf("a line at byte %d is longer than %d bytes", lineStart, maxLine), nil
			case !utf8.Valid(line):
				doc.Bad, doc.Detail, doc.Lines = "not_utf8", fmt.Sprintf("the line at byte %d is not UTF-8", lineStart), nil
			case docBytes+len(line) > maxDoc:
				doc.Bad, doc.Detail, doc.Lines = "document_too_large", fmt.Sprintf("more than %d bytes", maxDoc), nil
			default:
				docBytes += len(line)
				doc.Lines = append(doc.Lines, string(bytes.TrimRight(line, "\r\n")))
			}
		default:
			// A line of a document owned by the previous range (or after our end).
			if sep >= end {
				return nil
			}
		}
		if err == io.EOF {
			if doc == nil {
				return stopOK(blankFile())
			}
			return stopOK(finish())
		}
	}
}

// blankRest reads on while the lines are blank and calls atEnd if the file
// ends so: a non-blank line belongs to a later range's document.
func blankRest(br *bufio.Reader, maxLine int, atEnd func() error) error {
	for {
		line, n, long, err := readLine(br, maxLine)
		if err != nil && err != io.EOF {
			return err
		}
		if n > 0 && (long || len(bytes.TrimSpace(line)) > 0) {
			return nil
		}
		if err == io.EOF {
			return atEnd()
		}
	}
}

func stopOK(err error) error {
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// readLine returns the next line with its terminator and the bytes consumed.
// A line longer than maxLine is consumed but not returned (long = true).
func readLine(br *bufio.Reader, maxLine int) (line []byte, n int64, long bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		n += int64(len(chunk))
		if !long {
			if len(buf)+len(chunk) > maxLine+2 { // +2: the \r\n terminator
				long, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if !long && len(bytes.TrimRight(buf, "\r\n")) > maxLine {
			long, buf = true, nil
		}
		return buf, n, long, err
	}
}

func skipLine(br *bufio.Reader) (int64, bool, error) {
	_, n, long, err := readLine(br, 0)
	return n, long, err
}
