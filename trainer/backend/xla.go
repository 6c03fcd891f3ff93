//go:build xla

package backend

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
)

// xlaCompiled reports whether this binary was built with XLA support (-tags xla).
const xlaCompiled = true

// newXLA starts GoMLX's XLA backend with the given PJRT plugin configuration ("cpu",
// "cuda", an absolute path to a plugin, or "" for the first plugin found). GoMLX panics
// on some failures; they are returned as errors so that New can fall back.
func newXLA(config string) (b backends.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("xla backend panicked: %v", r)
		}
	}()
	return xla.New(config)
}
