package pipelines

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

// finalFiles maps each file of out's dataset folders (everything but
// OUT/.pretext) to the sha256 of its bytes.
func finalFiles(t *testing.T, out string) map[string]string {
	t.Helper()
	found := map[string]string{}
	err := filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && info.Name() == ".pretext" {
			return filepath.SkipDir
		}
		if !info.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			found[strings.TrimPrefix(p, out)] = hex.EncodeToString(sum[:8])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// A pretext rerun killed with SIGKILL — while bundles write temporary
// files, or once shards are being merged into the staging folder — leaves
// the committed dataset as it was: the same manifests, the same shards, no
// file of the killed run in a dataset folder (its staging and its lease stay
// in OUT/.pretext). The next run takes over the dead run's lease, removes
// its staging and commits; nothing of the killed run is left behind.
func TestKilledRunPublishesNothing(t *testing.T) {
	bin := pretextBinary(t)
	in := manyImages(t, 60)
	for _, phase := range []struct{ name, glob string }{
		{"writing temporary files", ".pretext/runs/*/*.staging/tmp-*"},
		{"merging shards", ".pretext/runs/*/*.staging/*.staged"},
	} {
		t.Run(phase.name, func(t *testing.T) {
			out := t.TempDir()
			// The dataset of an earlier run, which the new run would replace.
			cfg := quickstart(t, out)
			cfg.Input = filepath.Join(repo, "testdata", "images", "photos") + "/*.jpg"
			runVision(t, "prism", cfg)
			before := finalFiles(t, out)
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
			if after := finalFiles(t, out); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("after SIGKILL the datasets hold\n%v\nwant as before\n%v", after, before)
			}
			for _, ds := range []string{"colorize", "denoise", "inpaint", sinks.DeadLetters} {
				verify(t, filepath.Join(out, ds), ds)
			}

			// A rerun into the same folder.
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
			if left, _ := filepath.Glob(filepath.Join(out, ".pretext", "runs", "*")); len(left) > 0 {
				t.Errorf("after the rerun, OUT/.pretext still holds %v", left)
			}
		})
	}
}
