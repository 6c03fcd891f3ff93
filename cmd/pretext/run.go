package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/pipelines"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// runFlags registers the run flags in fs and returns the command.
func runFlags(fs *flag.FlagSet) func(context.Context) error {
	config := fs.String("config", "", "YAML config file (required); see configs/")
	input := fs.String("input", "", "input file pattern; overrides the config's input (** matches across folders)")
	output := fs.String("output", "", "output folder; overrides the config's output")
	seed := fs.Int64("seed", 0, "seed of every random choice; overrides the config's seed")
	limit := fs.Int("limit", 0, "use only the first N inputs in path order; overrides the config's limit")
	dryRun := fs.Bool("dry-run", false, "validate the config, match the inputs, print the plan and write nothing")
	allowLocal := fs.Bool("allow_local_paths", false, "let a cluster runner (dataflow, flink, spark, universal without LOOPBACK) read and write local paths: for a folder every worker mounts at the same path")
	progress := fs.Duration("progress", 2*time.Second, "how often a local run prints progress (0 = never)")
	verbose := fs.Bool("verbose", false, "show the runner's informational logs")
	memProfile := fs.String("memprofile", "", "write a heap profile taken when the heap is largest to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (local runners) to this file")
	return func(ctx context.Context) error {
		if !*verbose && !runnerDryRun() {
			// A runner's dry run prints its job as a log line: keep it.
			quietRunnerLogs()
		}
		if *config == "" {
			return usageError("--config is required")
		}
		cfg, loadErr := configs.Load(*config)
		if _, statErr := os.Stat(*config); statErr != nil {
			return loadErr
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["input"] {
			cfg.Input = *input
		}
		if set["output"] {
			cfg.Output = *output
		}
		if set["seed"] {
			cfg.Seed = *seed
		}
		if set["limit"] {
			cfg.Limit = *limit
		}
		if err := errors.Join(unwrapJoined(loadErr), cfg.Validate()); err != nil {
			return configs.Mistake(fmt.Errorf("invalid config %s:\n%w", *config, indent(err)))
		}
		if _, elsewhere := workersElsewhere(); elsewhere && *allowLocal {
			// A worker resolves a relative path against its own working
			// folder: a shared mount is named from its root.
			for _, p := range []*string{&cfg.Input, &cfg.Output} {
				if !strings.Contains(*p, "://") {
					if abs, err := filepath.Abs(*p); err == nil {
						*p = abs
					}
				}
			}
		}
		plan, err := pipelines.NewPlan(ctx, cfg, newRunID())
		if err != nil {
			return err
		}
		// Before anything is written or submitted: a launch the runner
		// would refuse, or whose workers could not reach the paths, must
		// not cost the previous dataset its manifest.
		if err := checkLaunch(cfg, *allowLocal, !*dryRun); err != nil {
			return err
		}
		if *dryRun {
			return printPlan(ctx, cfg, plan)
		}
		if err := checkLocalInput(cfg); err != nil {
			return err
		}
		if *memProfile != "" {
			stop := profilePeakHeap(*memProfile)
			defer stop()
		}
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		return runPipeline(ctx, cfg, plan, *progress)
	}
}

func newRunID() string {
	var b [4]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// unwrapJoined strips Load's "config FILE: " prefix so that each bad field
// stands on its own line.
func unwrapJoined(err error) error {
	if err == nil {
		return nil
	}
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// indent puts each error of a joined error on its own indented line.
func indent(err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

func printPlan(ctx context.Context, cfg configs.Config, plan pipelines.Plan) error {
	m, err := pipelines.MatchFiles(ctx, cfg.Input, cfg.Output, cfg.Limit)
	if err != nil {
		return err
	}
	for _, w := range m.Warnings {
		fmt.Fprintln(os.Stderr, w)
	}
	refs := m.Refs
	fmt.Printf("dry run: nothing will be written\n")
	fmt.Printf("input   %s → %d files and %d dead letters at matching (prefix %q)\n", cfg.Input, len(refs), len(m.Dead), pipelines.FixedPrefix(cfg.Input))
	for i, r := range refs {
		if i == 5 {
			fmt.Printf("        … and %d more\n", len(refs)-5)
			break
		}
		fmt.Printf("        %s\n", r.Key)
	}
	fmt.Printf("seed    %d\n", cfg.Seed)
	fmt.Printf("image   resize %s to %d (%s), encoding %s, dedupe %v, max %d pixels\n",
		cfg.Image.Resize, cfg.Image.Size, cfg.Image.Filter, cfg.Image.Encoding, cfg.Image.Dedupe, cfg.Image.MaxPixels)
	for _, c := range plan.Commits {
		fmt.Printf("write   %s: %d shards, config %s\n", c.Dir, c.NumShards, short(c.ConfigHash))
	}
	if len(refs) == 0 && len(m.Dead) == 0 {
		return configs.Mistake(fmt.Errorf("no input matches %q", cfg.Input))
	}
	return nil
}

// checkLaunch refuses, in one line per problem, a launch that cannot work:
// a cluster runner without the flags it needs, or given local paths that
// its workers, on other machines, would not see (the job would fail, or
// write on the workers' disks, after billing), and a local output that is
// a file or cannot be written (checked only when write is set: a dry run
// writes nothing, not even the output folder).
// workersElsewhere reports the runner and whether its workers run outside
// this process (and possibly on other machines).
func workersElsewhere() (runner string, elsewhere bool) {
	runner = strings.ToLower(flagValue("runner"))
	switch runner {
	case "", "prism", "direct", "local":
		return runner, false
	case "flink", "spark", "universal", "portable":
		return runner, strings.ToUpper(flagValue("environment_type")) != "LOOPBACK"
	}
	return runner, true
}

func checkLaunch(cfg configs.Config, allowLocal, write bool) error {
	runner, cluster := workersElsewhere()
	var errs []error
	switch runner {
	case "dataflow":
		for _, f := range []struct{ name, example string }{
			{"project", "--project=my-project"},
			{"region", "--region=us-central1"},
			{"staging_location", "--staging_location=gs://bucket/staging"},
		} {
			if flagValue(f.name) == "" {
				errs = append(errs, fmt.Errorf("--runner=dataflow needs --%s (e.g. %s)", f.name, f.example))
			}
		}
	case "flink", "spark", "universal", "portable":
		if flagValue("endpoint") == "" {
			errs = append(errs, fmt.Errorf("--runner=%s needs --endpoint, the job server's host:port", runner))
		}
	}
	if cluster && !allowLocal {
		for _, p := range []struct{ flag, path string }{{"input", cfg.Input}, {"output", cfg.Output}} {
			if !strings.Contains(p.path, "://") {
				errs = append(errs, fmt.Errorf("--%s %s is a local path, which --runner=%s's workers do not see: use gs:// or s3:// (or --allow_local_paths for a folder every worker mounts)", p.flag, p.path, runner))
			}
		}
	}
	if write && !strings.Contains(cfg.Output, "://") {
		if err := checkWritable(cfg.Output); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return configs.Mistake(fmt.Errorf("cannot launch:\n%w", indent(errors.Join(errs...))))
}

// checkWritable makes sure a local output folder exists or can be made and
// takes a file, without touching anything in it.
func checkWritable(dir string) error {
	if info, err := os.Stat(dir); err == nil && !info.IsDir() {
		return fmt.Errorf("--output %s is a file, not a folder", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--output %s cannot be made: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".pretext-write-check-*")
	if err != nil {
		return fmt.Errorf("--output %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// flagValue is the value of a registered flag (Beam's included), or "".
func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// checkLocalInput refuses, before anything is written, a local input
// pattern that matches nothing or whose folder does not exist: the pipeline
// would otherwise start, and fail inside Beam with a trace. Remote patterns
// are listed by the job itself (listing a bucket of 100M objects from the
// launcher would cost what the job's own listing does).
func checkLocalInput(cfg configs.Config) error {
	if strings.Contains(cfg.Input, "://") {
		// A remote pattern is listed by the job; its shape is judged here.
		return pipelines.CheckPattern(cfg.Input)
	}
	if readsOwnDatasets(cfg) {
		return configs.Mistake(fmt.Errorf("the input pattern %q covers the output folder %q: the datasets this run replaces would be read as inputs", cfg.Input, cfg.Output))
	}
	found, err := pipelines.AnyLocalMatch(cfg.Input, cfg.Output)
	if err != nil {
		return configs.Mistake(err)
	}
	if found {
		return nil
	}
	hint := ""
	if info, err := os.Stat(cfg.Input); err == nil && info.IsDir() {
		hint = fmt.Sprintf(" (a folder: %s/** matches every file under it)", strings.TrimRight(cfg.Input, "/"))
	}
	return configs.Mistake(fmt.Errorf("no input matches %q%s", cfg.Input, hint))
}

// readsOwnDatasets reports whether a local input pattern starts at the
// output folder or inside one of the run's dataset folders (OUT/<task>,
// OUT/_dead_letters), whose files it would then read. The output inside
// the pattern is fine, matching leaves it out; so is a pattern elsewhere
// under the output (photos/** with --output .).
func readsOwnDatasets(cfg configs.Config) bool {
	if strings.Contains(cfg.Output, "://") {
		return false
	}
	in, err1 := filepath.Abs(pipelines.FixedPrefix(cfg.Input) + ".")
	out, err2 := filepath.Abs(cfg.Output)
	if err1 != nil || err2 != nil {
		return false
	}
	if in == out {
		return true
	}
	for _, name := range append(cfg.TaskNames(), sinks.DeadLetters) {
		ds := filepath.Join(out, name)
		if in == ds || strings.HasPrefix(in, ds+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// runnerDryRun reports whether Beam's --dry_run flag (the Dataflow runner's:
// build and print the job, submit nothing) is set.
func runnerDryRun() bool { return flagValue("dry_run") == "true" }

func runPipeline(ctx context.Context, cfg configs.Config, plan pipelines.Plan, every time.Duration) error {
	p, s := beam.NewPipelineWithRoot()
	pipelines.Build(s, cfg, plan)
	if runnerDryRun() {
		// Nothing runs, so nothing is prepared (old manifests stay) and no
		// manifest is read afterwards.
		if err := beamx.Run(ctx, p); err != nil {
			return fmt.Errorf("dry run: %w", err)
		}
		fmt.Fprintf(os.Stderr, "dry run: the %s job was built and printed, not submitted; nothing was written\n", flag.Lookup("runner").Value)
		return nil
	}
	hold, err := plan.Prepare(ctx)
	if err != nil {
		return err
	}
	for _, line := range hold.Recovered {
		fmt.Fprintf(os.Stderr, "recover  %s\n", line)
	}
	release := holdRelease(hold)
	defer release()
	if runner, elsewhere := workersElsewhere(); elsewhere {
		// A signal stops this launcher, not the job: its workers may still
		// write the staging and commit, so both stay.
		note := func() string {
			return fmt.Sprintf("the --runner=%s job may still be running (stop it with the runner's own tools); its staging and lease stay in %s until it ends, or until a later run takes over a lease without a heartbeat for %s; the datasets in %s change only when its commit swaps them in",
				runner, sinks.PretextDir(plan.Output), sinks.LeaseStale, plan.Output)
		}
		forceRelease.Store(&note)
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		if every <= 0 {
			<-stop
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "progress %s\n", progressLine(time.Since(start)))
			}
		}
	}()
	res, err := beamx.RunWithMetrics(ctx, p)
	close(stop)
	<-done
	if err != nil {
		return fmt.Errorf("pipeline failed: %w (%s)", err, release())
	}
	fmt.Fprintf(os.Stderr, "done     %s\n", progressLine(time.Since(start)))
	if res != nil {
		counters := res.Metrics().AllMetrics().Counters()
		sums := map[string]int64{}
		for _, c := range counters {
			sums[c.Key.Namespace+"."+c.Key.Name] += c.Result()
		}
		var names []string
		for n := range sums {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(os.Stderr, "counter  %s = %d\n", n, sums[n])
		}
	}
	for _, c := range plan.Commits {
		m, err := sinks.ReadManifest(ctx, c.Dir)
		if err != nil {
			return err
		}
		fmt.Printf("%-14s %6d rows in %d shards  inputs %d = labeled %d + filtered %d + dead letters %d  → %s\n",
			c.Name, m.Rows, len(m.Shards), m.Inputs, m.Labeled, m.Inputs-m.Labeled-m.DeadLetters, m.DeadLetters, c.ManifestPath())
	}
	return nil
}

func progressLine(elapsed time.Duration) string {
	l := &transforms.Live
	return fmt.Sprintf("%6.1fs  files %d  inputs done %d  rows %d  filtered %d  dead letters %d",
		elapsed.Seconds(), l.Matched.Load(), l.Inputs.Load(), l.Rows.Load(), l.Filtered.Load(), l.DeadLetters.Load())
}

// profilePeakHeap samples the heap every 500 ms and keeps, in file, the heap
// profile of the largest heap seen: where a run's memory goes.
func profilePeakHeap(file string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse <= peak {
					continue
				}
				peak = ms.HeapInuse
				if f, err := os.Create(file); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// quietRunnerLogs hides the runner's INFO logs: prism logs every job step,
// and a user wants progress and errors.
func quietRunnerLogs() {
	slog.SetDefault(slog.New(mutable{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})}))
}

// mutable drops every record once logsMuted is set: after a signal the
// runner logs the failure of the job it was told to cancel, which is no
// news; the run's one line says what happened.
type mutable struct{ slog.Handler }

var logsMuted atomic.Bool

func (m mutable) Enabled(ctx context.Context, l slog.Level) bool {
	return !logsMuted.Load() && m.Handler.Enabled(ctx, l)
}

func (m mutable) WithAttrs(a []slog.Attr) slog.Handler { return mutable{m.Handler.WithAttrs(a)} }
func (m mutable) WithGroup(g string) slog.Handler      { return mutable{m.Handler.WithGroup(g)} }

// holdRelease returns the function that releases the run's hold on its
// output, once, and says what the run leaves: called when the run ends, and
// by onSignal.
func holdRelease(hold *pipelines.Hold) func() string {
	var once sync.Once
	var outcome string
	release := func() string {
		once.Do(func() {
			ctx := context.Background()
			if err := hold.Release(ctx); err != nil {
				fmt.Fprintf(os.Stderr, "pretext run: releasing the output: %v\n", err)
			}
			outcome = hold.Outcome(ctx)
		})
		return outcome
	}
	forceRelease.Store(&release)
	return release
}

// forceRelease is the running run's release, for onSignal.
var forceRelease atomic.Pointer[func() string]
