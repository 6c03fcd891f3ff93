package beamsink

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Memory is a weighted semaphore of bytes: what the in-flight decodes of a
// process may hold together, each judged before it allocates. It is a
// second gate beside AcquireWork's GOMAXPROCS slots: a worker may have
// slots free and still wait for memory, so that its peak RSS is
//
//	base (binary, Beam's harness, ~100 MiB)
//	+ sink buffers (sink.buffer_mb, shared by every Writer of the process)
//	+ the memory budget (worker.memory_mb: decodes, resizes and labels in flight)
//	+ inputs read and waiting for the gate (≤ GOMAXPROCS × the file sizes)
//	+ what the garbage collector has not yet returned
//
// and not GOMAXPROCS × the largest decode. Waiters are served first come,
// first served, so a large decode is not starved by small ones; a request
// above the whole budget takes the whole budget (it runs alone, once
// everything before it has finished) rather than waiting forever.
type Memory struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters []*memoryWaiter
}

type memoryWaiter struct {
	n     int64
	ready chan struct{}
}

// NewMemory returns a budget of size bytes (at least 1).
func NewMemory(size int64) *Memory { return &Memory{size: max(size, 1)} }

// Size is the budget in bytes.
func (m *Memory) Size() int64 { return m.size }

// Used is what acquired requests hold now.
func (m *Memory) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// Acquire waits until n bytes (at most the budget's size) are free and
// takes them, or returns ctx's error. release gives them back; it must be
// called exactly once.
func (m *Memory) Acquire(ctx context.Context, n int64) (release func(), err error) {
	n = min(max(n, 0), m.size)
	m.mu.Lock()
	if len(m.waiters) == 0 && m.used+n <= m.size {
		m.used += n
		m.mu.Unlock()
		return m.releaser(n), nil
	}
	w := &memoryWaiter{n: n, ready: make(chan struct{})}
	m.waiters = append(m.waiters, w)
	m.mu.Unlock()
	select {
	case <-w.ready:
		return m.releaser(n), nil
	case <-ctx.Done():
		m.mu.Lock()
		select {
		case <-w.ready: // granted meanwhile: hand it back
			m.used -= n
		default:
			for i, x := range m.waiters {
				if x == w {
					m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
					break
				}
			}
		}
		m.grant()
		m.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (m *Memory) releaser(n int64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			m.used -= n
			m.grant()
			m.mu.Unlock()
		})
	}
}

// grant wakes the waiters at the head of the queue that now fit.
func (m *Memory) grant() {
	for len(m.waiters) > 0 {
		w := m.waiters[0]
		if m.used+w.n > m.size {
			return
		}
		m.used += w.n
		m.waiters = m.waiters[1:]
		close(w.ready)
	}
}

// memory is the process's budget: set by SetMemoryBudget, read by
// AcquireMemory.
var memory atomic.Pointer[Memory]

// SetMemoryBudget makes the process's memory budget size bytes, unless it
// is that size already. DoFns call it in Setup with their config's value;
// requests in flight keep the budget they acquired from.
func SetMemoryBudget(size int64) {
	for {
		old := memory.Load()
		if old != nil && old.size == max(size, 1) {
			return
		}
		if memory.CompareAndSwap(old, NewMemory(size)) {
			return
		}
	}
}

// AcquireMemory takes n bytes of the process's memory budget (see Memory),
// or nothing when no budget is set.
//
// A request of collectAbove bytes or more then collects garbage before it
// allocates: the budget bounds what decodes hold, but the buffers of the
// decodes before it stay on the heap until the next collection, which Go
// starts only when the heap has doubled, so a few large decodes in a row
// could hold twice the budget. Such decodes take a second or more each; a
// collection of a heap of pixel buffers (no pointers to scan) takes
// milliseconds. Measured on bench/crafted/run's attack case (four 7000²
// progressive JPEGs at GOMAXPROCS=4): see docs/reliability.md.
func AcquireMemory(ctx context.Context, n int64) (release func(), err error) {
	m := memory.Load()
	if m == nil {
		return func() {}, nil
	}
	release, err = m.Acquire(ctx, n)
	if err == nil && n >= collectAbove {
		runtime.GC()
	}
	return release, err
}

// collectAbove is the request from which AcquireMemory collects garbage
// first: 64 MiB, a 16 MP image decoded to RGBA. Ordinary photos (12 MP
// JPEGs, about 18 MB of planes) never trigger it.
const collectAbove = 64 << 20

// MemoryBudget resolves worker.memory_mb: mb MiB when > 0, else the
// default, 1/32 of MachineMemory (a 16 GiB machine gives 512 MiB; an
// n1-standard-16 Dataflow worker, 60 GB, 1.8 GiB), and never less than
// floor bytes (image.max_decode_mb: one decode must fit).
func MemoryBudget(mb int, floor int64) int64 {
	if mb > 0 {
		return max(int64(mb)<<20, floor)
	}
	return max(MachineMemory()/32, floor)
}

// MachineMemory is the memory this process may use: MemTotal of
// /proc/meminfo, or the cgroup's limit (v2 memory.max, v1
// memory.limit_in_bytes) where lower. 8 GiB where neither can be read.
func MachineMemory() int64 {
	total := meminfoTotal(readFile("/proc/meminfo"))
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(readFile(p))), 10, 64); err == nil && v > 0 && (total == 0 || v < total) {
			total = v // "max" (no limit) does not parse
		}
	}
	if total <= 0 {
		return 8 << 30
	}
	return total
}

func readFile(name string) []byte {
	b, _ := os.ReadFile(name)
	return b
}

// meminfoTotal is MemTotal of /proc/meminfo's text in bytes, or 0.
func meminfoTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
