package backend

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

func TestNewUnknownNameIsError(t *testing.T) {
	for _, name := range []string{"tpu", "gofix", "simplego", "xla2:cpu", "cuda", "Go"} {
		t.Run(name, func(t *testing.T) {
			b, notice, err := New(name)
			if err == nil {
				t.Fatalf("New(%q) = %v, %q, want an error", name, b, notice)
			}
			for _, want := range []string{`"` + name + `"`, `"go"`, `"xla:cpu"`, `"xla:cuda"`, `"xla:/path/to/pjrt_plugin.so"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q doesn't mention %s", err, want)
				}
			}
		})
	}
}

func TestNewGo(t *testing.T) {
	t.Setenv(EnvVar, "")
	for _, name := range []string{"", "go", " go ", "go:", "go:dotgeneral_large", "go:dotgeneral_small,ops_sequential"} {
		t.Run(name, func(t *testing.T) {
			b, notice, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			if notice != "" {
				t.Errorf("notice %q, want none", notice)
			}
			if !strings.Contains(b.Description(), "fixes") {
				t.Errorf("backend %q is not the fixed pure-Go one", b.Description())
			}
			got := graph.MustNewExec(b, func(x *graph.Node) *graph.Node {
				return graph.Reverse(x, 0)
			}).MustExec([]float32{1, 2, 3})[0].Value().([]float32)
			if got[0] != 3 || got[2] != 1 {
				t.Errorf("Reverse = %v", got)
			}
		})
	}
}

func TestNewGoBadOptionIsError(t *testing.T) {
	if _, _, err := New("go:warp_speed"); err == nil || !strings.Contains(err.Error(), "warp_speed") {
		t.Errorf("New(go:warp_speed) error = %v, want one naming the option", err)
	}
}

func TestNewReadsEnv(t *testing.T) {
	t.Setenv(EnvVar, "nope")
	if _, _, err := New(""); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("with %s=nope, New(\"\") error = %v", EnvVar, err)
	}
	if _, _, err := New("go"); err != nil {
		t.Errorf("a name overrides %s: %v", EnvVar, err)
	}
	t.Setenv(EnvVar, "go:ops_parallel")
	if _, _, err := New(""); err != nil {
		t.Errorf("with %s=go:ops_parallel: %v", EnvVar, err)
	}
}

// TestNewXLAFallsBack: without -tags xla (the default build) XLA is never there; New
// falls back to the pure-Go backend and says, in one log line, why and how to enable it.
func TestNewXLAFallsBack(t *testing.T) {
	if xlaCompiled && os.Getenv("GOMLX_NO_AUTO_INSTALL") == "" {
		t.Skip("built with -tags xla: set GOMLX_NO_AUTO_INSTALL=1 so that the test doesn't download a PJRT plugin")
	}
	var logged bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))

	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	for _, name := range []string{"xla:cpu", "xla:cuda", "xla:/nonexistent/pjrt_c_api_cpu_plugin.so"} {
		t.Run(name, func(t *testing.T) {
			logged.Reset()
			b, notice, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != Go {
				t.Errorf("fell back to %q, want %q", b.String(), Go)
			}
			want := []string{`"` + name + `"`, `using the pure-Go backend "go"`, "PJRT_PLUGIN_LIBRARY_PATH",
				"/usr/local/lib/go-xla", "GOMLX_NO_AUTO_INSTALL=1"}
			if !xlaCompiled {
				want = append(want, "built without XLA support", "build with -tags xla")
			}
			for _, w := range want {
				if !strings.Contains(notice, w) {
					t.Errorf("notice %q doesn't say %q", notice, w)
				}
			}
			if lines := strings.Split(strings.TrimSpace(logged.String()), "\n"); len(lines) != 1 ||
				!strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "GOMLX_NO_AUTO_INSTALL=1") {
				t.Errorf("logged %q, want the notice as one warning line", logged.String())
			}
		})
	}
}

func TestGoConfig(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "ops_sequential",
		"ops_parallel":                  "ops_parallel",
		"ops_sequential":                "ops_sequential",
		"parallelism=4":                 "parallelism=4,ops_sequential",
		"dotgeneral_small,ops_parallel": "dotgeneral_small,ops_parallel",
	} {
		if got := goConfig(in); got != want {
			t.Errorf("goConfig(%q) = %q, want %q", in, got, want)
		}
	}
}
