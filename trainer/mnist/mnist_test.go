package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeIdx writes a gzipped idx file: header words then data.
func writeIdx(t *testing.T, path string, header []uint32, data []byte) {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	binary.Write(z, binary.BigEndian, header)
	z.Write(data)
	z.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadAndWritePNGs(t *testing.T) {
	dir := t.TempDir()
	px := make([]byte, 3*4*5)
	for i := range px {
		px[i] = byte(i * 4)
	}
	writeIdx(t, filepath.Join(dir, TrainImages), []uint32{magicImages, 3, 4, 5}, px)
	writeIdx(t, filepath.Join(dir, TrainLabels), []uint32{magicLabels, 3}, []byte{7, 0, 9})
	s, err := LoadDir(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || s.Rows != 4 || s.Cols != 5 || s.Labels[2] != 9 || s.Image(1)[0] != px[20] {
		t.Fatalf("loaded %d images %d×%d, labels %v", s.Len(), s.Rows, s.Cols, s.Labels)
	}
	n, err := WritePNGs(s, filepath.Join(dir, "png"), 2)
	if err != nil || n != 3 {
		t.Fatalf("WritePNGs: %d, %v", n, err)
	}
	f, err := os.Open(filepath.Join(dir, "png", "00001.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 9 || b.Dy() != 8 {
		t.Errorf("PNG is %v, want 9×8 (5×4 padded by 2)", b)
	}
	if r, _, _, _ := img.At(2, 2).RGBA(); r>>8 != uint32(px[20]) {
		t.Errorf("pixel (2,2) = %d, want %d", r>>8, px[20])
	}
	if r, _, _, _ := img.At(0, 0).RGBA(); r != 0 {
		t.Errorf("padding pixel = %d, want 0", r)
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	trunc := filepath.Join(dir, "trunc.gz")
	writeIdx(t, trunc, []uint32{magicImages, 10, 28, 28}, make([]byte, 100))
	if _, err := Load(trunc, ""); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: err = %v", err)
	}
	labels := filepath.Join(dir, "labels.gz")
	writeIdx(t, labels, []uint32{magicLabels, 3}, []byte{1, 2, 3})
	if _, err := Load(labels, ""); err == nil || !strings.Contains(err.Error(), "not an idx images file") {
		t.Errorf("labels as images: err = %v", err)
	}
	images := filepath.Join(dir, "images.gz")
	writeIdx(t, images, []uint32{magicImages, 2, 2, 2}, make([]byte, 8))
	if _, err := Load(images, labels); err == nil || !strings.Contains(err.Error(), "3 labels for the 2 images") {
		t.Errorf("label count mismatch: err = %v", err)
	}
}
