package pipelines

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/container/tools"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	fnpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/fnexecution_v1"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal/runnerlib"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/pretext-dev/pretext/configs"
)

// The quickstart pipeline run by several worker processes, the way a
// cluster runs it: the stages of one job executed by separate OS processes
// that share the output folder and nothing else on disk, each with a
// TMPDIR and a working folder of its own, and every file of every task
// folder byte-identical to the in-process run's.
//
// Prism starts one SDK worker per environment of a pipeline, and never a
// second one for the same environment, so the test gives the pipeline
// several: every SDK transform goes to the environment numbered by the
// shuffles (GroupByKeys) upstream of it (byShuffles). Each stretch between
// two shuffles — where Dataflow may hand the work to another worker — then
// runs in a process of its own: the labelling that writes the staging files,
// the merge that reads them, the commit that publishes the shards are three
// processes. Every environment is EXTERNAL, served by a worker pool written
// here: for each worker prism asks for, the pool fetches the job's pipeline
// options from prism's provision service, as Beam's boot program does, and
// starts bin/pretext --worker=true as a fresh process. Where mount
// namespaces are available, each worker runs in one of its own, in which
// the temporary area holding the test (the launcher's TMPDIR, the
// in-process run, the other workers' folders) is an empty tmpfs with only
// the shared folder and the worker's own folder mounted back, and the
// repository (inputs, binary) is read-only.
//
// A tap on each worker's control stream records the bundles it completed
// and the transforms they ran: every worker must have completed bundles,
// and beamsink.Finalize must have run in processes that did not label.
//
// The run is launched like the in-process one (runVision, through a runner
// registered here that submits to an in-process prism job server). The
// unshared case reruns into the same folder with the labelling worker given
// an output folder of its own, as a cluster whose --output is a local path
// gives each worker its own disk: it must complete its bundles, another
// process must fail reading what it wrote, and the dataset of the first run
// must stay byte for byte.
func TestMultiProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBudget(t, 5*time.Minute))
	defer cancel()
	bin := pretextBinary(t)
	work := t.TempDir()
	// Workers run in folders of their own: the input is given absolute.
	images, err := filepath.Abs(filepath.Join(repo, "testdata", "images"))
	if err != nil {
		t.Fatal(err)
	}
	config := func(out string) configs.Config {
		cfg := quickstart(t, out)
		cfg.Input = images + "/**"
		return cfg
	}

	start := time.Now()
	ref := filepath.Join(work, "inprocess")
	runVision(t, "prism", config(ref))
	inProcess := time.Since(start)

	c := newCluster(ctx, t, bin, work)
	start = time.Now()
	out := filepath.Join(c.shared, "out")
	runVision(t, c.runner(), config(out))
	multi := time.Since(start)
	ws := c.finished()
	t.Logf("in-process run %.1fs; %d-process run %.1fs, %s:\n%s", inProcess.Seconds(), len(ws), multi.Seconds(), c.isolation, describe(ws))

	// Every task folder holds the same files with the same bytes.
	datasets := visibleEntries(t, ref)
	if got := visibleEntries(t, out); !slices.Equal(datasets, got) {
		t.Errorf("the output folder holds %v, the in-process run's %v", got, datasets)
	}
	for _, name := range datasets {
		want, got := treeBytes(t, filepath.Join(ref, name)), treeBytes(t, filepath.Join(out, name))
		if len(want) < 2 {
			t.Fatalf("%s: the in-process run wrote %d files; want a manifest and shards", name, len(want))
		}
		sameTree(t, name, want, got)
	}

	if len(ws) < 3 {
		t.Fatalf("%d worker processes; the quickstart's shuffles give at least 3", len(ws))
	}
	pids := map[int]bool{os.Getpid(): true}
	for _, w := range ws {
		if w.bundles == 0 || w.failed > 0 {
			t.Errorf("worker %s (pid %d) completed %d bundles, failed %d", w.env, w.pid, w.bundles, w.failed)
		}
		if pids[w.pid] {
			t.Errorf("worker %s: pid %d is the test's or another worker's", w.env, w.pid)
		}
		pids[w.pid] = true
		// Nothing a later stage reads may live on a worker's own disk.
		if left, err := os.ReadDir(w.tmp); err != nil || len(left) > 0 {
			t.Errorf("worker %s left %d files in its TMPDIR (%v)", w.env, len(left), err)
		}
	}
	labellers := ranScope(ws, "pipelines.labelImages")
	if len(labellers) == 0 {
		t.Fatal("no worker ran pipelines.labelImages")
	}
	finalizers := ranScope(ws, "beamsink.Finalize")
	for pid := range labellers {
		delete(finalizers, pid)
	}
	if len(finalizers) == 0 {
		t.Error("beamsink.Finalize ran only where the staging files were written")
	}

	t.Run("unshared output", func(t *testing.T) {
		if c.isolation != isolated {
			t.Skipf("a private output folder needs mount namespaces: %s", c.isolation)
		}
		// A rerun into the same folder, launched as runVision launches one.
		cfg := config(out)
		plan := mustPlan(t, cfg)
		hold, err := plan.Prepare(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p, s := beam.NewPipelineWithRoot()
		Vision(s, cfg, plan)
		c.reset()
		runErr := c.run(ctx, p, "pipelines.labelImages")
		ws := c.finished()
		t.Logf("%s\n%s", tail(fmt.Sprint(runErr), 300), describe(ws))
		if err := hold.Release(ctx); err != nil {
			t.Error(err)
		}
		if runErr == nil {
			t.Fatal("the run succeeded though the labelling worker's output folder was its own")
		}
		// The previous dataset is untouched.
		for _, name := range datasets {
			sameTree(t, name, treeBytes(t, filepath.Join(ref, name)), treeBytes(t, filepath.Join(out, name)))
		}
		failed := false
		for _, w := range ws {
			switch {
			case w.private && (w.bundles == 0 || w.failed > 0):
				t.Errorf("the labelling worker %s (pid %d) completed %d bundles, failed %d; want all its bundles done, into its own folder", w.env, w.pid, w.bundles, w.failed)
			case !w.private && w.failed > 0:
				failed = true // it could not read what the labelling worker wrote
			}
		}
		if !failed {
			t.Error("no worker but the labelling one failed a bundle")
		}
	})
}

