package finetune

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// loadCSV reads a CSV file whose header names a "path" and a "label"
// column, in either order, other columns ignored. Each row is an image file
// (PNG or JPEG), relative to the CSV's folder or absolute, and its class
// name. Errors name the file and line.
func loadCSV(file string, size, channels int) (*Labeled, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("finetune: %s: empty file: want a header path,label and a row per image", file)
	}
	if err != nil {
		return nil, fmt.Errorf("finetune: %s: %w", file, err)
	}
	pathCol, labelCol := -1, -1
	for i, h := range header {
		switch strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) { // a byte-order mark, as spreadsheets write
		case "path":
			if pathCol < 0 {
				pathCol = i
			}
		case "label":
			if labelCol < 0 {
				labelCol = i
			}
		}
	}
	for _, col := range []struct {
		name string
		i    int
	}{{"path", pathCol}, {"label", labelCol}} {
		if col.i < 0 {
			return nil, fmt.Errorf("finetune: %s: line 1: the header %q has no %q column: want path,label", file, strings.Join(header, ","), col.name)
		}
	}
	dir := filepath.Dir(file)
	c := newCollect(size, channels)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("finetune: %s: %w", file, err)
		}
		line, _ := r.FieldPos(pathCol)
		path, label := strings.TrimSpace(rec[pathCol]), strings.TrimSpace(rec[labelCol])
		if path == "" || label == "" {
			return nil, fmt.Errorf("finetune: %s: line %d: empty path or label", file, line)
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		img, err := decodePath(path)
		if err != nil {
			return nil, fmt.Errorf("finetune: %s: line %d: %w", file, line, err)
		}
		c.add(img, label)
	}
	if len(c.names) == 0 {
		return nil, fmt.Errorf("finetune: %s: %w: a header but no rows", file, ErrNoImages)
	}
	return atLeastTwo(file, c.labeled(file))
}

// parquetFiles lists the .parquet files directly in dir, in name order.
func parquetFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("finetune: labeled data: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && strings.EqualFold(filepath.Ext(e.Name()), ".parquet") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files, nil
}

// loadParquet reads the (input,label) rows of files, in order: input a
// BYTE_ARRAY column of encoded images (PNG or JPEG), label a string or an
// integer column, whose decimal form is then the class name. src names the
// set: the file, or the folder holding them.
func loadParquet(src string, files []string, size, channels int) (*Labeled, error) {
	c := newCollect(size, channels)
	for _, f := range files {
		if err := readParquet(f, c); err != nil {
			return nil, err
		}
	}
	if len(c.names) == 0 {
		return nil, fmt.Errorf("finetune: %s: %w: no rows", src, ErrNoImages)
	}
	return atLeastTwo(src, c.labeled(src))
}

// readParquet adds file's rows to c a row group at a time, streaming each
// column's pages: one row group's labels and one page of images are held
// at once. Rows are counted from 1 in errors.
func readParquet(file string, c *collect) (err error) {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	// parquet-go can panic on a corrupt file (a slice out of range, when
	// page bytes are flipped); a bad input file must be an error naming it.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("finetune: %s: corrupt parquet file: %v", file, r)
		}
	}()
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("finetune: %s: %w", file, err)
	}
	input, err := column(file, pf.Schema(), "input")
	if err != nil {
		return err
	}
	if t := input.Node.Type(); t.Kind() != parquet.ByteArray {
		return fmt.Errorf("finetune: %s: column input is %s: want BYTE_ARRAY, the encoded PNG or JPEG", file, t)
	}
	label, err := column(file, pf.Schema(), "label")
	if err != nil {
		return err
	}
	name, err := labelName(file, label.Node.Type())
	if err != nil {
		return err
	}
	row := 0 // rows of earlier row groups
	for _, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		var names []string
		err := eachValue(chunks[label.ColumnIndex], func(v parquet.Value) error {
			if v.IsNull() {
				return fmt.Errorf("row %d: label is null", row+len(names)+1)
			}
			names = append(names, name(v))
			return nil
		})
		if err != nil {
			return fmt.Errorf("finetune: %s: %w", file, err)
		}
		i := 0
		err = eachValue(chunks[input.ColumnIndex], func(v parquet.Value) error {
			if i >= len(names) {
				return fmt.Errorf("row %d: an input without a label", row+i+1)
			}
			if v.IsNull() {
				return fmt.Errorf("row %d: input is null", row+i+1)
			}
			img, _, err := image.Decode(bytes.NewReader(v.ByteArray()))
			if err != nil {
				return fmt.Errorf("row %d: input: %w", row+i+1, err)
			}
			c.add(img, names[i])
			i++
			return nil
		})
		if err == nil && i < len(names) {
			err = fmt.Errorf("row %d: a label without an input", row+i+1)
		}
		if err != nil {
			return fmt.Errorf("finetune: %s: %w", file, err)
		}
		row += len(names)
	}
	return nil
}

// column looks up a top-level column holding one value per row.
func column(file string, s *parquet.Schema, name string) (parquet.LeafColumn, error) {
	col, ok := s.Lookup(name)
	if !ok {
		return col, fmt.Errorf("finetune: %s: no %q column: want columns input (encoded images) and label", file, name)
	}
	if col.MaxRepetitionLevel > 0 {
		return col, fmt.Errorf("finetune: %s: column %s is repeated: want one value per row", file, name)
	}
	return col, nil
}

// labelName returns how a label value of type t becomes a class name: a
// string as it is, an integer in decimal.
func labelName(file string, t parquet.Type) (func(parquet.Value) string, error) {
	var logical format.LogicalTypeValue
	if lt := t.LogicalType(); lt != nil {
		logical = lt.Value
	}
	text, integer, unsigned := logical == nil, logical == nil, false
	switch lt := logical.(type) {
	case *format.StringType, *format.EnumType:
		text = true
	case *format.IntType:
		integer, unsigned = true, !lt.IsSigned
	}
	switch {
	case t.Kind() == parquet.ByteArray && text:
		return func(v parquet.Value) string { return string(v.ByteArray()) }, nil
	case t.Kind() == parquet.Int32 && unsigned:
		return func(v parquet.Value) string { return strconv.FormatUint(uint64(uint32(v.Int32())), 10) }, nil
	case t.Kind() == parquet.Int32 && integer:
		return func(v parquet.Value) string { return strconv.FormatInt(int64(v.Int32()), 10) }, nil
	case t.Kind() == parquet.Int64 && unsigned:
		return func(v parquet.Value) string { return strconv.FormatUint(v.Uint64(), 10) }, nil
	case t.Kind() == parquet.Int64 && integer:
		return func(v parquet.Value) string { return strconv.FormatInt(v.Int64(), 10) }, nil
	}
	return nil, fmt.Errorf("finetune: %s: column label is %s: unknown label type, want a string or an integer column", file, t)
}

// eachValue calls fn with every value of chunk, reading a page at a time.
func eachValue(chunk parquet.ColumnChunk, fn func(parquet.Value) error) error {
	pages := chunk.Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 64)
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		values := p.Values()
		for {
			n, err := values.ReadValues(buf)
			for _, v := range buf[:n] {
				if err := fn(v); err != nil {
					return err
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
		}
	}
}
