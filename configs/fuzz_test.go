package configs

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: any YAML, well-formed or not, is decoded or refused with an
// error; Validate never panics on what Parse returns.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("*.yaml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("tasks: {denoise: {gaussian_sigma: [-3, 1e400]}}\nimage: {size: -1}\n"))
	f.Add([]byte("seed: [\nmodality: &a *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _ := Parse(data)
		_ = cfg.Validate()
	})
}
