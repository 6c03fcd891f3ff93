package inspect

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/pretext-dev/pretext/configs"
	"github.com/pretext-dev/pretext/inspect/render"
	"github.com/pretext-dev/pretext/sinks"
	"github.com/pretext-dev/pretext/transforms"
)

// Options say what to inspect and against what.
type Options struct {
	// Dir is a run's output folder (one folder per task and _dead_letters)
	// or one dataset folder, on any Beam filesystem registered in the binary.
	Dir string
	// Task restricts a run folder to that task's dataset; for a dataset
	// folder without a manifest it names the task.
	Task string
	// Config is a run config (configs.Load) whose task sections override
	// the configs stored in the manifests; nil uses the stored ones.
	Config *configs.Config
	// ConfigName names Config in the report (its file).
	ConfigName string
	// Thresholds adds gates; nil adds none.
	Thresholds *Thresholds
	// VocabPath is the vocab.txt of mlm_nsp datasets, for [MASK] and [UNK]
	// ids and token strings. "" uses Config's text.vocab; a vocab whose
	// sha256 is not the manifest's vocab_sha256 is not used. Without one,
	// ids stand for tokens and the [MASK] id is inferred.
	VocabPath string
	// Sample is the number of rows per dataset kept for the HTML report's
	// contact sheets and text rows (the rows with the smallest key hashes);
	// 0 keeps none.
	Sample int
	// TempDir is where remote shards are staged ("" = os.TempDir()).
	TempDir string
}

// Report is the outcome of an inspection.
type Report struct {
	Dir string `json:"dir"`
	// Z is the number of standard errors share gates allow (see Bound).
	Z        float64    `json:"z"`
	Datasets []*Dataset `json:"datasets"`
	// Failures names every failed gate and integrity problem, one per line.
	Failures []string `json:"failures"`
	OK       bool     `json:"ok"`
}

// Dataset is the inspection of one dataset folder.
type Dataset struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
	Task string `json:"task"`
	// Status is "ok", "failed" (a gate failed or a problem was found) or
	// "incomplete" (no manifest).
	Status string `json:"status"`
	// Counts are the manifest's; nil for an incomplete dataset.
	Counts *Counts `json:"counts,omitempty"`
	// ConfigSource is where the intended values came from: "manifest", a
	// --config file, or "defaults".
	ConfigSource string `json:"config_source,omitempty"`
	// Problems are integrity problems: the folder does not match its manifest.
	Problems []string `json:"problems"`
	// Notes are facts about how it was measured that a reader should know.
	Notes []string `json:"notes,omitempty"`
	// Facts are the key statistics, in display order.
	Facts []Fact `json:"facts"`
	// Metrics are the measured values by name, for machines.
	Metrics    map[string]float64 `json:"metrics"`
	Gates      []Gate             `json:"gates"`
	Histograms []Histogram        `json:"histograms"`
	// SampleKeys are the rows shown in the HTML report.
	SampleKeys []string `json:"sample_keys,omitempty"`

	sheet     []render.SheetRow
	fragments []string
}

// Counts are a dataset's outcomes as its manifest states them.
type Counts struct {
	Inputs            int64            `json:"inputs"`
	Labeled           int64            `json:"labeled"`
	Filtered          map[string]int64 `json:"filtered"`
	DeadLetters       int64            `json:"dead_letters"`
	DeadLetterReasons map[string]int64 `json:"dead_letter_reasons"`
	Rows              int64            `json:"rows"`
	Shards            int              `json:"shards"`
	// RowsRead is the number of rows the statistics were computed from.
	RowsRead int64 `json:"rows_read"`
}

// Fact is one line of a dataset's summary.
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Histogram is counts over labelled buckets.
type Histogram struct {
	Title  string   `json:"title"`
	Labels []string `json:"labels"`
	Counts []int64  `json:"counts"`
}

func (d *Dataset) fact(name, format string, args ...any) {
	d.Facts = append(d.Facts, Fact{name, fmt.Sprintf(format, args...)})
}

func (d *Dataset) metric(name string, v float64) { d.Metrics[name] = v }

func (d *Dataset) gate(g Gate) { d.Gates = append(d.Gates, g) }

