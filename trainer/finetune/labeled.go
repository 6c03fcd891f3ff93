package finetune

import (
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // folder-per-class images
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/pretext-dev/pretext/trainer/mnist"
)

// Labeled is a labeled image set, decoded: every image Size×Size with
// Channels channels, values in [0, 1].
type Labeled struct {
	Size, Channels int
	// Pixels is [N, Size, Size, Channels], row-major.
	Pixels []float32
	// Labels are the classes, in [0, len(Classes)).
	Labels []int
	// Classes names the classes, sorted.
	Classes []string
	// Source is the path it was loaded from, for messages.
	Source string
}

// Len is the number of images.
func (l *Labeled) Len() int { return len(l.Labels) }

func (l *Labeled) label(i int) int { return l.Labels[i] }

// inputs is the images idx as one [len(idx), Size, Size, Channels] tensor.
func (l *Labeled) inputs(idx []int) []*tensors.Tensor {
	per := l.Size * l.Size * l.Channels
	x := make([]float32, len(idx)*per)
	for k, i := range idx {
		copy(x[k*per:], l.image(i))
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, len(idx), l.Size, l.Size, l.Channels)}
}

func (l *Labeled) image(i int) []float32 {
	n := l.Size * l.Size * l.Channels
	return l.Pixels[i*n : (i+1)*n]
}

// Pick returns the images at idx, in that order.
func (l *Labeled) Pick(idx []int) *Labeled {
	out := &Labeled{Size: l.Size, Channels: l.Channels, Classes: l.Classes, Source: l.Source}
	for _, i := range idx {
		out.Pixels = append(out.Pixels, l.image(i)...)
		out.Labels = append(out.Labels, l.Labels[i])
	}
	return out
}

// Load reads a labeled set for images of size×size×channels from path:
//   - a .csv file with a header naming a path and a label column, in either
//     order (others ignored): image files relative to the CSV's folder, or
//     absolute, and their class names;
//   - a .parquet file, or a folder holding .parquet files (read in name
//     order), with an input column of encoded images (BYTE_ARRAY) and a label
//     column of class names (strings) or numbers (integers, named in decimal);
//   - a folder of MNIST idx files (set is "train" or "test"; set matters
//     only here);
//   - a folder with one subfolder of images per class, named by it.
//
// Images are PNG or JPEG, averaged to gray and centred on a size×size canvas
// (padded with zeros or cropped). Classes are numbered in name order in every
// form, so sets with the same class names number them alike (see
// CheckClasses). Errors name the file and, for CSV and Parquet, the line or
// row (counted from 1).
func Load(path, set string, size, channels int) (*Labeled, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("finetune: labeled data: %w", err)
	}
	ext := strings.ToLower(filepath.Ext(path))
	switch {
	case !st.IsDir() && ext == ".csv":
		return loadCSV(path, size, channels)
	case !st.IsDir() && ext == ".parquet":
		return loadParquet(path, []string{path}, size, channels)
	case !st.IsDir():
		return nil, fmt.Errorf("finetune: %s: want a .csv file, a .parquet file or a folder", path)
	}
	if _, err := os.Stat(filepath.Join(path, mnist.TrainImages)); err == nil {
		s, err := mnist.LoadDir(path, set)
		if err != nil {
			return nil, err
		}
		l := fromMNIST(s, size, channels)
		l.Source = path
		return l, nil
	}
	files, err := parquetFiles(path)
	if err != nil {
		return nil, err
	}
	if len(files) > 0 {
		return loadParquet(path, files, size, channels)
	}
	return loadFolder(path, size, channels)
}

// CheckClasses reports whether test names the same classes as train. Load
// numbers classes in name order, so equal names mean equal labels.
func CheckClasses(train, test *Labeled) error {
	if slices.Equal(train.Classes, test.Classes) {
		return nil
	}
	var missing, extra []string
	for _, c := range train.Classes {
		if !slices.Contains(test.Classes, c) {
			missing = append(missing, c)
		}
	}
	for _, c := range test.Classes {
		if !slices.Contains(train.Classes, c) {
			extra = append(extra, c)
		}
	}
	return fmt.Errorf("finetune: test set %s: its classes differ from the training set %s's: missing %q, not in training %q",
		test.Source, train.Source, missing, extra)
}

func fromMNIST(s *mnist.Set, size, channels int) *Labeled {
	l := &Labeled{Size: size, Channels: channels, Labels: s.Labels,
		Pixels: make([]float32, s.Len()*size*size*channels)}
	for c := range 10 {
		l.Classes = append(l.Classes, fmt.Sprint(c))
	}
	for i := range s.Len() {
		img := s.Image(i)
		place(l.image(i), size, channels, s.Cols, s.Rows, func(x, y int) float32 { return float32(img[y*s.Cols+x]) / 255 })
	}
	return l
}

