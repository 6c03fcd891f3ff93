package pipelines

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pretext-dev/pretext/configs"
)

// Every subcommand exits 0 on success, 2 on a user's mistake (bad flag,
// config, path) with one line naming it and no Go or Beam trace, and 1 on
// other failures (configs.ExitCode).
func TestExitCodes(t *testing.T) {
	bin := pretextBinary(t)
	dir := t.TempDir()
	root, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	images := filepath.Join(root, "testdata", "images") + "/**"
	textCfg := func(vocab string) string {
		return write(filepath.Base(vocab)+".yaml", fmt.Sprintf("modality: text\ninput: %s\noutput: %s\ntext:\n  vocab: %s\ntasks:\n  mlm_nsp: {}\n",
			filepath.Join(root, "testdata", "text")+"/**", filepath.Join(dir, "out"), vocab))
	}
	onlyUNK := textCfg(write("unk.txt", "[UNK]\n"))
	binary := textCfg(write("binary.txt", "[PAD]\n[UNK]\n\xff\xfe\x00\x01\n"))
	big := write("big.yaml", fmt.Sprintf("input: %s\noutput: %s\nimage:\n  size: 8192\ntasks:\n  colorize: {}\n", images, filepath.Join(dir, "out")))
	quick := filepath.Join(root, "configs", "quickstart.yaml")

	for _, c := range []struct {
		name string
		args []string
		code int
		want string // in the output
	}{
		{"tasks", []string{"tasks"}, configs.ExitOK, "colorize"},
		{"no command", nil, configs.ExitMistake, "Usage"},
		{"unknown command", []string{"frobnicate"}, configs.ExitMistake, `unknown command "frobnicate"`},
		{"bad flag", []string{"run", "--no-such-flag"}, configs.ExitMistake, "no-such-flag"},
		{"missing --config", []string{"run"}, configs.ExitMistake, "--config is required"},
		{"missing config file", []string{"run", "--config", filepath.Join(dir, "nope.yaml")}, configs.ExitMistake, "nope.yaml"},
		{"bad config value", []string{"run", "--config", big}, configs.ExitMistake, "image.size: 8192 makes rows of up to 512 MiB"},
		{"vocab of only [UNK]", []string{"run", "--config", onlyUNK}, configs.ExitMistake, "text.vocab:"},
		{"binary vocab", []string{"run", "--config", binary}, configs.ExitMistake, "not UTF-8"},
		{"dry run matching nothing", []string{"run", "--config", quick, "--input", dir + "/*.jpg", "--dry-run"}, configs.ExitMistake, "no input matches"},
		{"run matching nothing", []string{"run", "--config", quick, "--input", dir + "/*.jpg", "--output", filepath.Join(dir, "out")}, configs.ExitMistake, "no input matches"},
		// Checked before anything is written: Beam failed with a trace
		// ("0 tallies of outcomes") after the run had started.
		{"input is a folder", []string{"run", "--config", quick, "--input", filepath.Join(root, "testdata", "images"), "--output", filepath.Join(dir, "out")}, configs.ExitMistake, "images/** matches every file under it"},
		{"missing input folder", []string{"run", "--config", quick, "--input", filepath.Join(dir, "none") + "/**", "--output", filepath.Join(dir, "out")}, configs.ExitMistake, "no such file or directory"},
		{"input at the output", []string{"run", "--config", quick, "--input", filepath.Join(dir, "out") + "/**", "--output", filepath.Join(dir, "out")}, configs.ExitMistake, "covers the output folder"},
		{"input in a dataset folder", []string{"run", "--config", quick, "--input", filepath.Join(dir, "out", "denoise") + "/*", "--output", filepath.Join(dir, "out")}, configs.ExitMistake, "covers the output folder"},
		{"dataflow without its flags, on local paths", []string{"run", "--config", quick, "--output", filepath.Join(dir, "out"), "--runner=dataflow"}, configs.ExitMistake, "--runner=dataflow needs --staging_location"},
		{"flink on local paths", []string{"run", "--config", quick, "--output", filepath.Join(dir, "out"), "--runner=flink", "--endpoint=localhost:8099"}, configs.ExitMistake, "is a local path, which --runner=flink's workers do not see"},
		{"output is a file", []string{"run", "--config", quick, "--output", quick}, configs.ExitMistake, "is a file, not a folder"},
		{"tokenize without --vocab", []string{"tokenize"}, configs.ExitMistake, "--vocab is required"},
		{"inspect without a folder", []string{"inspect"}, configs.ExitMistake, "usage: pretext inspect"},
		{"inspect a missing folder", []string{"inspect", filepath.Join(dir, "missing")}, configs.ExitMistake, "missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			cmd.Dir = dir
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			text := out.String()
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, tail(text, 2000))
			}
			if !strings.Contains(text, c.want) {
				t.Errorf("output lacks %q:\n%s", c.want, tail(text, 2000))
			}
			if c.name == "bad flag" && strings.Count(strings.TrimSpace(text), "\n") > 0 {
				t.Errorf("a mistyped flag takes more than one line:\n%s", tail(text, 2000))
			}
			if code == configs.ExitMistake {
				for _, trace := range []string{"goroutine ", "panic:", ".go:", "bundle"} {
					if strings.Contains(text, trace) {
						t.Errorf("a user's mistake shows %q:\n%s", trace, tail(text, 2000))
					}
				}
			}
		})
	}
}