func (d *Dataset) note(format string, args ...any) {
	d.Notes = append(d.Notes, fmt.Sprintf(format, args...))
}

func (d *Dataset) hist(h Histogram) { d.Histograms = append(d.Histograms, h) }

// Run inspects opts.Dir: for each dataset it verifies the folder against
// its manifest, streams its rows once to measure the labels, and compares
// them with the intended values. The error is set only when the inspection
// itself cannot run (the folder cannot be listed, bad options); everything
// wrong with the data is in the report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if strings.TrimSpace(opts.Dir) == "" {
		return nil, errors.New("inspect: a folder is required")
	}
	if opts.Sample < 0 || opts.Sample > 256 {
		return nil, fmt.Errorf("inspect: sample must be in [0, 256] (got %d)", opts.Sample)
	}
	if opts.Config != nil {
		var errs []error
		for _, name := range opts.Config.TaskNames() {
			if err := opts.Config.Tasks[name].Validate("tasks." + name); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("inspect: %s: %w", opts.ConfigName, err)
		}
	}
	dir := opts.Dir
	if t := strings.TrimRight(dir, "/"); !strings.HasSuffix(t, ":") { // keep "memfs://" whole
		dir = t
	}
	fs, err := sinks.NewFS(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("inspect: %s: %w", dir, err)
	}
	defer fs.Close()
	targets, err := discover(ctx, fs, dir, opts.Task)
	if err != nil {
		return nil, err
	}
	in := &inspector{opts: opts, fs: fs}
	rep := &Report{Dir: dir, Z: Z, Failures: []string{}}
	for _, t := range targets {
		d, err := in.dataset(ctx, t)
		if err != nil {
			return nil, err
		}
		rep.Datasets = append(rep.Datasets, d)
	}
	for _, d := range rep.Datasets {
		// Each integrity problem is a failure of its own, named by what is
		// wrong; the integrity gate that sums them up is not repeated.
		for _, p := range d.Problems {
			rep.Failures = append(rep.Failures, d.Name+": integrity: "+p)
		}
		for _, g := range d.Gates {
			if !g.OK && g.Name != "integrity" {
				rep.Failures = append(rep.Failures, fmt.Sprintf("%s: %s: measured %s, expected %s", d.Name, g.Name, g.Measured, g.Expected))
			}
		}
	}
	rep.OK = len(rep.Failures) == 0
	return rep, nil
}

// target is a dataset folder to inspect.
type target struct{ name, dir string }

// discover finds the datasets of dir: dir itself when it holds a manifest
// or shards, else its subfolders that hold files (a run's output folder).
func discover(ctx context.Context, fs sinks.FS, dir, task string) ([]target, error) {
	list := func(pattern string) []string {
		found, err := fs.List(ctx, sinks.Join(dir, pattern))
		if err != nil {
			return nil
		}
		return found
	}
	base := path.Base(dir)
	if len(list(sinks.ManifestName)) > 0 || len(list("*.parquet")) > 0 {
		return []target{{base, dir}}, nil
	}
	names := map[string]bool{}
	for _, pattern := range []string{"*/*", "*/.staging-*/*"} {
		for _, f := range list(pattern) {
			rel := strings.TrimPrefix(f, dir+"/")
			if rel == f {
				continue
			}
			name, _, _ := strings.Cut(rel, "/")
			if name == sinks.DeadLetters || (name != "" && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")) {
				names[name] = true
			}
		}
	}
	if len(names) == 0 {
		if len(list("*")) > 0 {
			return []target{{base, dir}}, nil // files but no manifest: an incomplete dataset
		}
		return nil, configs.Mistake(fmt.Errorf("inspect: %s: no dataset found (no %s, no shards, no dataset folders)", dir, sinks.ManifestName))
	}
	var out []target
	for _, name := range sortedNames(names) {
		if task == "" || name == task {
			out = append(out, target{name, sinks.Join(dir, name)})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("inspect: %s has no dataset of task %s (it has %s)", dir, task, strings.Join(sortedNames(names), ", "))
	}
	return out, nil
}

// sortedNames sorts dataset names with _dead_letters last.
func sortedNames(set map[string]bool) []string {
	var out []string
	for n := range set {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i] == sinks.DeadLetters) != (out[j] == sinks.DeadLetters) {
			return out[j] == sinks.DeadLetters
		}
		return out[i] < out[j]
	})
	return out
}

