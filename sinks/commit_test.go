package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkValid fails unless dir holds a committed dataset that Verify passes
// and whose manifest has the given sha256.
func checkValid(t *testing.T, dir, manifestSum string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if manifestSum != "" && sumOf(data) != manifestSum {
		t.Errorf("%s: the manifest is not the one expected", dir)
	}
	_, problems, err := Verify(context.Background(), dir, denoiseFormat.Schema())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", dir, p)
	}
}

func manifestSumAt(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	return sumOf(data)
}

// A local rerun replaces the whole dataset folder: the new shards and
// manifest, nothing of the old one (a different num_shards leaves no stale
// shard), and nothing of the run in OUT/.pretext. Where the kernel exchanges
// folders atomically the swap is one step; where it cannot, the journaled
// swap ends the same.
func TestLocalRerunReplacesFolder(t *testing.T) {
	for _, atomic := range []bool{true, false} {
		t.Run(fmt.Sprintf("exchange=%v", atomic), func(t *testing.T) {
			if !atomic {
				noExchange(t)
			}
			root := t.TempDir()
			writeDataset(t, dataset(root, 5), testRows(50), 50)
			c := dataset(root, 2)
			c.RunID = "r2"
			rows := testRows(80)
			m := writeDataset(t, c, rows, 30)
			if got, want := folder(t, c.Dir), committedFolder(2); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("after the rerun the folder holds %v, want %v", got, want)
			}
			if m.Rows != int64(len(rows)) {
				t.Errorf("rows %d, want %d", m.Rows, len(rows))
			}
			checkValid(t, c.Dir, "")
			if left := folder(t, c.RunDir()); len(left) > 0 {
				t.Errorf("the run left %v in %s", left, c.RunDir())
			}
		})
	}
}

// noExchange makes the commit take the journaled swap for one test.
func noExchange(t *testing.T) {
	saved := exchange
	exchange = func(a, b string) error { return errNoExchange }
	t.Cleanup(func() { exchange = saved })
}

// A commit that stops at any point of the journaled swap (a crash: SIGKILL,
// a lost machine) leaves at worst a missing folder between the two renames;
// the next run's Recover completes the swap or rolls it back, and the
// folder holds a whole dataset, the old one or the new one, never a mix.
func TestInterruptedSwapRecovers(t *testing.T) {
	for _, tc := range []struct {
		crashAfter string
		want       string // "old" or "new" dataset after recovery
	}{{"journal", "old"}, {"old aside", "new"}, {"new in", "new"}} {
		t.Run(tc.crashAfter, func(t *testing.T) {
			noExchange(t)
			root := t.TempDir()
			first := dataset(root, 3)
			writeDataset(t, first, testRows(30), 30)
			oldSum := manifestSumAt(t, first.Dir)

			c := dataset(root, 2)
			c.RunID = "r2"
			staged, err := stage(t, c, bundleTemps(t, c, testRows(50), "gaussian"))
			if err != nil {
				t.Fatal(err)
			}
			crash := errors.New("crash")
			afterStep = func(step string) error {
				if step == tc.crashAfter {
					return crash
				}
				return nil
			}
			err = commitStaged(c, staged, 50, 50)
			afterStep = nil
			if !errors.Is(err, crash) {
				t.Fatalf("commit: %v, want the crash", err)
			}
			// Between the crash and the next run, a reader sees the old
			// dataset, the new one, or (after "old aside") no folder.
			if _, err := os.Stat(c.Dir); err == nil {
				checkValid(t, c.Dir, "")
			}
			did, err := Recover(context.Background(), root)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("recover: %q", did)
			switch tc.want {
			case "old":
				checkValid(t, c.Dir, oldSum)
				if got, want := folder(t, c.Dir), committedFolder(3); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("folder %v, want the old %v", got, want)
				}
			case "new":
				checkValid(t, c.Dir, "")
				if got, want := folder(t, c.Dir), committedFolder(2); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("folder %v, want the new %v", got, want)
				}
			}
			if left := folder(t, PretextDir(root)); len(left) > 0 {
				t.Errorf("recover left %v in %s", left, PretextDir(root))
			}
		})
	}
}

