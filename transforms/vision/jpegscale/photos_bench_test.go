package jpegscale

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDecodePhotos decodes the bench's ten photos (bench/fetch-photos.sh
// puts them in .cache/bench/photos; PRETEXT_BENCH_PHOTOS names another folder)
// at the scale a 256 px centre crop asks for, as the image bench does.
func BenchmarkDecodePhotos(b *testing.B) {
	dir := os.Getenv("PRETEXT_BENCH_PHOTOS")
	if dir == "" {
		dir = "../../../.cache/bench/photos"
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if len(paths) == 0 {
		b.Skip("no photos in " + dir + " (run bench/fetch-photos.sh)")
	}
	type photo struct {
		data []byte
		n    int
	}
	var photos []photo
	var size int64
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		short := min(cfg.Width, cfg.Height)
		n := 8
		for _, k := range []int{1, 2, 4} {
			if scaledSize(short, k) >= 256 {
				n = k
				break
			}
		}
		photos = append(photos, photo{data, n})
		size += int64(len(data))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range photos {
			if _, err := DecodeScaled(bytes.NewReader(p.data), p.n); err != nil {
				b.Fatal(err)
			}
		}
	}
}
