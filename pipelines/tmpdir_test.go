package pipelines

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A local `pretext run` leaves nothing in the temporary folder: not Beam's
// empty beamloopbackworker-* stand-in (Beam 2.77 makes one per LOOPBACK run
// and never removes it), not the run's own folders.
func TestRunLeavesNoTemporaryFiles(t *testing.T) {
	bin := pretextBinary(t)
	tmp := t.TempDir()
	cmd := exec.Command(bin, "run", "--config", filepath.Join(repo, "configs", "quickstart.yaml"),
		"--input", filepath.Join(repo, "testdata", "images")+"/**", "--output", t.TempDir(), "--progress", "0")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("pretext run: %v\n%s", err, tail(out.String(), 2000))
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left in the temporary folder: %s", e.Name())
	}
}