// treeBytes reads every regular file under dir, by path relative to dir.
func treeBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameTree(t *testing.T, what string, want, got map[string][]byte) {
	t.Helper()
	for name, b := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: %s is missing", what, name)
		case !bytes.Equal(b, g):
			t.Errorf("%s: %s differs from the in-process run's (%d bytes, want %d)", what, name, len(g), len(b))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: %s is not in the in-process run's folder", what, name)
		}
	}
}

// visibleEntries lists a folder's entries, leaving out pretext's own
// (names starting with a dot).
func visibleEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}

// ranScope is the set of worker pids that completed a bundle running a
// transform inside scope.
func ranScope(ws []workerReport, scope string) map[int]bool {
	pids := map[int]bool{}
	for _, w := range ws {
		for _, name := range w.transforms {
			if strings.Contains("/"+name+"/", "/"+scope+"/") {
				pids[w.pid] = true
			}
		}
	}
	return pids
}

// describe is a table of the workers: environment, pid, bundles completed
// and the transforms they ran, by the last part of their names.
func describe(ws []workerReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %-5s %-8s %-7s %s\n", "env", "pid", "bundles", "transforms run")
	for _, w := range ws {
		var names []string
		for _, name := range w.transforms {
			if i := strings.LastIndex(name, "/"); i >= 0 {
				names = append(names, name[i+1:])
			}
		}
		note := ""
		if w.private {
			note = " (output folder of its own)"
		}
		fmt.Fprintf(&b, "  %-5s %-8d %-7s %s%s\n", w.env, w.pid, fmt.Sprintf("%d/%d", w.bundles, w.bundles+w.failed), strings.Join(names, " "), note)
	}
	return b.String()
}

// Isolation of the worker processes from each other and from the launcher.
const (
	isolated   = "each worker in a mount namespace of its own"
	tmpdirOnly = "own TMPDIR and folder per worker, no mount namespaces"
)

