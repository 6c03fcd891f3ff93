package backend

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
)

// EnvVar is GoMLX's environment variable naming a backend, read by [New] when it is
// given no name.
const EnvVar = backends.ConfigEnvVar // "GOMLX_BACKEND"

// Go is the name of the pure-Go backend, the default.
const Go = "go"

// Choices lists the backend names New accepts, for flag help and error messages.
const Choices = `"go" (pure Go, the default), "go:OPTIONS" (SimpleGo options, e.g. "go:ops_parallel"), ` +
	`"xla" (the first PJRT plugin found), "xla:cpu", "xla:cuda", "xla:/path/to/pjrt_plugin.so"`

// xlaHelp says how to get a working XLA backend; it ends every fallback notice.
func xlaHelp() string {
	const plugins = "plugins are looked up in $PJRT_PLUGIN_LIBRARY_PATH, /usr/local/lib/go-xla and ~/.local/lib/go-xla " +
		"(\"xla:/path/to/pjrt_plugin.so\" names one directly); GoMLX downloads missing ones unless " +
		"GOMLX_NO_AUTO_INSTALL=1 is set."
	if xlaCompiled {
		return "To use XLA, install a PJRT plugin: " + plugins
	}
	return "To use XLA, build with -tags xla (needs cgo and a C toolchain) and install a PJRT plugin: " + plugins
}

// errXLANotCompiled is returned by newXLA in binaries built without the xla tag.
var errXLANotCompiled = errors.New("this binary was built without XLA support")

// New returns the backend called name: "go" or "go:OPTIONS" (SimpleGo with this
// package's fixes, see [NewGo]), or "xla", "xla:cpu", "xla:cuda", "xla:/path/plugin.so"
// (XLA through a PJRT plugin, compiled in only with -tags xla). An empty name means
// $GOMLX_BACKEND ([EnvVar]), and "go" if that is unset or empty.
//
// When XLA is asked for but is not compiled in or fails to start (no plugin, no network to
// download one, no GPU), New falls back to the pure-Go backend: notice then says why and
// how to enable XLA, and is logged as one warning line; otherwise notice is empty. An
// unknown name, or SimpleGo options it rejects, are an error naming the valid choices.
func New(name string) (b backends.Backend, notice string, err error) {
	if name == "" {
		name = os.Getenv(EnvVar)
	}
	kind, config, err := parseName(name)
	if err != nil {
		return nil, "", err
	}
	if kind == Go {
		b, err = NewGo(config)
		return b, "", err
	}
	b, xlaErr := newXLA(config)
	if xlaErr == nil {
		return b, "", nil
	}
	if errors.Is(xlaErr, errXLANotCompiled) {
		notice = fmt.Sprintf("backend %q requested, but %v; using the pure-Go backend %q instead. %s",
			name, xlaErr, Go, xlaHelp())
	} else {
		notice = fmt.Sprintf("backend %q failed to start (%s); using the pure-Go backend %q instead. %s",
			name, oneLine(xlaErr.Error()), Go, xlaHelp())
	}
	if b, err = NewGo(""); err != nil {
		return nil, "", fmt.Errorf("%s: %w", notice, err)
	}
	slog.Warn(notice)
	return b, notice, nil
}

// Open is [New] for a run that logs to log: the notice of a fallback to the
// pure-Go backend becomes a "WARN" line there.
func Open(name string, log io.Writer) (backends.Backend, error) {
	b, notice, err := New(name)
	if err == nil && notice != "" {
		fmt.Fprintln(log, "WARN", notice)
	}
	return b, err
}

// parseName splits a backend name into its kind ("go" or "xla") and configuration.
func parseName(name string) (kind, config string, err error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Go, "", nil
	}
	kind, config, _ = strings.Cut(name, ":")
	switch kind {
	case Go, "xla":
		return kind, config, nil
	}
	return "", "", fmt.Errorf("unknown backend %q: the choices are %s", name, Choices)
}

// NewGo returns SimpleGo, GoMLX's pure-Go backend, made fit for training: Reverse and Pad
// emulated (the gradients of convolutions and slices need them) and ConvGeneral's nil
// strides and dilations read as 1. config is a comma-separated list of SimpleGo options
// (parallelism=N, ops_sequential, ops_parallel, dotgeneral_small, dotgeneral_large);
// unless it names ops_sequential or ops_parallel, ops_sequential is added: SimpleGo's
// default, parallel scheduling of ops when one graph runs at a time, deadlocks on 2 vCPUs
// and has a data race (go test -race) in v0.26.0. Each matmul still uses every core.
func NewGo(config string) (backends.Backend, error) {
	b, err := simplego.New(goConfig(config))
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", strings.TrimSuffix(Go+":"+config, ":"), err)
	}
	return &fixedBackend{Backend: b}, nil
}

// goConfig adds ops_sequential to a SimpleGo configuration that doesn't choose how ops
// are scheduled.
func goConfig(config string) string {
	opts := strings.Split(config, ",")
	if slices.Contains(opts, "ops_sequential") || slices.Contains(opts, "ops_parallel") {
		return config
	}
	if strings.TrimSpace(config) == "" {
		return "ops_sequential"
	}
	return config + ",ops_sequential"
}

// oneLine joins a multi-line error message so that the notice stays one log line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