// inspector holds what the datasets of one Run share.
type inspector struct {
	opts  Options
	fs    sinks.FS
	vocab *vocabInfo // loaded on first use
}

func (in *inspector) dataset(ctx context.Context, t target) (*Dataset, error) {
	d := &Dataset{Name: t.name, Dir: t.dir, Problems: []string{}, Facts: []Fact{}, Metrics: map[string]float64{}, Gates: []Gate{}, Histograms: []Histogram{}}
	d.Task = in.opts.Task
	if d.Task == "" {
		if _, ok := transforms.Lookup(t.name); ok || t.name == sinks.DeadLetters {
			d.Task = t.name
		}
	}
	// The manifest names the task whose schema the shards must have.
	var mismatch string
	switch m, err := sinks.ReadManifest(ctx, t.dir); {
	case err == nil:
		if in.opts.Task != "" && m.Task != in.opts.Task {
			mismatch = fmt.Sprintf("manifest: task %s, expected %s (--task)", m.Task, in.opts.Task)
		}
		d.Task = m.Task
	case !errors.Is(err, sinks.ErrIncomplete):
		// A manifest that does not decode fails this dataset, not the inspection.
		d.Status = "failed"
		d.Problems = append(d.Problems, err.Error())
		d.gate(Gate{Name: "integrity", OK: false, Measured: "the manifest does not decode", Expected: "a manifest as sinks writes it"})
		return d, nil
	}
	// The manifest and the folder's files are checked here, each shard as
	// the statistics read it (once), and the shards no statistic reads after.
	m, problems, err := sinks.VerifyManifest(ctx, t.dir)
	if err != nil {
		return nil, fmt.Errorf("inspect: %s: %w", t.dir, err)
	}
	if m == nil {
		d.Status = "incomplete"
		d.Problems = append(d.Problems, problems...)
		d.gate(Gate{Name: "complete", OK: false, Measured: "no " + sinks.ManifestName, Expected: "a manifest (written last, the commit point)"})
		return d, nil
	}
	if mismatch != "" {
		problems = append(problems, mismatch)
	}
	problems = append(problems, in.staging(ctx, t.dir, problems)...)
	d.Problems = append(d.Problems, problems...)
	d.Counts = &Counts{
		Inputs: m.Inputs, Labeled: m.Labeled, Filtered: m.Filtered, DeadLetters: m.DeadLetters,
		DeadLetterReasons: m.DeadLetterReasons, Rows: m.Rows, Shards: len(m.Shards),
	}
	var filtered int64
	for _, n := range m.Filtered {
		filtered += n
	}
	d.fact("rows", "%d in %d shards", m.Rows, len(m.Shards))
	d.fact("inputs", "%d = labeled %d + filtered %d + dead letters %d", m.Inputs, m.Labeled, filtered, m.DeadLetters)

	src := newSource(in.fs, t.dir, m, schemaOf(d.Task), in.opts.TempDir)
	if err := in.measure(ctx, d, m, src); err != nil {
		return nil, err
	}
	src.verifyRest(ctx)
	d.Problems = append(d.Problems, src.integrity...)
	if len(src.failed) > 0 {
		// A shard whose bytes are not the manifest's says nothing about the labels.
		d.note("statistics are computed from %d of %d shards: the others failed verification", len(src.shards)-len(src.failed), len(m.Shards))
	}
	d.Counts.RowsRead = src.rows
	d.Problems = append(d.Problems, src.problems...)
	in.common(d, m)

	d.Status = "ok"
	if len(d.Problems) > 0 {
		d.Status = "failed"
	}
	for _, g := range d.Gates {
		if !g.OK {
			d.Status = "failed"
		}
	}
	return d, nil
}