// place centres a w×h gray image, given by at, on dst, size×size×channels.
func place(dst []float32, size, channels, w, h int, at func(x, y int) float32) {
	ox, oy := (size-w)/2, (size-h)/2
	for y := range size {
		sy := y - oy
		if sy < 0 || sy >= h {
			continue
		}
		for x := range size {
			sx := x - ox
			if sx < 0 || sx >= w {
				continue
			}
			v := at(sx, sy)
			for c := range channels {
				dst[(y*size+x)*channels+c] = v
			}
		}
	}
}

// ErrNoImages is returned for a labeled folder without images.
var ErrNoImages = errors.New("no labeled images")

func loadFolder(dir string, size, channels int) (*Labeled, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("finetune: labeled data: %w", err)
	}
	c := newCollect(size, channels)
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("finetune: labeled data: %w", err)
		}
		for _, f := range files {
			ext := strings.ToLower(filepath.Ext(f.Name()))
			if f.IsDir() || !slices.Contains([]string{".png", ".jpg", ".jpeg"}, ext) {
				continue
			}
			img, err := decodePath(filepath.Join(dir, e.Name(), f.Name()))
			if err != nil {
				return nil, fmt.Errorf("finetune: %w", err)
			}
			c.add(img, e.Name())
		}
	}
	if len(c.names) == 0 {
		return nil, fmt.Errorf("finetune: %s: %w: want MNIST's idx files (%s, …), .parquet files, or one subfolder of .png/.jpg images per class", dir, ErrNoImages, mnist.TrainImages)
	}
	l := c.labeled(dir)
	if len(l.Classes) < 2 {
		return nil, fmt.Errorf("finetune: %s: one class (%s): want a subfolder of images per class, at least two", dir, l.Classes[0])
	}
	return l, nil
}

// collect gathers decoded images and their class names in input order;
// the classes are numbered once every name is known.
type collect struct {
	size, channels int
	pixels         []float32
	names          []string
}

func newCollect(size, channels int) *collect { return &collect{size: size, channels: channels} }

// add places img, averaged to gray, on a size×size×channels canvas.
func (c *collect) add(img image.Image, class string) {
	n := c.size * c.size * c.channels
	c.pixels = append(c.pixels, make([]float32, n)...)
	px := c.pixels[len(c.pixels)-n:]
	b := img.Bounds()
	place(px, c.size, c.channels, b.Dx(), b.Dy(), func(x, y int) float32 {
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return float32(r+g+bl) / 3 / 65535
	})
	c.names = append(c.names, class)
}

// labeled numbers the classes in name order (the order os.ReadDir gives the
// folder form's subfolders).
func (c *collect) labeled(src string) *Labeled {
	classes := slices.Clone(c.names)
	slices.Sort(classes)
	classes = slices.Compact(classes)
	l := &Labeled{Size: c.size, Channels: c.channels, Pixels: c.pixels, Classes: classes, Source: src,
		Labels: make([]int, len(c.names))}
	for i, name := range c.names {
		l.Labels[i], _ = slices.BinarySearch(classes, name)
	}
	return l
}

// atLeastTwo returns l, or an error if it has fewer than two classes.
func atLeastTwo(src string, l *Labeled) (*Labeled, error) {
	if len(l.Classes) < 2 {
		return nil, fmt.Errorf("finetune: %s: one class (%s): want at least two", src, l.Classes[0])
	}
	return l, nil
}

// decodePath decodes a PNG or JPEG file; its errors name the path.
func decodePath(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

var _ = png.Decode // PNG registered for image.Decode

// Subset takes perClass images of each class, drawn by a generator seeded
// with seed: the same subset for the same (set, perClass, seed). It returns
// the indices, class by class; a class with fewer images is an error.
func Subset(l *Labeled, perClass int, seed int64) ([]int, error) {
	byClass := make([][]int, len(l.Classes))
	for i, c := range l.Labels {
		byClass[c] = append(byClass[c], i)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	var out []int
	for c, idx := range byClass {
		if len(idx) < perClass {
			return nil, fmt.Errorf("finetune: class %s has %d images, fewer than --labels-per-class %d", l.Classes[c], len(idx), perClass)
		}
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		pick := slices.Clone(idx[:perClass])
		sort.Ints(pick)
		out = append(out, pick...)
	}
	return out, nil
}
