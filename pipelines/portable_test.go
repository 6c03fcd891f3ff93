package pipelines

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The submission path of Dataflow and Flink, tested here: the pretext binary
// submits to Beam's prism running as a standalone job server through the
// portable job API (--runner=universal), its workers start in-process
// (LOOPBACK) or through the Go SDK container's boot program as a worker pool
// (EXTERNAL, how a cluster starts them), and every shard and manifest must be
// byte-identical to the in-process run's. scripts/portable-test.sh does the
// work; it exits 77, and this test skips, only when it cannot start here.
func TestPortableRunner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testBudget(t, 10*time.Minute))
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repo, "scripts", "portable-test.sh"))
	cmd.Env = append(os.Environ(), "PRETEXT_PORTABLE_WORK="+t.TempDir(), "PRETEXT_BIN_DIR="+binDir(t))
	// On timeout the script gets SIGTERM and stops the servers it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		t.Log("\n" + out.String())
	case errors.As(err, &exit) && exit.ExitCode() == 77:
		t.Skip(lastLine(out.String(), "portable-test: SKIP: "))
	default:
		t.Fatalf("scripts/portable-test.sh: %v\n%s", err, out.String())
	}
}

// A Dataflow job is built from the quickstart config and printed, without
// contacting Google: Beam's --dry_run. The job must carry the project, the
// staging and temp locations, the custom container and the staged worker
// binary, and the launcher must exit 0.
func TestDataflowDryRun(t *testing.T) {
	bin := pretextBinary(t)
	tmp := t.TempDir()
	const (
		project = "pretext-test"
		bucket  = "gs://pretext-test-bucket"
		image   = "europe-west4-docker.pkg.dev/pretext-test/pretext/worker:test"
		account = "pretext-worker@pretext-test.iam.gserviceaccount.com"
	)
	images, err := filepath.Abs(filepath.Join(repo, "testdata", "images"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", filepath.Join(repo, "configs", "quickstart.yaml"),
		"--input", images+"/**", "--output", filepath.Join(tmp, "out"),
		"--runner=dataflow", "--project="+project, "--region=europe-west4",
		"--staging_location="+bucket+"/staging", "--temp_location="+bucket+"/temp",
		"--sdk_container_image="+image, "--worker_binary="+bin, "--allow_local_paths",
		"--service_account_email="+account, "--max_num_workers=20", "--job_name=pretext-quickstart",
		"--dry_run", "--verbose")
	// Credentials that cannot load: nothing may reach Google, whatever this
	// machine is configured with.
	cmd.Env = append(os.Environ(), "GOOGLE_APPLICATION_CREDENTIALS="+filepath.Join(tmp, "no-credentials.json"), "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	job, ok := dryRunJob(stderr.String())
	if !ok {
		t.Fatalf("no Dataflow job printed (%v)\nstdout:\n%s\nstderr:\n%s", runErr, stdout.String(), tail(stderr.String(), 3000))
	}
	if job.ProjectID != project || job.Name != "pretext-quickstart" || job.Type != "JOB_TYPE_BATCH" {
		t.Errorf("job %q in %q of type %s", job.Name, job.ProjectID, job.Type)
	}
	env := job.Environment
	if env.TempStoragePrefix != bucket+"/temp" || env.ServiceAccountEmail != account {
		t.Errorf("temp %q, service account %q", env.TempStoragePrefix, env.ServiceAccountEmail)
	}
	if !slices.Contains(env.Experiments, "use_runner_v2") {
		t.Errorf("experiments %v: want Runner v2, which the Go SDK needs", env.Experiments)
	}
	if len(env.WorkerPools) != 1 {
		t.Fatalf("%d worker pools", len(env.WorkerPools))
	}
	pool := env.WorkerPools[0]
	if len(pool.SDKImages) != 1 || pool.SDKImages[0].Image != image {
		t.Errorf("SDK containers %+v; want %s", pool.SDKImages, image)
	}
	if pool.Autoscaling.MaxNumWorkers != 20 {
		t.Errorf("max workers %d", pool.Autoscaling.MaxNumWorkers)
	}
	if len(pool.Packages) != 1 || pool.Packages[0].Name != "worker" || !strings.HasPrefix(pool.Packages[0].Location, bucket+"/staging/") {
		t.Errorf("packages %+v; want the worker binary under %s/staging/", pool.Packages, bucket)
	}
	for _, step := range []string{"pipelines.Vision", "beamsink.Finalize"} {
		if !strings.Contains(stderr.String(), step) {
			t.Errorf("the pipeline printed lacks %s", step)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(tmp, "out")); len(entries) > 0 {
		t.Errorf("a dry run wrote to the output folder: %d entries", len(entries))
	}
	if runErr != nil {
		t.Errorf("pretext exited with %v after printing the job; a dry run must exit 0:\n%s", runErr, tail(stderr.String(), 400))
	}
}

// dataflowJob is the part of a Dataflow job (the v1b3 API's Job) checked here.
type dataflowJob struct {
	Name        string `json:"name"`
	ProjectID   string `json:"projectId"`
	Type        string `json:"type"`
	Environment struct {
		Experiments         []string `json:"experiments"`
		ServiceAccountEmail string   `json:"serviceAccountEmail"`
		TempStoragePrefix   string   `json:"tempStoragePrefix"`
		WorkerPools         []struct {
			Autoscaling struct {
				MaxNumWorkers int `json:"maxNumWorkers"`
			} `json:"autoscalingSettings"`
			Packages []struct {
				Name     string `json:"name"`
				Location string `json:"location"`
			} `json:"packages"`
			SDKImages []struct {
				Image string `json:"containerImage"`
			} `json:"sdkHarnessContainerImages"`
		} `json:"workerPools"`
	} `json:"environment"`
}

// dryRunJob finds the job that Beam's dry run logs (a JSON object as the
// message of one log line) in a run's stderr.
func dryRunJob(stderr string) (dataflowJob, bool) {
	for _, line := range strings.Split(stderr, "\n") {
		_, rest, ok := strings.Cut(line, ` msg="{`)
		if !ok {
			continue
		}
		quoted, err := strconv.QuotedPrefix(`"{` + rest)
		if err != nil {
			continue
		}
		msg, err := strconv.Unquote(quoted)
		if err != nil {
			continue
		}
		var job dataflowJob
		if json.Unmarshal([]byte(msg), &job) == nil && job.ProjectID != "" {
			return job, true
		}
	}
	return dataflowJob{}, false
}

// binDir is where the tests build binaries: the repository's bin/, which git
// ignores, so that go build reuses an up-to-date binary.
func binDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(repo, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

var buildPretext = sync.OnceValues(func() ([]byte, error) {
	cmd := exec.Command("go", "build", "-o", filepath.Join("bin", "pretext"), "./cmd/pretext")
	cmd.Dir = repo
	return cmd.CombinedOutput()
})

// pretextBinary builds cmd/pretext once per test process.
func pretextBinary(t *testing.T) string {
	t.Helper()
	if out, err := buildPretext(); err != nil {
		t.Fatalf("go build ./cmd/pretext: %v\n%s", err, out)
	}
	return filepath.Join(binDir(t), "pretext")
}

// testBudget is what is left of the test binary's -timeout, less a margin
// for cleanup, at most limit.
func testBudget(t *testing.T, limit time.Duration) time.Duration {
	if deadline, ok := t.Deadline(); ok {
		if left := time.Until(deadline) - time.Minute; left < limit {
			return max(left, time.Second)
		}
	}
	return limit
}

func lastLine(out, prefix string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], prefix) {
			return lines[i]
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