// SIGINT and SIGTERM end a run with one line and exit status 130 and 143
// (the runtime alone dies by the signal, which a script sees as no status).
func TestInterruptExitCodes(t *testing.T) {
	bin := pretextBinary(t)
	in := t.TempDir()
	// Enough distinct images that the run is still labelling when the
	// signal comes (it is sent at the first progress line).
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
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
	for _, c := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{{syscall.SIGINT, configs.ExitInterrupted, "SIGINT"}, {syscall.SIGTERM, configs.ExitTerminated, "SIGTERM"}} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, "run", "--config", filepath.Join(repo, "configs", "quickstart.yaml"),
				"--input", in+"/*.png", "--output", t.TempDir(), "--progress", "50ms")
			cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var lines []string
			sent := false
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				lines = append(lines, sc.Text())
				if strings.HasPrefix(sc.Text(), "progress") && !sent {
					sent = true
					if err := cmd.Process.Signal(c.sig); err != nil {
						t.Fatal(err)
					}
				}
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var werr error
			select {
			case werr = <-done:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				t.Fatal("the run did not end within a minute of the signal")
			}
			var ee *exec.ExitError
			if !errors.As(werr, &ee) || ee.ExitCode() != c.code {
				t.Fatalf("exit %v, want status %d\n%s", werr, c.code, strings.Join(lines, "\n"))
			}
			want := "pretext run: interrupted by " + c.name
			if !slices.Contains(lines, want) {
				t.Errorf("no line %q in\n%s", want, strings.Join(lines, "\n"))
			}
		})
	}
}

// A relaunch that is refused leaves the previous dataset as it was: an
// input matching nothing, a missing input folder, and a --runner=dataflow
// relaunch missing --staging_location (and on local paths) are all judged
// before the old manifests are touched.
func TestRefusedLaunchKeepsDataset(t *testing.T) {
	bin := pretextBinary(t)
	root, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	quick := filepath.Join(root, "configs", "quickstart.yaml")
	out := t.TempDir()
	run := func(args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"run", "--config", quick, "--output", out, "--progress", "0"}, args...)...)
		cmd.Dir = root // the config's input is relative to the repository
		cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
		b, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(b)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(b)
	}
	if code, text := run(); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, tail(text, 2000))
	}
	manifests := func() map[string]string {
		m := map[string]string{}
		for _, ds := range []string{"colorize", "denoise", "inpaint", "_dead_letters"} {
			b, err := os.ReadFile(filepath.Join(out, ds, "_manifest.json"))
			if err != nil {
				t.Fatalf("%s: %v", ds, err)
			}
			m[ds] = string(b)
		}
		return m
	}
	before := manifests()
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
		after := manifests()
		for ds, m := range before {
			if after[ds] != m {
				t.Errorf("%s: the manifest of %s changed", c.name, ds)
			}
		}
	}
}
