package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/pretext-dev/pretext/transforms"
)

// tasksCmd lists every registered task with its output columns.
func tasksCmd(context.Context) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	for _, t := range transforms.All() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Modality, t.Doc)
		var cols []string
		for _, f := range t.Format.Schema().Fields() {
			cols = append(cols, columnType(f))
		}
		fmt.Fprintf(tw, "\t\tcolumns: %s\n", strings.Join(cols, ", "))
	}
	return tw.Flush()
}

// columnType renders a column as "name type", e.g. "target_ab list<int8>".
func columnType(f parquet.Field) string { return f.Name() + " " + typeName(f) }

func typeName(f parquet.Node) string {
	if lt := f.Type().LogicalType(); lt != nil {
		switch v := lt.Value.(type) {
		case *format.ListType:
			if len(f.Fields()) == 1 {
				elem := f.Fields()[0]
				if len(elem.Fields()) == 1 {
					elem = elem.Fields()[0]
				}
				return "list<" + typeName(elem) + ">"
			}
		case *format.StringType:
			return "string"
		case *format.IntType:
			return fmt.Sprintf("int%d", v.BitWidth)
		}
	}
	switch f.Type().Kind() {
	case parquet.Boolean:
		return "bool"
	case parquet.Int32:
		return "int32"
	case parquet.Int64:
		return "int64"
	case parquet.Float:
		return "float"
	case parquet.Double:
		return "double"
	case parquet.ByteArray:
		return "binary"
	}
	return f.Type().String()
}