// Environment parameters the worker pool reads (ExternalPayload.params,
// passed on in StartWorkerRequest.params).
const (
	envParam     = "pretext_env"
	privateParam = "pretext_private_output"
)

// cluster is an in-process prism job server and a worker pool that starts
// every worker as an OS process of its own.
type cluster struct {
	t         *testing.T
	bin       string // the worker binary
	standIn   string // the empty file staged as the job's worker binary
	dir       string // the workers' folders
	shared    string // the folder every worker shares, which holds the outputs
	repo      string // read-only in a worker's view
	hide      string // the folder a worker sees empty but for the output and its own folder
	isolation string
	jobs      jobpb.JobServiceClient
	pool      string // the worker pool's address

	mu      sync.Mutex
	workers []*worker
}

// worker is one worker process and the tap on its control stream.
type worker struct {
	env, id, dir string
	private      bool // an output folder of its own
	cmd          *exec.Cmd
	done         chan struct{}
	tap          *controlTap
}

// workerReport is what a worker did: bundles completed and failed, and the
// unique names of the transforms of the completed ones.
type workerReport struct {
	env             string
	tmp             string // its TMPDIR
	pid             int
	private         bool
	bundles, failed int
	transforms      []string
}

var multiProcessRunners atomic.Int64

func newCluster(ctx context.Context, t *testing.T, bin, work string) *cluster {
	t.Helper()
	repo, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, bin: bin, standIn: filepath.Join(work, "worker-stand-in"), dir: filepath.Join(work, "workers"),
		shared: filepath.Join(work, "shared"), repo: repo}
	for _, d := range []string{c.dir, c.shared} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(c.standIn, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.hide = hiddenRoot(work, repo)
	c.isolation = c.probe(work)
	if c.jobs, err = prism.CreateJobServer(ctx, prism.Options{}); err != nil {
		t.Fatalf("prism job server: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	fnpb.RegisterBeamFnExternalWorkerPoolServer(srv, &workerPool{c: c})
	go srv.Serve(lis)
	c.pool = lis.Addr().String()
	t.Cleanup(func() {
		srv.Stop()
		c.stopAll()
	})
	return c
}

// hiddenRoot is the highest folder above work (work included, / excluded)
// that does not hold the repository, whose inputs and binary the workers read.
func hiddenRoot(work, repo string) string {
	hide := ""
	for d := work; d != filepath.Dir(d); d = filepath.Dir(d) {
		if repo == d || strings.HasPrefix(repo, d+string(filepath.Separator)) {
			break
		}
		hide = d
	}
	return hide
}

// isolateScript runs in a fresh mount namespace (unshare --mount): it makes
// the repository read-only, covers the hidden folder with an empty tmpfs,
// then mounts back the worker's own folder and, unless it is given as "",
// the shared folder (both opened before they were covered), and runs the
// worker. Arguments: hidden folder, shared folder or "", own folder,
// repository, then the command.
const isolateScript = `set -e
hide=$1 shared=$2 own=$3 ro=$4
shift 4
exec 3<"$own"
[ -z "$shared" ] || exec 4<"$shared"
mount --bind "$ro" "$ro"
mount -o remount,bind,ro "$ro"
mount -t tmpfs pretext-private "$hide"
mkdir -p "$own"
mount --no-canonicalize --bind /proc/self/fd/3 "$own"
if [ -n "$shared" ]; then
	mkdir -p "$shared"
	mount --no-canonicalize --bind /proc/self/fd/4 "$shared"
fi
exec 3<&- 4<&-
exec "$@"
`

// command starts argv as a worker would be started: in a mount namespace
// of its own where possible.
func (c *cluster) command(isolate bool, shared, own string, argv ...string) *exec.Cmd {
	if !isolate {
		return exec.Command(argv[0], argv[1:]...)
	}
	var args []string
	if os.Geteuid() != 0 {
		// Mounting needs a user namespace in which the worker is root.
		args = append(args, "--user", "--map-root-user")
	}
	args = append(args, "--mount", "--propagation", "private", "--", "sh", "-c", isolateScript, "isolate", c.hide, shared, own, c.repo)
	return exec.Command("unshare", append(args, argv...)...)
}

// probe says whether a worker's view can be confined: a file beside the
// shared folder must be hidden, the shared folder and the worker's own
// visible, the repository read-only.
func (c *cluster) probe(work string) string {
	if c.hide == "" {
		return tmpdirOnly + " (the test's folder is the repository)"
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return tmpdirOnly + " (no unshare)"
	}
	own := filepath.Join(c.dir, "probe")
	secret := filepath.Join(work, "probe-secret")
	ok := filepath.Join(c.shared, "probe-ok")
	if err := os.Mkdir(own, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(secret, nil, 0o644); err != nil {
		c.t.Fatal(err)
	}
	defer os.Remove(ok)
	defer os.RemoveAll(own)
	defer os.Remove(secret)
	cmd := c.command(true, c.shared, own, "sh", "-c",
		`test -d "$1" && test ! -e "$2" && test ! -w "$3" && touch "$4/ok" && touch "$5"`,
		"probe", own, secret, c.repo, own, ok)
	msg, err := cmd.CombinedOutput()
	_, okErr := os.Stat(ok)
	_, ownErr := os.Stat(filepath.Join(own, "ok"))
	if err != nil || okErr != nil || ownErr != nil {
		return fmt.Sprintf("%s (mount namespaces unavailable: %v %s)", tmpdirOnly, err, strings.TrimSpace(string(msg)))
	}
	return isolated
}

// runner registers a Beam runner that submits to the cluster and returns
// its name, so that runVision launches the job as it launches the
// in-process one.
func (c *cluster) runner() string {
	name := "pretext-multiprocess-" + strconv.FormatInt(multiProcessRunners.Add(1), 10)
	beam.RegisterRunner(name, func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		return nil, c.run(ctx, p, "")
	})
	return name
}

// run submits p to the job server as runnerlib.Execute does, with its SDK
// transforms spread over environments by byShuffles, and waits for the job.
// The environment that runs a transform of privateScope gets an output
// folder of its own.
func (c *cluster) run(ctx context.Context, p *beam.Pipeline, privateScope string) error {
	edges, _, err := p.Build()
	if err != nil {
		return err
	}
	env, err := graphx.CreateEnvironment(ctx, graphx.URNEnvExternal, func(context.Context) string { return c.pool })
	if err != nil {
		return err
	}
	pb, err := graphx.Marshal(edges, &graphx.Options{Environment: env})
	if err != nil {
		return err
	}
	// The pool runs c.bin itself; the job stages an empty stand-in, as
	// Beam's LOOPBACK launch does. (scripts/portable-test.sh stages the
	// binary and has boot fetch it.)
	if err := runnerlib.UpdateGoEnvironmentWorker(c.standIn, pb); err != nil {
		return err
	}
	if err := byShuffles(pb, c.pool, privateScope); err != nil {
		return err
	}
	opt := &runnerlib.JobOptions{Name: "pretext-multiprocess"}
	id, endpoint, token, err := runnerlib.Prepare(ctx, c.jobs, pb, opt)
	if err != nil {
		return err
	}
	if token, err = runnerlib.Stage(ctx, id, endpoint, c.standIn, token); err != nil {
		return err
	}
	jobID, err := runnerlib.Submit(ctx, c.jobs, id, token)
	if err != nil {
		return err
	}
	return runnerlib.WaitForCompletion(ctx, c.jobs, jobID)
}

// byShuffles gives every SDK transform of p the environment numbered by the
// shuffles (GroupByKeys) upstream of its inputs: "go" before the first,
// "go-1" after one, and so on, each an EXTERNAL environment served by the
// worker pool at pool. Prism cannot fuse transforms of different
// environments, and starts one worker per environment, so each stretch
// between two shuffles runs in a worker process of its own.
func byShuffles(p *pipepb.Pipeline, pool, privateScope string) error {
	comps := p.GetComponents()
	ts := comps.GetTransforms()
	producer := map[string]*pipepb.PTransform{}
	for _, t := range ts {
		if len(t.GetSubtransforms()) > 0 {
			continue
		}
		for _, pc := range t.GetOutputs() {
			producer[pc] = t
		}
	}
	shuffles := map[string]int{}
	var upstream func(pc string) int
	upstream = func(pc string) int {
		if n, ok := shuffles[pc]; ok {
			return n
		}
		t := producer[pc]
		n := 0
		for _, in := range t.GetInputs() {
			n = max(n, upstream(in))
		}
		if t.GetSpec().GetUrn() == graphx.URNGBK {
			n++
		}
		shuffles[pc] = n
		return n
	}
	base, ok := comps.GetEnvironments()["go"]
	if !ok {
		return errors.New("no Go environment in the pipeline")
	}
	private := map[string]bool{}
	for _, t := range ts {
		if t.GetEnvironmentId() != "go" {
			continue
		}
		n := 0
		for _, in := range t.GetInputs() {
			n = max(n, upstream(in))
		}
		if n > 0 {
			t.EnvironmentId = "go-" + strconv.Itoa(n)
		}
		if privateScope != "" && len(t.GetSubtransforms()) == 0 && strings.Contains("/"+t.GetUniqueName()+"/", "/"+privateScope+"/") {
			private[t.GetEnvironmentId()] = true
		}
	}
	if privateScope != "" && len(private) == 0 {
		return fmt.Errorf("no transform in scope %s", privateScope)
	}
	used := map[string]bool{}
	for _, t := range ts {
		if id := t.GetEnvironmentId(); id != "" {
			used[id] = true
		}
	}
	for id := range used {
		env := proto.Clone(base).(*pipepb.Environment)
		params := map[string]string{envParam: id}
		if private[id] {
			params[privateParam] = "true"
		}
		env.Payload, _ = proto.Marshal(&pipepb.ExternalPayload{Endpoint: &pipepb.ApiServiceDescriptor{Url: pool}, Params: params})
		comps.GetEnvironments()[id] = env
	}
	if !used["go"] {
		delete(comps.GetEnvironments(), "go")
	}
	return nil
}

// reset forgets the workers of an earlier job.
func (c *cluster) reset() {
	c.stopAll()
	c.mu.Lock()
	c.workers = nil
	c.mu.Unlock()
}

// finished reports on every worker of the job, by environment.
func (c *cluster) finished() []workerReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rs []workerReport
	for _, w := range c.workers {
		r := workerReport{env: w.env, tmp: filepath.Join(w.dir, "tmp"), pid: w.cmd.Process.Pid, private: w.private}
		r.bundles, r.failed, r.transforms = w.tap.report()
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return envOrder(rs[i].env) < envOrder(rs[j].env) })
	return rs
}

