//go:build !xla

package backend

import "github.com/gomlx/gomlx/backends"

// xlaCompiled reports whether this binary was built with XLA support (-tags xla).
const xlaCompiled = false

// newXLA fails: XLA needs cgo, and the default binary is pure Go.
func newXLA(string) (backends.Backend, error) {
	return nil, errXLANotCompiled
}
