package sinks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// One run writes an output folder at a time. Before it writes anything,
// a run takes the folder's lease, OUT/.pretext/lease.json, which names it
// (run id, host, pid, start) and carries a heartbeat the run refreshes every
// LeaseHeartbeat. A second run finds the lease and stops with a message that
// names the first; a lease whose heartbeat is older than LeaseStale, or
// whose process is gone from this host, belongs to a dead run and is taken
// over. The commit of each dataset checks that the lease still names its run
// before it swaps anything in (a fence): a run whose lease was taken over
// never replaces the new holder's data.
//
// The heartbeat comes from the launching process (pretext run), which waits
// for the job on every runner pretext supports; on Dataflow the commit runs
// on a worker, where a pid says nothing, so staleness is judged by the
// heartbeat alone.

// LeaseName is the lease file's name in OUT/.pretext.
const LeaseName = "lease.json"

var (
	// LeaseHeartbeat is how often a run refreshes its lease.
	LeaseHeartbeat = 10 * time.Second
	// LeaseStale is how old a heartbeat must be for the lease to be taken over.
	LeaseStale = 2 * time.Minute
)

// LeaseInfo is what the lease file holds.
type LeaseInfo struct {
	RunID     string    `json:"run_id"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
}

// HeldError is the refusal of a run whose output folder another live run
// holds: a user's situation, not a failure (configs.Mistake wraps it).
type HeldError struct {
	Root string
	Info LeaseInfo
	Now  time.Time
}

func (e *HeldError) Error() string {
	i := e.Info
	return fmt.Sprintf("%s is being written by run %s (host %s, pid %d, started %s, last heartbeat %s ago): one run writes a folder at a time; wait for it to end, or use another --output (a lease without a heartbeat for %s is taken over)",
		e.Root, i.RunID, i.Host, i.PID, i.Started.UTC().Format("2006-01-02 15:04:05 UTC"), e.Now.Sub(i.Heartbeat).Round(time.Second), LeaseStale)
}

// LeasePath is OUT/.pretext/lease.json.
func LeasePath(root string) string { return Join(PretextDir(root), LeaseName) }

// leaseStore is where a lease lives: creation only where nothing is, and
// replacement or removal only of the version read (compare and swap), so
// that of two runs racing for a lease exactly one gets it.
type leaseStore interface {
	// create writes data at name unless something is there (errLeaseExists).
	create(ctx context.Context, name string, data []byte) error
	// read returns the data and its version; iofs.ErrNotExist if absent.
	read(ctx context.Context, name string) (data []byte, version string, err error)
	// replace writes data if name still has version (errLeaseChanged if not).
	replace(ctx context.Context, name string, data []byte, version string) error
	// remove removes name if it still has version (errLeaseChanged if not).
	remove(ctx context.Context, name, version string) error
}

var (
	errLeaseExists  = errors.New("lease exists")
	errLeaseChanged = errors.New("lease changed since it was read")
)

// leaseStoreFor returns the store of root's filesystem: local files under
// an flock; a registered conditional store for a scheme (newLeaseStores);
// otherwise Beam's filesystem, checking before writing (docs/reliability.md
// says where that leaves a window).
func leaseStoreFor(ctx context.Context, root string) (leaseStore, error) {
	if IsLocal(root) {
		return localLeases{}, nil
	}
	if scheme, _, ok := cutScheme(root); ok {
		if f := newLeaseStores[scheme]; f != nil {
			return f(ctx)
		}
	}
	return beamLeases{}, nil
}

// newLeaseStores holds stores with the object store's own preconditions,
// by URI scheme.
var newLeaseStores = map[string]func(context.Context) (leaseStore, error){}

func cutScheme(uri string) (scheme, rest string, ok bool) {
	scheme, rest, ok = strings.Cut(uri, "://")
	return scheme, rest, ok && scheme != ""
}

// Lease is a run's hold on an output folder.
type Lease struct {
	root, name string
	store      leaseStore
	info       LeaseInfo

	mu      sync.Mutex
	version string
	lost    error
	stop    chan struct{}
	done    chan struct{}
}

// AcquireLease takes OUT's lease for run runID, taking over a stale one, and
// refreshes it until Release. Another live run's lease is a *HeldError.
func AcquireLease(ctx context.Context, root, runID string) (*Lease, error) {
	store, err := leaseStoreFor(ctx, root)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	now := time.Now().UTC()
	l := &Lease{root: root, name: LeasePath(root), store: store,
		info: LeaseInfo{RunID: runID, Host: host, PID: os.Getpid(), Started: now, Heartbeat: now}}
	data, err := json.Marshal(l.info)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		err := store.create(ctx, l.name, data)
		if err == nil {
			break
		}
		if !errors.Is(err, errLeaseExists) || attempt == 3 {
			return nil, fmt.Errorf("sinks: taking the lease %s: %w", l.name, err)
		}
		cur, version, err := store.read(ctx, l.name)
		if errors.Is(err, iofs.ErrNotExist) {
			continue // released in between
		}
		if err != nil {
			return nil, fmt.Errorf("sinks: reading the lease %s: %w", l.name, err)
		}
		var held LeaseInfo
		if json.Unmarshal(cur, &held) == nil && held.RunID != "" && !stale(held, time.Now()) {
			return nil, &HeldError{Root: root, Info: held, Now: time.Now()}
		}
		// A dead run's lease (or one cut short while written): take it over.
		if err := store.replace(ctx, l.name, data, version); err == nil {
			break
		} else if !errors.Is(err, errLeaseChanged) {
			return nil, fmt.Errorf("sinks: taking over the lease %s: %w", l.name, err)
		}
	}
	_, l.version, err = store.read(ctx, l.name)
	if err != nil {
		return nil, fmt.Errorf("sinks: reading the lease %s: %w", l.name, err)
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.beat()
	return l, nil
}

// stale reports whether a lease belongs to a dead run: no heartbeat for
// LeaseStale, or a process gone from this very host.
func stale(i LeaseInfo, now time.Time) bool {
	if now.Sub(i.Heartbeat) > LeaseStale {
		return true
	}
	host, _ := os.Hostname()
	if i.Host == host && i.PID > 0 && i.PID != os.Getpid() {
		if err := syscall.Kill(i.PID, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
	}
	return false
}

func (l *Lease) beat() {
	defer close(l.done)
	t := time.NewTicker(LeaseHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.refresh(context.Background())
		}
	}
}

// refresh writes a new heartbeat if the lease is still this run's.
func (l *Lease) refresh(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return
	}
	l.info.Heartbeat = time.Now().UTC()
	data, err := json.Marshal(l.info)
	if err != nil {
		return
	}
	if err := l.store.replace(ctx, l.name, data, l.version); err != nil {
		if errors.Is(err, errLeaseChanged) || errors.Is(err, iofs.ErrNotExist) {
			l.lost = fmt.Errorf("sinks: the lease %s was taken over by another run", l.name)
		}
		return // a failed write is retried at the next beat
	}
	if _, v, err := l.store.read(ctx, l.name); err == nil {
		l.version = v
	}
}

// Lost reports a lease that another run took over (after LeaseStale
// without a heartbeat), or nil.
func (l *Lease) Lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// Release stops the heartbeat and removes the lease if it is still this
// run's.
func (l *Lease) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return nil
	}
	err := l.store.remove(ctx, l.name, l.version)
	if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, errLeaseChanged) {
		return nil
	}
	return err
}

// ReadLease returns the lease of OUT, or nil when no run holds it.
func ReadLease(ctx context.Context, root string) (*LeaseInfo, error) {
	store, err := leaseStoreFor(ctx, root)
	if err != nil {
		return nil, err
	}
	data, _, err := store.read(ctx, LeasePath(root))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var i LeaseInfo
	if err := json.Unmarshal(data, &i); err != nil {
		return nil, fmt.Errorf("sinks: bad lease %s: %w", LeasePath(root), err)
	}
	return &i, nil
}

// CheckLease is the commit's fence: it fails when OUT's lease names a run
// other than runID. No lease at all passes (a pipeline built without
// pretext run's launch, as in tests, takes none).
func CheckLease(ctx context.Context, root, runID string) error {
	i, err := ReadLease(ctx, root)
	if err != nil {
		return err
	}
	if i != nil && i.RunID != runID {
		return fmt.Errorf("sinks: %s is now leased by run %s (this run's lease went stale and was taken over); not committing", root, i.RunID)
	}
	return nil
}

// localLeases keeps leases in local files; every change happens under an
// flock of OUT/.pretext/lease.lock, so a read and the write that depends on
// it are one step for every process of this host (and of hosts sharing the
// folder over a filesystem with working locks).
type localLeases struct{}

func (localLeases) locked(name string, f func() error) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	lf, err := os.OpenFile(filepath.Join(filepath.Dir(name), "lease.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	return f()
}

func (s localLeases) create(_ context.Context, name string, data []byte) error {
	return s.locked(name, func() error {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, iofs.ErrExist) {
			return errLeaseExists
		}
		if err != nil {
			return err
		}
		_, werr := f.Write(data)
		if err := f.Close(); werr == nil {
			werr = err
		}
		return werr
	})
}

func (localLeases) read(_ context.Context, name string) ([]byte, string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, "", err
	}
	return data, versionOf(data), nil
}

func (s localLeases) replace(_ context.Context, name string, data []byte, version string) error {
	return s.ifVersion(name, version, func() error {
		tmp := name + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, name)
	})
}

func (s localLeases) remove(_ context.Context, name, version string) error {
	return s.ifVersion(name, version, func() error { return os.Remove(name) })
}

// ifVersion runs change under the lock if name still has version.
func (s localLeases) ifVersion(name, version string, change func() error) error {
	return s.locked(name, func() error {
		cur, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		if versionOf(cur) != version {
			return errLeaseChanged
		}
		return change()
	})
}

// versionOf is a lease's version where the store has none of its own: its
// bytes, which change with every heartbeat.
func versionOf(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// beamLeases keeps leases through Beam's filesystem, which has no
// preconditions: each change checks, then writes, leaving a window of one
// round trip in which two runs starting together could both proceed.
type beamLeases struct{}

func (beamLeases) open(ctx context.Context, name string) (FS, error) {
	return NewFS(ctx, name)
}

func (s beamLeases) create(ctx context.Context, name string, data []byte) error {
	fs, err := s.open(ctx, name)
	if err != nil {
		return err
	}
	defer fs.Close()
	if found, err := fs.List(ctx, name); err != nil {
		return err
	} else if len(found) > 0 {
		return errLeaseExists
	}
	return WriteFile(ctx, fs, name, data)
}

func (s beamLeases) read(ctx context.Context, name string) ([]byte, string, error) {
	fs, err := s.open(ctx, name)
	if err != nil {
		return nil, "", err
	}
	defer fs.Close()
	if found, err := fs.List(ctx, name); err != nil {
		return nil, "", err
	} else if len(found) == 0 {
		return nil, "", iofs.ErrNotExist
	}
	r, err := fs.OpenRead(ctx, name)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	return data, versionOf(data), err
}

func (s beamLeases) replace(ctx context.Context, name string, data []byte, version string) error {
	return s.ifVersion(ctx, name, version, func(fs FS) error {
		return WriteFile(ctx, fs, name, data)
	})
}

func (s beamLeases) remove(ctx context.Context, name, version string) error {
	return s.ifVersion(ctx, name, version, func(fs FS) error {
		return removeObject(ctx, fs, name)
	})
}

// ifVersion runs change if name still has version (checked, then changed:
// the window this store leaves).
func (s beamLeases) ifVersion(ctx context.Context, name, version string, change func(FS) error) error {
	_, v, err := s.read(ctx, name)
	if err != nil {
		return err
	}
	if v != version {
		return errLeaseChanged
	}
	fs, err := s.open(ctx, name)
	if err != nil {
		return err
	}
	defer fs.Close()
	return change(fs)
}
