package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pretext-dev/pretext/sinks"
)

// manyImages writes n distinct JPEGs into a new folder: the photo fixtures,
// each copy with a different trailing byte after its end marker (decoders
// ignore it; dedupe does not), so that a run lasts long enough to be killed
// in each of its phases.
func manyImages(t *testing.T, n int) string {
	t.Helper()
	in := t.TempDir()
	photos := fixtures(t, "images/*.jpg")
	for i := range n {
		data, err := os.ReadFile(photos[i%len(photos)])
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, byte(i), byte(i>>8))
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("%04d-%s", i, filepath.Base(photos[i%len(photos)]))), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

// finalNames lists the files under out that carry a final shard name or are
// manifests.
func finalNames(t *testing.T, out string) []string {
	t.Helper()
	var found []string
	err := filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		base := filepath.Base(p)
		if shard, _ := filepath.Match("*-?????-of-?????.parquet", base); shard || base == sinks.ManifestName {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// A pretext run killed with SIGKILL — while bundles write temporary files,
// or once shards are being merged into the staging folder — leaves no file
// under a final shard name and no manifest (the old one went before the run
// started), so every reader refuses the folder as incomplete. A rerun into
// the same folder then commits the dataset and leaves nothing of the killed
// run behind.
func TestKilledRunPublishesNothing(t *testing.T) {
	bin := pretextBinary(t)
	in := manyImages(t, 60)
	for _, phase := range []struct{ name, glob string }{
		{"writing temporary files", "*/.staging-*/tmp-*"},
		{"merging shards", "*/.staging-*/*.staged"},
	} {
		t.Run(phase.name, func(t *testing.T) {
			out := t.TempDir()
			// The manifest of an earlier run, which the new run replaces.
			old := filepath.Join(out, "colorize", sinks.ManifestName)
			os.MkdirAll(filepath.Dir(old), 0o755)
			if err := os.WriteFile(old, []byte(`{"task":"colorize","shards":[]}`), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "run", "--config", filepath.Join(repo, "configs", "quickstart.yaml"),
				"--input", in+"/*.jpg", "--output", out, "--progress", "0")
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// Wait for the phase, or for the run to end without reaching it.
			var reached []string
			for len(reached) == 0 {
				select {
				case err := <-done:
					t.Fatalf("the run ended (%v) before %s was seen:\n%s", err, phase.name, tail(stderr.String(), 2000))
				default:
				}
				reached, _ = filepath.Glob(filepath.Join(out, phase.glob))
				time.Sleep(2 * time.Millisecond)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			err := <-done
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Success() {
				t.Fatalf("run not killed: %v", err)
			}
			t.Logf("killed while %s (%s seen)", phase.name, filepath.Base(reached[0]))
			if names := finalNames(t, out); len(names) > 0 {
				t.Errorf("after SIGKILL: %v", names)
			}
			for _, ds := range []string{"colorize", "denoise", "inpaint", sinks.DeadLetters} {
				if _, err := sinks.ReadManifest(t.Context(), filepath.Join(out, ds)); !errors.Is(err, sinks.ErrIncomplete) {
					t.Errorf("%s after SIGKILL: %v, want ErrIncomplete", ds, err)
				}
			}

			// A rerun into the same folder.
			cfg := quickstart(t, out)
			cfg.Input = in + "/*.jpg"
			ms := runVision(t, "prism", cfg)
			if ms["colorize"].Inputs != 60 || ms["colorize"].Labeled != 60 {
				t.Errorf("rerun: %d inputs, %d labeled; want 60", ms["colorize"].Inputs, ms["colorize"].Labeled)
			}
			for name, m := range ms {
				var want []string
				for _, sh := range m.Shards {
					want = append(want, sh.Path)
				}
				var got []string
				entries, _ := os.ReadDir(filepath.Join(out, name))
				for _, e := range entries {
					if e.Name() != sinks.ManifestName {
						got = append(got, e.Name())
					}
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("%s after the rerun holds %v, want its manifest and shards %v", name, got, want)
				}
			}
		})
	}
}
