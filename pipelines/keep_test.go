package pipelines

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/sinks"
)

// manyPNGs writes n distinct small PNGs into a new folder: enough work that
// a run is still labelling when a test signals it.
func manyPNGs(t *testing.T, n int) string {
	t.Helper()
	in := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, 96, 96))
		for p := 0; p < len(img.Pix); p += 4 {
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255
		}
		img.Set(0, 0, color.NRGBA{uint8(i), uint8(i >> 8), 0, 255})
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("%03d.png", i)), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

// A rerun never damages the dataset already in its output folder. After
// each way a rerun can end early — refused before it starts (an input
// matching nothing, a missing input folder, a Dataflow relaunch without
// --staging_location), stopped by SIGINT or SIGTERM in the middle, killed by
// SIGKILL in the middle, or started while another run holds the folder —
// every manifest is byte for byte the committed one and `pretext inspect
// --check` passes the folder. Each refusal is one line with exit status 2;
// a signal ends the run with 130 or 143 and one line saying what was kept
// and removed. The run holding the folder commits a dataset that passes
// the check, and a rerun after the SIGKILL commits without any clean-up by
// hand.
func TestRerunFailuresKeepDataset(t *testing.T) {
	bin := pretextBinary(t)
	root, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	quick := filepath.Join(root, "configs", "quickstart.yaml")
	out := t.TempDir()
	many := manyPNGs(t, 400)
	start := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"run", "--config", quick, "--output", out}, args...)...)
		cmd.Dir = root // the config's input is relative to the repository
		cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
		return cmd
	}
	result := func(err error) int {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return -int(ws.Signal())
			}
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	run := func(args ...string) (int, string) {
		b, err := start(append([]string{"--progress", "0"}, args...)...).CombinedOutput()
		return result(err), string(b)
	}
	// runUntil starts a long rerun and calls at on the first progress line.
	runUntil := func(at func(*exec.Cmd)) (int, string) {
		cmd := start("--input", many+"/*.png", "--progress", "50ms")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		sent := false
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "progress") {
				text.WriteString(sc.Text() + "\n")
			} else if !sent {
				sent = true
				at(cmd)
			}
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if !sent {
				t.Fatalf("the rerun ended before its first progress line:\n%s", text.String())
			}
			return result(err), text.String()
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			t.Fatal("the rerun did not end within two minutes")
		}
		return 0, ""
	}

	if code, text := run(); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, tail(text, 2000))
	}
	datasets := []string{"colorize", "denoise", "inpaint", sinks.DeadLetters}
	manifests := func() map[string]string {
		m := map[string]string{}
		for _, ds := range datasets {
			b, err := os.ReadFile(filepath.Join(out, ds, sinks.ManifestName))
			if err != nil {
				t.Fatalf("%s: %v", ds, err)
			}
			m[ds] = string(b)
		}
		return m
	}
	committed := manifests()
	check := func(what string) {
		t.Helper()
		for ds, m := range manifests() {
			if m != committed[ds] {
				t.Errorf("%s: the manifest of %s changed", what, ds)
			}
		}
		cmd := exec.Command(bin, "inspect", out, "--check")
		cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: pretext inspect --check: %v\n%s", what, err, tail(string(b), 2000))
		}
	}
	// A refusal is one line a problem: a headline and an indented line for
	// each problem when there are several.
	oneLine := func(what, text string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(text), "\n")
		if len(lines) > 1 && !strings.HasSuffix(lines[0], ":") {
			t.Errorf("%s takes more than one line:\n%s", what, tail(text, 2000))
		}
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, "  ") {
				t.Errorf("%s takes more than one line a problem:\n%s", what, tail(text, 2000))
			}
		}
		for _, trace := range []string{"goroutine ", "panic:", ".go:", "bundle"} {
			if strings.Contains(text, trace) {
				t.Errorf("%s shows %q:\n%s", what, trace, tail(text, 2000))
			}
		}
	}

	empty := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
	}{
		{"input matching nothing", []string{"--input", empty + "/*.jpg"}},
		{"missing input folder", []string{"--input", filepath.Join(empty, "missing") + "/**"}},
		{"dataflow relaunch without --staging_location", []string{"--runner=dataflow", "--project=p", "--region=r"}},
	} {
		code, text := run(c.args...)
		if code != configs.ExitMistake {
			t.Errorf("%s: exit %d, want 2\n%s", c.name, code, tail(text, 2000))
		}
		oneLine(c.name, text)
		check(c.name)
	}

	for _, c := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, configs.ExitInterrupted}, {syscall.SIGTERM, configs.ExitTerminated}} {
		code, text := runUntil(func(cmd *exec.Cmd) { cmd.Process.Signal(c.sig) })
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.sig, code, c.code, text)
		}
		want := fmt.Sprintf("pretext run: interrupted by %s: kept the previous colorize, denoise, inpaint, _dead_letters as they were in %s; removed this run's staging", unix(c.sig), out)
		if !strings.HasPrefix(strings.TrimSpace(text), want) {
			t.Errorf("%v: said\n%s\nwant a line starting %q", c.sig, text, want)
		}
		oneLine(unix(c.sig), text)
		check(unix(c.sig))
		if left, _ := filepath.Glob(filepath.Join(out, ".pretext", "runs", "*", "*")); len(left) > 0 {
			t.Errorf("%v: the run left %v", c.sig, left)
		}
	}

	code, _ := runUntil(func(cmd *exec.Cmd) { cmd.Process.Kill() })
	if code != -int(syscall.SIGKILL) {
		t.Errorf("SIGKILL: exit %d", code)
	}
	check("SIGKILL")

	// Two runs at once: the second is refused and names the first, which
	// commits. (The first also takes over the lease the killed run left.)
	var second string
	var secondCode int
	var lease sinks.LeaseInfo
	code, text := runUntil(func(*exec.Cmd) {
		data, err := os.ReadFile(sinks.LeasePath(out))
		if err != nil {
			t.Errorf("no lease while a run writes: %v", err)
		}
		json.Unmarshal(data, &lease)
		secondCode, second = run()
	})
	if code != 0 {
		t.Fatalf("the run holding the folder: exit %d\n%s", code, text)
	}
	if secondCode != configs.ExitMistake || !strings.Contains(second, "is being written by run "+lease.RunID) || lease.RunID == "" {
		t.Errorf("second run: exit %d, said\n%s\nwant 2 and the first run's id %q", secondCode, second, lease.RunID)
	}
	oneLine("the second run's refusal", second)
	committed = manifests()
	check("after the commit")
	var m sinks.Manifest
	if err := json.Unmarshal([]byte(committed["colorize"]), &m); err != nil || m.Inputs != 400 || m.Labeled != 400 {
		t.Errorf("the committed rerun: %d inputs, %d labeled (%v); want 400", m.Inputs, m.Labeled, err)
	}
	if _, err := os.Stat(sinks.LeasePath(out)); !os.IsNotExist(err) {
		t.Errorf("the lease outlived the run: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".pretext", "runs", "*")); len(left) > 0 {
		t.Errorf("the runs left %v", left)
	}
}

func unix(sig syscall.Signal) string {
	if sig == syscall.SIGINT {
		return "SIGINT"
	}
	return "SIGTERM"
}