// envOrder is the number of shuffles before an environment's transforms.
func envOrder(env string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(env, "go-"))
	return n
}

func (c *cluster) stopAll() {
	c.mu.Lock()
	ws := slices.Clone(c.workers)
	c.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
}

func (w *worker) stop() {
	w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
	w.tap.stop()
}

// workerPool is Beam's ExternalWorkerPool service: prism calls StartWorker
// once per environment when a job starts and StopWorker when it ends.
type workerPool struct {
	fnpb.UnimplementedBeamFnExternalWorkerPoolServer
	c *cluster
}

func (p *workerPool) StartWorker(_ context.Context, req *fnpb.StartWorkerRequest) (*fnpb.StartWorkerResponse, error) {
	w, err := p.c.start(req)
	if err != nil {
		p.c.t.Logf("worker pool: %v", err)
		return &fnpb.StartWorkerResponse{Error: err.Error()}, nil
	}
	p.c.mu.Lock()
	p.c.workers = append(p.c.workers, w)
	p.c.mu.Unlock()
	return &fnpb.StartWorkerResponse{}, nil
}

func (p *workerPool) StopWorker(_ context.Context, req *fnpb.StopWorkerRequest) (*fnpb.StopWorkerResponse, error) {
	p.c.mu.Lock()
	ws := slices.Clone(p.c.workers)
	p.c.mu.Unlock()
	for _, w := range ws {
		if w.id == req.GetWorkerId() {
			w.stop()
		}
	}
	return &fnpb.StopWorkerResponse{}, nil
}

