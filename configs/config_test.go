package configs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/configs"
	_ "github.com/pretext-dev/pretext/transforms/av"
	_ "github.com/pretext-dev/pretext/transforms/text"
	_ "github.com/pretext-dev/pretext/transforms/vision"
)

func TestShippedConfigsValidate(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d shipped configs", len(files))
	}
	for _, f := range files {
		if strings.HasPrefix(f, "train-") {
			continue // trainer configs: trainer/train validates them
		}
		cfg, err := configs.Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// Bad config fails before any pipeline is built, naming every bad field.
func TestBadConfigNamesEveryField(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown keys", "input: x\noutput: y\ncolour: red\nimage:\n  sise: 3\ntasks:\n  denoise: {sigma: 3}\n",
			[]string{"colour", "sise", "tasks.denoise", "sigma"}},
		{"bad values", "input: x\noutput: y\nimage: {size: 0, resize: stretch}\nsplit: {train: 0.5, val: 0.1, test: 0.1}\n" +
			"sink: {compression_level: max}\n" +
			"tasks:\n  denoise: {gaussian_sigma: [-3, 10]}\n  inpaint: {mask_ratio: [0.1, 1.5]}\n",
			[]string{"image.size", "image.resize", "split", "sink.compression_level", "tasks.denoise.gaussian_sigma", "tasks.inpaint.mask_ratio"}},
		{"unknown task and missing paths", "tasks:\n  paint: {}\n", []string{"tasks.paint: unknown task"}},
		{"missing paths", "tasks:\n  colorize: {}\n", []string{"input: is required", "output: is required"}},
		{"new limits", "input: x\noutput: y\nimage: {max_decode_mb: 0, max_scans: -1, timeout_s: 0}\nworker: {memory_mb: -5}\ntasks:\n  colorize: {}\n",
			[]string{"image.max_decode_mb", "image.max_scans", "image.timeout_s", "worker.memory_mb"}},
		// 8192² pixels at up to 8 bytes each is 512 MiB a row: the error
		// says the number and the two ways out.
		{"rows over the row-group budget", "input: x\noutput: y\nimage: {size: 8192}\ntasks:\n  colorize: {}\n",
			[]string{"image.size: 8192 makes rows of up to 512 MiB", "sink.row_group_mb 16", "raise sink.row_group_mb to 512"}},
		{"video rows too", "modality: video\ninput: x\noutput: y\nimage: {size: 2048}\nsink: {row_group_mb: 8}\ntasks:\n  colorize: {}\n",
			[]string{"image.size: 2048 makes rows of up to 32 MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := configs.Parse([]byte(tc.yaml))
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
		})
	}
}

// The largest size the default row group admits is accepted, and so is any
// size with resize "no" (rows then follow the inputs' own sizes).
func TestRowSizeLimitEdge(t *testing.T) {
	for _, y := range []string{
		"input: x\noutput: y\nimage: {size: 1448}\ntasks:\n  colorize: {}\n",
		"input: x\noutput: y\nimage: {size: 8192, resize: \"no\"}\ntasks:\n  colorize: {}\n",
	} {
		cfg, err := configs.Parse([]byte(y))
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Errorf("%q: %v", y, err)
		}
	}
	cfg, _ := configs.Parse([]byte("input: x\noutput: y\nimage: {size: 1449}\ntasks:\n  colorize: {}\n"))
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "image.size: 1449") {
		t.Errorf("size 1449 (16.0 MiB + 18 KiB a row): %v", err)
	}
}

func TestLabelConfigIgnoresPathsAndLimits(t *testing.T) {
	data, err := os.ReadFile("quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := configs.Parse(data)
	b, _ := configs.Parse(data)
	b.Input, b.Output, b.Limit, b.Sink.BufferMB = "gs://x/**", "s3://y", 3, 999
	b.Image.TimeoutSeconds, b.Worker.MemoryMB = 5, 100 // a backstop and a schedule: no label changes
	_, ha, _ := a.LabelConfig("denoise", nil)
	_, hb, _ := b.LabelConfig("denoise", nil)
	if ha != hb {
		t.Error("config hash depends on paths, limit or buffer size")
	}
	b.Image.Size++
	if _, hc, _ := b.LabelConfig("denoise", nil); hc == ha {
		t.Error("config hash ignores the image size")
	}
}

// image.jpeg_scaling is off by default and then leaves the label config (and
// so the hash written into shards) as it was before the field existed; on,
// it shapes pixels, so it changes the hash.
func TestJPEGScalingOptIn(t *testing.T) {
	if configs.Default().Image.JPEGScaling {
		t.Fatal("jpeg_scaling is on by default")
	}
	cfg, err := configs.Parse([]byte("input: x\noutput: y\nimage: {jpeg_scaling: true}\ntasks:\n  colorize: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Image.JPEGScaling {
		t.Fatal("image.jpeg_scaling: true not read")
	}
	on, hOn, _ := cfg.LabelConfig("colorize", nil)
	cfg.Image.JPEGScaling = false
	off, hOff, _ := cfg.LabelConfig("colorize", nil)
	if hOn == hOff {
		t.Error("config hash ignores jpeg_scaling")
	}
	if strings.Contains(string(off), "jpeg_scaling") || !strings.Contains(string(on), `"jpeg_scaling":true`) {
		t.Errorf("label config: off %s, on %s", off, on)
	}
}