// staging finds files of an unfinished run in staging folders that a
// listing of the folder alone does not show (object stores have no folders).
func (in *inspector) staging(ctx context.Context, dir string, problems []string) []string {
	for _, p := range problems {
		if strings.HasPrefix(p, ".staging-") {
			return nil
		}
	}
	found, err := in.fs.List(ctx, sinks.Join(dir, ".staging-*/*"))
	if err != nil || len(found) == 0 {
		return nil
	}
	rel := strings.TrimPrefix(found[0], dir+"/")
	name, _, _ := strings.Cut(rel, "/")
	return []string{fmt.Sprintf("%s: staging folder left behind by an unfinished run (%d files)", name, len(found))}
}

func schemaOf(task string) *parquet.Schema {
	if task == sinks.DeadLetters {
		return sinks.DeadLetterFormat.Schema()
	}
	if t, ok := transforms.Lookup(task); ok {
		return t.Format.Schema()
	}
	return nil
}

// measure streams the dataset's rows through its task's statistics.
func (in *inspector) measure(ctx context.Context, d *Dataset, m *sinks.Manifest, src *source) error {
	if m.Task == sinks.DeadLetters {
		return deadLetters(ctx, d, m, src)
	}
	t, ok := transforms.Lookup(m.Task)
	if !ok {
		d.note("task %s is not known to this binary: only integrity is checked", m.Task)
		return nil
	}
	cfg, err := in.taskConfig(d, m, t)
	if err != nil {
		return err
	}
	return measureTask(ctx, in, d, m, src, cfg)
}

// common adds the gates every task dataset has: integrity, and the
// thresholds that apply to any dataset.
func (in *inspector) common(d *Dataset, m *sinks.Manifest) {
	integrity := Gate{Name: "integrity", OK: len(d.Problems) == 0, Expected: "shards, footers, schema and sums as the manifest says; no stray files"}
	if integrity.OK {
		integrity.Measured = fmt.Sprintf("%d shards verified", len(m.Shards))
	} else {
		integrity.Measured = fmt.Sprintf("%d problem(s)", len(d.Problems))
	}
	d.Gates = append([]Gate{integrity}, d.Gates...)
	th := in.opts.Thresholds
	if th == nil || m.Task == sinks.DeadLetters {
		return
	}
	if th.MaxDeadLetterShare != nil && m.Inputs > 0 {
		v := float64(m.DeadLetters) / float64(m.Inputs)
		d.gate(maxGate("dead-letter share", v, *th.MaxDeadLetterShare, fmt.Sprintf("%.4f (%d of %d inputs)", v, m.DeadLetters, m.Inputs)))
	}
	if th.MaxFilteredShare != nil && m.Inputs > 0 {
		var f int64
		for _, n := range m.Filtered {
			f += n
		}
		v := float64(f) / float64(m.Inputs)
		d.gate(maxGate("filtered share", v, *th.MaxFilteredShare, fmt.Sprintf("%.4f (%d of %d inputs)", v, f, m.Inputs)))
	}
	if th.MinRows != nil {
		d.gate(Gate{Name: "rows", OK: m.Rows >= *th.MinRows, Measured: fmt.Sprint(m.Rows), Expected: fmt.Sprintf(">= %d (--thresholds)", *th.MinRows)})
	}
}

// statsGate compares the label statistics in the manifest with those
// counted from the rows: the names counted, and every name of the manifest
// that starts with one of families (a kind no row has is counted 0).
func statsGate(d *Dataset, m *sinks.Manifest, counted map[string]int64, complete bool, families ...string) {
	statsGateOf(d, m.Stats, counted, complete, families...)
}

func statsGateOf(d *Dataset, manifest, counted map[string]int64, complete bool, families ...string) {
	if !complete {
		return // some shards were not read: the counts cannot agree
	}
	for k := range manifest {
		for _, f := range families {
			if _, ok := counted[k]; !ok && strings.HasPrefix(k, f) {
				counted[k] = 0
			}
		}
	}
	var bad examples
	for _, k := range sortedKeys(counted) {
		if manifest[k] != counted[k] {
			bad.add("%s: manifest %d, rows %d", k, manifest[k], counted[k])
		}
	}
	d.gate(zeroGate("manifest stats match rows", bad.n, int64(len(counted)), "every label statistic of the manifest equals the count from the rows", bad.list))
}