// start starts the worker req asks for as the boot program would start it
// (flags, pipeline options file, runner capabilities), in a folder of its
// own that is also its TMPDIR's parent and its working directory.
func (c *cluster) start(req *fnpb.StartWorkerRequest) (*worker, error) {
	id := req.GetWorkerId()
	env := req.GetParams()[envParam]
	dir, err := os.MkdirTemp(c.dir, env+"-")
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(grpcx.WriteWorkerID(context.Background(), id), time.Minute)
	defer cancel()
	info, err := tools.ProvisionInfo(ctx, req.GetProvisionEndpoint().GetUrl())
	if err != nil {
		return nil, fmt.Errorf("provision info of %s: %w", id, err)
	}
	opts, err := tools.ProtoToJSON(info.GetPipelineOptions())
	if err != nil {
		return nil, err
	}
	optsFile := filepath.Join(dir, "pipeline_options.json")
	if err := os.WriteFile(optsFile, []byte(opts), 0o644); err != nil {
		return nil, err
	}
	tap, err := startTap(id, env, req.GetControlEndpoint().GetUrl())
	if err != nil {
		return nil, err
	}
	private := req.GetParams()[privateParam] != ""
	shared := c.shared
	if private {
		shared = ""
	}
	cmd := c.command(c.isolation == isolated, shared, dir, c.bin, "--worker=true", "--id="+id,
		"--logging_endpoint="+req.GetLoggingEndpoint().GetUrl(), "--control_endpoint="+tap.addr,
		"--semi_persist_dir="+dir)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "PIPELINE_OPTIONS_FILE="+optsFile,
		"RUNNER_CAPABILITIES="+strings.Join(info.GetRunnerCapabilities(), " "))
	if s := info.GetStatusEndpoint().GetUrl(); s != "" {
		cmd.Env = append(cmd.Env, "STATUS_ENDPOINT="+s)
	}
	log, err := os.Create(filepath.Join(dir, "worker.log"))
	if err != nil {
		tap.stop()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		tap.stop()
		return nil, err
	}
	w := &worker{env: env, id: id, dir: dir, private: private, cmd: cmd, done: make(chan struct{}), tap: tap}
	go func() {
		cmd.Wait()
		log.Close()
		close(w.done)
	}()
	return w, nil
}

