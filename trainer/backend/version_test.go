package backend

import (
	"os"
	"strings"
	"testing"
)

// TestGoMLXVersionPinned: the fixes were written against, and read unexported fields of,
// GoMLX v0.26.0. Upgrading is fine once the tests here pass on the new version; then
// update this test and docs/trainer.md. (Test binaries carry no dependency versions, so
// this reads go.mod.)
func TestGoMLXVersionPinned(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Skipf("can't read the module's go.mod: %v", err)
	}
	for line := range strings.Lines(string(mod)) {
		if f := strings.Fields(line); len(f) >= 2 && (f[0] == "github.com/gomlx/gomlx" || f[0] == "require" && f[1] == "github.com/gomlx/gomlx") {
			if !strings.Contains(line, " v0.26.0") {
				t.Errorf("go.mod has %q; the fixes were written for GoMLX v0.26.0: check that readDotAxes still "+
					"reads the axes and that SimpleGo still lacks Reverse and Pad, then update this test", strings.TrimSpace(line))
			}
			return
		}
	}
	t.Error("go.mod doesn't require github.com/gomlx/gomlx")
}