// A run that fails before its commit (here: its staging is all it wrote)
// leaves the previous dataset untouched; the next run's Recover removes the
// dead run's staging.
func TestRecoverRemovesDeadRuns(t *testing.T) {
	root := t.TempDir()
	first := dataset(root, 2)
	writeDataset(t, first, testRows(20), 20)
	sum := manifestSumAt(t, first.Dir)
	c := dataset(root, 2)
	c.RunID = "r2"
	bundleTemps(t, c, testRows(20), "gaussian") // a failed run's temporary files
	if left := folder(t, c.RunDir()); len(left) == 0 {
		t.Fatal("the failed run wrote no staging")
	}
	checkValid(t, first.Dir, sum)
	did, err := Recover(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(did, "\n"), "removed what run r2 left") {
		t.Errorf("recover said %q", did)
	}
	if _, err := os.Stat(c.RunDir()); !os.IsNotExist(err) {
		t.Errorf("%s survived recovery: %v", c.RunDir(), err)
	}
	checkValid(t, first.Dir, sum)
}

// A full disk fails the run; the previous dataset stays valid; once space
// is back, the next run removes the dead run's staging and commits without
// anyone deleting files by hand.
func TestFullDiskThenRerun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	disk.setBudget(1 << 40)
	c := dataset("", 2)
	c.Dir = "fulldisk://" + filepath.Join(dir, "denoise")
	writeDataset(t, c, testRows(40), 40)
	sum := manifestSumAt(t, filepath.Join(dir, "denoise"))

	c.RunID = "r2"
	staged, err := stage(t, c, bundleTemps(t, c, testRows(200), "gaussian"))
	if err != nil {
		t.Fatal(err)
	}
	_ = staged
	// The disk fills while the next attempt writes: the run dies.
	disk.setBudget(2000)
	c3 := c
	c3.RunID = "r3"
	w, err := NewWriter(ctx, c3.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for _, r := range testRows(200) {
		if werr = w.Add(ctx, r.Key, r, len(r.Input)); werr != nil {
			break
		}
	}
	if werr == nil {
		_, werr = w.Flush(ctx)
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("writing on a full disk: %v", werr)
	}
	checkValid(t, filepath.Join(dir, "denoise"), sum)
	disk.setBudget(1 << 40) // space is back
	if _, err := Recover(ctx, c.Root()); err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"r2", "r3"} {
		if left := folder(t, filepath.Join(dir, ".pretext", "runs", run)); len(left) > 0 {
			t.Errorf("run %s's staging survived: %v", run, left)
		}
	}
	c.RunID = "r4"
	m := writeDataset(t, c, testRows(60), 30)
	if m.Rows != 60 {
		t.Errorf("rerun: %d rows, want 60", m.Rows)
	}
	checkValid(t, filepath.Join(dir, "denoise"), "")
}