// controlTap relays one worker's control stream to prism and back,
// recording which bundles the worker completed and what they ran. Data and
// state do not pass through it: the worker reaches prism for those at the
// addresses in the bundle descriptors.
type controlTap struct {
	fnpb.UnimplementedBeamFnControlServer
	id, env  string
	addr     string
	upstream *grpc.ClientConn
	srv      *grpc.Server

	mu          sync.Mutex
	descriptors map[string][]string // descriptor id → unique names of its transforms
	pending     map[string]string   // instruction id → descriptor id
	done        map[string]int      // descriptor id → bundles completed
	failed      int
}

func startTap(id, env, control string) (*controlTap, error) {
	conn, err := grpc.NewClient(control, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		conn.Close()
		return nil, err
	}
	tap := &controlTap{id: id, env: env, addr: lis.Addr().String(), upstream: conn,
		srv:         grpc.NewServer(grpc.MaxRecvMsgSize(math.MaxInt32), grpc.MaxSendMsgSize(math.MaxInt32)),
		descriptors: map[string][]string{}, pending: map[string]string{}, done: map[string]int{}}
	fnpb.RegisterBeamFnControlServer(tap.srv, tap)
	go tap.srv.Serve(lis)
	return tap, nil
}

func (tap *controlTap) stop() {
	tap.srv.Stop()
	tap.upstream.Close()
}

