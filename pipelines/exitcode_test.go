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
