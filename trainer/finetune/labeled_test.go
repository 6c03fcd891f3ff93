package finetune

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// labeledImage is one image of a fixture: its path relative to the
// fixture's folder, its class name and its PNG bytes.
type labeledImage struct {
	path, class string
	png         []byte
}

// writeLabeledImages writes n PNGs per class as the folder form under
// dir/folder, of sizes around 16×16 (some cropped, some padded), colour and
// gray, and returns them in a scrambled order drawn from seed.
func writeLabeledImages(t *testing.T, dir string, classes []string, n int, seed uint64) []labeledImage {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	var out []labeledImage
	for c, class := range classes {
		if err := os.MkdirAll(filepath.Join(dir, "folder", class), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			w, h := 12+4*(i%3), 20-3*(c%3)
			var img image.Image
			if i%2 == 0 {
				rgba := image.NewRGBA(image.Rect(0, 0, w, h))
				for j := range rgba.Pix {
					rgba.Pix[j] = uint8(rng.IntN(256))
				}
				img = rgba
			} else {
				gray := image.NewGray(image.Rect(0, 0, w, h))
				for j := range gray.Pix {
					gray.Pix[j] = uint8(rng.IntN(256))
				}
				img = gray
			}
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("folder", class, fmt.Sprintf("%02d.png", i))
			if err := os.WriteFile(filepath.Join(dir, path), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out = append(out, labeledImage{path: path, class: class, png: b.Bytes()})
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// folderOrder maps each image to its index in the folder form's load:
// classes in name order, files in name order.
func folderOrder(imgs []labeledImage) []int {
	paths := make([]string, len(imgs))
	for i, img := range imgs {
		paths[i] = img.path
	}
	sorted := slices.Clone(paths)
	slices.Sort(sorted)
	order := make([]int, len(imgs))
	for i, p := range paths {
		order[i], _ = slices.BinarySearch(sorted, p)
	}
	return order
}

// sameAsFolder checks that got's image k is the folder load's image
// order[k]: the same classes, label and pixels.
func sameAsFolder(t *testing.T, got, folder *Labeled, order []int) {
	t.Helper()
	if !slices.Equal(got.Classes, folder.Classes) {
		t.Fatalf("classes %q, want the folder form's %q", got.Classes, folder.Classes)
	}
	if got.Len() != len(order) || got.Size != folder.Size || got.Channels != folder.Channels {
		t.Fatalf("%d images of %d×%d×%d, want %d of %d×%d×%d", got.Len(), got.Size, got.Size, got.Channels,
			len(order), folder.Size, folder.Size, folder.Channels)
	}
	for k, i := range order {
		if got.Labels[k] != folder.Labels[i] {
			t.Errorf("image %d: label %d, want %d", k, got.Labels[k], folder.Labels[i])
		}
		if !slices.Equal(got.image(k), folder.image(i)) {
			t.Errorf("image %d: pixels differ from the folder form's image %d", k, i)
		}
	}
}

func writeLabeledCSV(t *testing.T, file string, rows [][]string) {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeLabeledParquet writes rows in row groups of 3 and small pages, so
// that reading crosses row-group and page boundaries.
func writeLabeledParquet[T any](t *testing.T, file string, rows []T) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, parquet.MaxRowsPerRowGroup(3), parquet.PageBufferSize(1024))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

type stringLabelRow struct {
	Input []byte `parquet:"input"`
	Label string `parquet:"label"`
}

type int64LabelRow struct {
	Label int64  `parquet:"label"`
	Input []byte `parquet:"input"`
}

type int32LabelRow struct {
	Input []byte `parquet:"input"`
	Extra string `parquet:"extra"`
	Label int32  `parquet:"label"`
}

type floatLabelRow struct {
	Input []byte  `parquet:"input"`
	Label float64 `parquet:"label"`
}

type nullableLabelRow struct {
	Input []byte  `parquet:"input"`
	Label *string `parquet:"label,optional"`
}

type noLabelRow struct {
	Input []byte `parquet:"input"`
	Class string `parquet:"class"`
}

const labeledSize, labeledChannels = 16, 3

func loadFolderForm(t *testing.T, dir string) *Labeled {
	t.Helper()
	l, err := Load(filepath.Join(dir, "folder"), "train", labeledSize, labeledChannels)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLoadCSV(t *testing.T) {
	dir := t.TempDir()
	imgs := writeLabeledImages(t, dir, []string{"zebra", "ant", "moose"}, 4, 1)
	folder := loadFolderForm(t, dir)
	for _, tc := range []struct {
		name   string
		header []string
		row    func(img labeledImage) []string
	}{
		{"path,label", []string{"path", "label"}, func(img labeledImage) []string { return []string{img.path, img.class} }},
		{"label,path,extra", []string{"label", " path", "note"}, func(img labeledImage) []string { return []string{img.class, img.path, "x"} }},
		{"absolute", []string{"\ufeffpath", "label"}, func(img labeledImage) []string { return []string{filepath.Join(dir, img.path), img.class} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := [][]string{tc.header}
			for _, img := range imgs {
				rows = append(rows, tc.row(img))
			}
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, ",", "-")+".csv")
			writeLabeledCSV(t, file, rows)
			got, err := Load(file, "train", labeledSize, labeledChannels)
			if err != nil {
				t.Fatal(err)
			}
			sameAsFolder(t, got, folder, folderOrder(imgs))
			if got.Source != file {
				t.Errorf("source %q, want %q", got.Source, file)
			}
		})
	}
}

func TestLoadParquet(t *testing.T) {
	dir := t.TempDir()
	t.Run("string labels", func(t *testing.T) {
		dir := filepath.Join(dir, "string")
		imgs := writeLabeledImages(t, dir, []string{"zebra", "ant", "moose"}, 4, 1)
		var rows []stringLabelRow
		for _, img := range imgs {
			rows = append(rows, stringLabelRow{Input: img.png, Label: img.class})
		}
		file := filepath.Join(dir, "set.parquet")
		writeLabeledParquet(t, file, rows)
		got, err := Load(file, "train", labeledSize, labeledChannels)
		if err != nil {
			t.Fatal(err)
		}
		sameAsFolder(t, got, loadFolderForm(t, dir), folderOrder(imgs))
	})
	t.Run("int64 labels, label first, a folder of two files", func(t *testing.T) {
		dir := filepath.Join(dir, "int64")
		imgs := writeLabeledImages(t, dir, []string{"3", "10", "7"}, 4, 2)
		var rows []int64LabelRow
		for _, img := range imgs {
			c, _ := strconv.Atoi(img.class)
			rows = append(rows, int64LabelRow{Input: img.png, Label: int64(c)})
		}
		shards := filepath.Join(dir, "shards")
		if err := os.MkdirAll(shards, 0o755); err != nil {
			t.Fatal(err)
		}
		writeLabeledParquet(t, filepath.Join(shards, "part-0.parquet"), rows[:5])
		writeLabeledParquet(t, filepath.Join(shards, "part-1.parquet"), rows[5:])
		got, err := Load(shards, "train", labeledSize, labeledChannels)
		if err != nil {
			t.Fatal(err)
		}
		sameAsFolder(t, got, loadFolderForm(t, dir), folderOrder(imgs))
		if want := []string{"10", "3", "7"}; !slices.Equal(got.Classes, want) {
			t.Errorf("classes %q, want %q (by name, as folders sort)", got.Classes, want)
		}
	})
	t.Run("int32 labels, an extra column", func(t *testing.T) {
		dir := filepath.Join(dir, "int32")
		imgs := writeLabeledImages(t, dir, []string{"-1", "0", "1"}, 3, 3)
		var rows []int32LabelRow
		for _, img := range imgs {
			c, _ := strconv.Atoi(img.class)
			rows = append(rows, int32LabelRow{Input: img.png, Extra: "x", Label: int32(c)})
		}
		file := filepath.Join(dir, "set.parquet")
		writeLabeledParquet(t, file, rows)
		got, err := Load(file, "train", labeledSize, labeledChannels)
		if err != nil {
			t.Fatal(err)
		}
		sameAsFolder(t, got, loadFolderForm(t, dir), folderOrder(imgs))
	})
}

// pngBytes is a valid 2×2 PNG.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.Gray{Y: 200})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestLoadErrors: every bad input is one error naming the file and the
// line or row.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	good := pngBytes(t)
	for _, name := range []string{"a.png", "b.png"} {
		if err := os.WriteFile(filepath.Join(dir, name), good, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.png"), []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	csvFile := func(name, content string) func(t *testing.T) string {
		return func(t *testing.T) string {
			file := filepath.Join(dir, name)
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			return file
		}
	}
	parquetFile := func(name string, write func(t *testing.T, file string)) func(t *testing.T) string {
		return func(t *testing.T) string {
			file := filepath.Join(dir, name)
			write(t, file)
			return file
		}
	}
	strRows := func(n, bad int) []stringLabelRow {
		var rows []stringLabelRow
		for i := range n {
			rows = append(rows, stringLabelRow{Input: good, Label: fmt.Sprint("c", i%2)})
			if i+1 == bad {
				rows[i].Input = []byte("garbage")
			}
		}
		return rows
	}
	for _, tc := range []struct {
		name  string
		input func(t *testing.T) string
		want  []string
	}{
		{"csv without a label column", csvFile("nolabel.csv", "path,class\na.png,x\n"),
			[]string{"nolabel.csv", "line 1", `no "label" column`}},
		{"csv without a path column", csvFile("nopath.csv", "file,label\na.png,x\n"),
			[]string{"nopath.csv", "line 1", `no "path" column`}},
		{"empty csv", csvFile("empty.csv", ""), []string{"empty.csv", "empty file"}},
		{"csv without rows", csvFile("header.csv", "path,label\n"), []string{"header.csv", "no rows"}},
		{"csv missing image", csvFile("missing.csv", "path,label\na.png,x\nnope.png,y\n"),
			[]string{"missing.csv", "line 3", "nope.png", "no such file"}},
		{"csv undecodable image", csvFile("undecodable.csv", "path,label\nbad.png,x\nb.png,y\n"),
			[]string{"undecodable.csv", "line 2", "bad.png", "image: unknown format"}},
		{"csv empty label", csvFile("nolabelvalue.csv", "path,label\na.png,x\nb.png,\n"),
			[]string{"nolabelvalue.csv", "line 3", "empty path or label"}},
		{"csv ragged row", csvFile("ragged.csv", "path,label\na.png,x\nb.png\n"),
			[]string{"ragged.csv", "line 3", "wrong number of fields"}},
		{"csv one class", csvFile("oneclass.csv", "path,label\na.png,x\nb.png,x\n"),
			[]string{"oneclass.csv", "one class (x)"}},
		{"parquet without a label column", parquetFile("nolabel.parquet", func(t *testing.T, file string) {
			writeLabeledParquet(t, file, []noLabelRow{{Input: good, Class: "x"}})
		}), []string{"nolabel.parquet", `no "label" column`}},
		{"parquet without rows", parquetFile("norows.parquet", func(t *testing.T, file string) {
			writeLabeledParquet(t, file, []stringLabelRow{})
		}), []string{"norows.parquet", "no rows"}},
		{"parquet float labels", parquetFile("float.parquet", func(t *testing.T, file string) {
			writeLabeledParquet(t, file, []floatLabelRow{{Input: good, Label: 1.5}})
		}), []string{"float.parquet", "column label is DOUBLE", "unknown label type"}},
		{"parquet undecodable image", parquetFile("badrow.parquet", func(t *testing.T, file string) {
			writeLabeledParquet(t, file, strRows(7, 5))
		}), []string{"badrow.parquet", "row 5", "input", "image: unknown format"}},
		{"parquet null label", parquetFile("null.parquet", func(t *testing.T, file string) {
			x := "x"
			writeLabeledParquet(t, file, []nullableLabelRow{{good, &x}, {good, &x}, {good, &x}, {good, nil}})
		}), []string{"null.parquet", "row 4: label is null"}},
		{"parquet corrupt pages", parquetFile("corrupt.parquet", func(t *testing.T, file string) {
			writeLabeledParquet(t, file, strRows(7, 0))
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for i := 4; i < len(b)/2; i++ { // the column chunks; the footer stays
				b[i] ^= 0x5a
			}
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}), []string{"corrupt.parquet"}},
		{"not parquet", csvFile("garbage.parquet", "PAR1 this is not parquet at all"),
			[]string{"garbage.parquet"}},
		{"other file", csvFile("list.txt", "a.png\n"), []string{"list.txt", "want a .csv file, a .parquet file or a folder"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.input(t)
			l, err := Load(path, "train", 8, 1)
			if err == nil {
				t.Fatalf("loaded %d images, want an error", l.Len())
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestLabeledSubsetAndClasses: a CSV set with too few images of a class
// fails Subset naming the class; test sets are checked against the training
// set's class names, whatever form each is in.
func TestLabeledSubsetAndClasses(t *testing.T) {
	dir := t.TempDir()
	good := pngBytes(t)
	var rows [][]string
	rows = append(rows, []string{"path", "label"})
	var pq []int64LabelRow
	for i, class := range []string{"3", "3", "3", "10", "10", "7", "7", "7"} {
		name := fmt.Sprintf("%d.png", i)
		if err := os.WriteFile(filepath.Join(dir, name), good, 0o644); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, []string{name, class})
		c, _ := strconv.Atoi(class)
		pq = append(pq, int64LabelRow{Label: int64(c), Input: good})
	}
	trainFile := filepath.Join(dir, "train.csv")
	writeLabeledCSV(t, trainFile, rows)
	train, err := Load(trainFile, "train", 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Subset(train, 2, 1); err != nil {
		t.Errorf("2 per class: %v", err)
	}
	if _, err := Subset(train, 3, 1); err == nil || !strings.Contains(err.Error(), "class 10 has 2 images, fewer than --labels-per-class 3") {
		t.Errorf("3 per class: err = %v, want class 10 has too few", err)
	}

	sameFile := filepath.Join(dir, "test.parquet")
	writeLabeledParquet(t, sameFile, pq)
	same, err := Load(sameFile, "test", 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckClasses(train, same); err != nil {
		t.Errorf("int labels 3, 10, 7 against class names 3, 10, 7: %v", err)
	}
	if !slices.Equal(same.Labels, train.Labels) {
		t.Errorf("labels %v, want the CSV's %v", same.Labels, train.Labels)
	}

	rows[len(rows)-1][1] = "8"
	otherFile := filepath.Join(dir, "other.csv")
	writeLabeledCSV(t, otherFile, rows)
	other, err := Load(otherFile, "test", 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckClasses(train, other)
	if err == nil {
		t.Fatal("classes 10, 3, 7 and 10, 3, 7, 8 were accepted")
	}
	for _, w := range []string{otherFile, trainFile, `not in training ["8"]`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}