func (tap *controlTap) Control(down fnpb.BeamFnControl_ControlServer) error {
	ctx, cancel := context.WithCancel(grpcx.WriteWorkerID(down.Context(), tap.id))
	defer cancel()
	up, err := fnpb.NewBeamFnControlClient(tap.upstream).Control(ctx)
	if err != nil {
		return err
	}
	go func() {
		for {
			resp, err := down.Recv()
			if err != nil {
				cancel()
				return
			}
			tap.sawResponse(resp)
			tap.prefixShortIDs(resp)
			if up.Send(resp) != nil {
				return
			}
		}
	}()
	for {
		req, err := up.Recv()
		if err != nil {
			return nil
		}
		tap.sawRequest(req)
		tap.unprefixShortIDs(req)
		if err := down.Send(req); err != nil {
			return err
		}
	}
}

func (tap *controlTap) GetProcessBundleDescriptor(ctx context.Context, req *fnpb.GetProcessBundleDescriptorRequest) (*fnpb.ProcessBundleDescriptor, error) {
	d, err := fnpb.NewBeamFnControlClient(tap.upstream).GetProcessBundleDescriptor(grpcx.WriteWorkerID(ctx, tap.id), req)
	if err == nil {
		tap.sawDescriptor(d)
	}
	return d, err
}

func (tap *controlTap) sawDescriptor(d *fnpb.ProcessBundleDescriptor) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	var names []string
	for _, t := range d.GetTransforms() {
		names = append(names, t.GetUniqueName())
	}
	tap.descriptors[d.GetId()] = names
}

// Prism 2.77 keeps one table of monitoring short ids per job, but each SDK
// worker numbers its metrics from 1: with two workers, one's id names
// another's metric, and prism panics decoding a sum as a distribution. The
// tap gives each worker's short ids its environment as a prefix, and takes
// it off again in prism's requests for their metadata.
func (tap *controlTap) prefixShortIDs(resp *fnpb.InstructionResponse) {
	prefix := func(m map[string][]byte) map[string][]byte {
		out := make(map[string][]byte, len(m))
		for id, b := range m {
			out[tap.env+":"+id] = b
		}
		return out
	}
	if pb := resp.GetProcessBundle(); pb != nil {
		pb.MonitoringData = prefix(pb.GetMonitoringData())
	}
	if p := resp.GetProcessBundleProgress(); p != nil {
		p.MonitoringData = prefix(p.GetMonitoringData())
	}
	if mi := resp.GetMonitoringInfos(); mi != nil {
		out := make(map[string]*pipepb.MonitoringInfo, len(mi.GetMonitoringInfo()))
		for id, info := range mi.GetMonitoringInfo() {
			out[tap.env+":"+id] = info
		}
		mi.MonitoringInfo = out
	}
}

func (tap *controlTap) unprefixShortIDs(req *fnpb.InstructionRequest) {
	if mi := req.GetMonitoringInfos(); mi != nil {
		for i, id := range mi.GetMonitoringInfoId() {
			mi.MonitoringInfoId[i] = strings.TrimPrefix(id, tap.env+":")
		}
	}
}

func (tap *controlTap) sawRequest(req *fnpb.InstructionRequest) {
	for _, d := range req.GetRegister().GetProcessBundleDescriptor() {
		tap.sawDescriptor(d)
	}
	if pb := req.GetProcessBundle(); pb != nil {
		tap.mu.Lock()
		tap.pending[req.GetInstructionId()] = pb.GetProcessBundleDescriptorId()
		tap.mu.Unlock()
	}
}

func (tap *controlTap) sawResponse(resp *fnpb.InstructionResponse) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	d, ok := tap.pending[resp.GetInstructionId()]
	if !ok || resp.GetProcessBundle() == nil && resp.GetError() == "" {
		return
	}
	delete(tap.pending, resp.GetInstructionId())
	if resp.GetError() != "" {
		tap.failed++
		return
	}
	tap.done[d]++
}

// report is the number of bundles the worker completed and failed, and the
// transforms of the completed ones.
func (tap *controlTap) report() (bundles, failed int, transforms []string) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	seen := map[string]bool{}
	for d, n := range tap.done {
		bundles += n
		for _, name := range tap.descriptors[d] {
			if !seen[name] {
				seen[name] = true
				transforms = append(transforms, name)
			}
		}
	}
	sort.Strings(transforms)
	return bundles, tap.failed, transforms
}
