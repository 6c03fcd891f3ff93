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
	// Classes names the classes.
	Classes []string
}

// Len is the number of images.
func (l *Labeled) Len() int { return len(l.Labels) }

func (l *Labeled) image(i int) []float32 {
	n := l.Size * l.Size * l.Channels
	return l.Pixels[i*n : (i+1)*n]
}

// Pick returns the images at idx, in that order.
func (l *Labeled) Pick(idx []int) *Labeled {
	out := &Labeled{Size: l.Size, Channels: l.Channels, Classes: l.Classes}
	for _, i := range idx {
		out.Pixels = append(out.Pixels, l.image(i)...)
		out.Labels = append(out.Labels, l.Labels[i])
	}
	return out
}

// Load reads a labeled set for images of size×size×channels: a folder of
// MNIST idx files (set is "train" or "test"), or a folder with one subfolder
// of images per class (set is ignored). Images are centred on a size×size
// canvas (padded with zeros or cropped).
func Load(dir, set string, size, channels int) (*Labeled, error) {
	if _, err := os.Stat(filepath.Join(dir, mnist.TrainImages)); err == nil {
		s, err := mnist.LoadDir(dir, set)
		if err != nil {
			return nil, err
		}
		return fromMNIST(s, size, channels), nil
	}
	return loadFolder(dir, size, channels)
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
	l := &Labeled{Size: size, Channels: channels}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("finetune: labeled data: %w", err)
		}
		class := len(l.Classes)
		added := false
		for _, f := range files {
			ext := strings.ToLower(filepath.Ext(f.Name()))
			if f.IsDir() || !slices.Contains([]string{".png", ".jpg", ".jpeg"}, ext) {
				continue
			}
			path := filepath.Join(dir, e.Name(), f.Name())
			img, err := decodeFile(path)
			if err != nil {
				return nil, err
			}
			px := make([]float32, size*size*channels)
			b := img.Bounds()
			place(px, size, channels, b.Dx(), b.Dy(), func(x, y int) float32 {
				r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				return float32(r+g+bl) / 3 / 65535
			})
			l.Pixels = append(l.Pixels, px...)
			l.Labels = append(l.Labels, class)
			added = true
		}
		if added {
			l.Classes = append(l.Classes, e.Name())
		}
	}
	if l.Len() == 0 {
		return nil, fmt.Errorf("finetune: %s: %w: want MNIST's idx files (%s, …) or one subfolder of .png/.jpg images per class", dir, ErrNoImages, mnist.TrainImages)
	}
	if len(l.Classes) < 2 {
		return nil, fmt.Errorf("finetune: %s: one class (%s): want a subfolder of images per class, at least two", dir, l.Classes[0])
	}
	return l, nil
}

func decodeFile(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("finetune: %s: %w", path, err)
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