// One run holds an output folder: a second is refused with a message that
// names the first; a heartbeat keeps it; a released lease can be taken; a
// dead run's lease (no heartbeat for LeaseStale, or its process gone from
// this host) is taken over, the run that lost it knows, its fence refuses to
// commit and its removal leaves the new holder's lease. Locally, through
// Beam's filesystem (memfs), and on gs:// and s3:// through fakes of their
// APIs (lease_remote_test.go) that decide preconditions as the stores do.
func TestLease(t *testing.T) {
	for _, tc := range []struct{ name, root string }{
		{"local", t.TempDir()}, {"memfs", "memfs://lease-test/out"},
		{"gs", "gs://bucket/runs/out#1"}, {"s3", "s3://bucket/runs/out#1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tc.root
			objects := func() int { return -1 }
			if tc.name == "gs" || tc.name == "s3" {
				f, _ := remoteLeases(t, tc.name)
				objects = f.len
			}
			ctx := context.Background()
			first, err := AcquireLease(ctx, root, "run-1")
			if err != nil {
				t.Fatal(err)
			}
			_, err = AcquireLease(ctx, root, "run-2")
			var held *HeldError
			if !errors.As(err, &held) {
				t.Fatalf("second run: %v, want a HeldError", err)
			}
			host, _ := os.Hostname()
			for _, want := range []string{root, "run-1", host, fmt.Sprint(os.Getpid())} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not name %q", err, want)
				}
			}
			if err := CheckLease(ctx, root, "run-1"); err != nil {
				t.Errorf("fence of the holder: %v", err)
			}
			if err := CheckLease(ctx, root, "run-2"); err == nil {
				t.Error("fence let another run commit")
			}
			first.refresh(ctx) // a heartbeat: a new version, still run-1's
			if err := first.Lost(); err != nil {
				t.Errorf("a heartbeat lost the lease: %v", err)
			}
			if err := first.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if i, err := ReadLease(ctx, root); err != nil || i != nil {
				t.Fatalf("after release: %v, %v", i, err)
			}
			if n := objects(); n > 0 {
				t.Errorf("after release: %d objects", n)
			}
			second, err := AcquireLease(ctx, root, "run-2")
			if err != nil {
				t.Fatalf("after release: %v", err)
			}

			// run-2 dies: its heartbeat stops.
			close(second.stop)
			<-second.done
			forge(t, root, func(i *LeaseInfo) { i.Heartbeat = time.Now().Add(-LeaseStale - time.Second) })
			third, err := AcquireLease(ctx, root, "run-3")
			if err != nil {
				t.Fatalf("a stale lease was not taken over: %v", err)
			}
			if err := CheckLease(ctx, root, "run-2"); err == nil {
				t.Error("the run that lost its lease may still commit")
			}
			second.refresh(ctx)
			if second.Lost() == nil {
				t.Error("the run that lost its lease does not know it")
			}
			// A removal with the version run-2 last wrote leaves run-3's lease.
			store, _ := leaseStoreFor(ctx, root)
			if err := store.remove(ctx, LeasePath(root), second.version); !errors.Is(err, errLeaseChanged) {
				t.Errorf("removing a lease taken over: %v, want errLeaseChanged", err)
			}
			if i, err := ReadLease(ctx, root); err != nil || i == nil || i.RunID != "run-3" {
				t.Fatalf("after the old holder's removal: %v, %v", i, err)
			}

			// run-3's process is gone from this host (a fresh heartbeat).
			close(third.stop)
			<-third.done
			forge(t, root, func(i *LeaseInfo) { i.PID = deadPID(t) })
			fourth, err := AcquireLease(ctx, root, "run-4")
			if err != nil {
				t.Fatalf("the lease of a dead process was not taken over: %v", err)
			}
			if err := fourth.Release(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// forge rewrites the lease at root.
func forge(t *testing.T, root string, change func(*LeaseInfo)) {
	t.Helper()
	ctx := context.Background()
	store, err := leaseStoreFor(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	data, version, err := store.read(ctx, LeasePath(root))
	if err != nil {
		t.Fatal(err)
	}
	var i LeaseInfo
	if err := json.Unmarshal(data, &i); err != nil {
		t.Fatal(err)
	}
	change(&i)
	data, _ = json.Marshal(i)
	if err := store.replace(ctx, LeasePath(root), data, version); err != nil {
		t.Fatal(err)
	}
}

// deadPID is the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid
	p.Wait()
	return pid
}

// Two runs racing for a free folder: exactly one gets the lease.
func TestLeaseRace(t *testing.T) {
	root := t.TempDir()
	const n = 8
	got := make(chan *Lease, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			l, err := AcquireLease(context.Background(), root, fmt.Sprintf("run-%d", i))
			if err != nil {
				errs <- err
				return
			}
			got <- l
		}()
	}
	var held *HeldError
	for range n - 1 {
		if err := <-errs; !errors.As(err, &held) {
			t.Errorf("a losing run: %v, want a HeldError", err)
		}
	}
	(<-got).Release(context.Background())
}
