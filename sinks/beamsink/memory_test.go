package beamsink

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A request above the whole budget takes all of it: it waits for what is
// held, then runs alone, and requests after it wait for it (first come,
// first served) — it never waits forever.
func TestMemoryOverBudgetRunsAlone(t *testing.T) {
	m := NewMemory(100)
	ctx := context.Background()
	r1, err := m.Acquire(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	big := make(chan func())
	go func() {
		r, err := m.Acquire(ctx, 1<<40)
		if err != nil {
			t.Error(err)
		}
		big <- r
	}()
	small := make(chan func())
	go func() {
		time.Sleep(20 * time.Millisecond) // queued behind the big one
		r, err := m.Acquire(ctx, 1)
		if err != nil {
			t.Error(err)
		}
		small <- r
	}()
	select {
	case <-big:
		t.Fatal("the over-budget request ran beside 60 bytes held")
	case <-time.After(100 * time.Millisecond):
	}
	r1()
	var rb func()
	select {
	case rb = <-big:
	case <-time.After(5 * time.Second):
		t.Fatal("the over-budget request never ran: deadlock")
	}
	if got := m.Used(); got != 100 {
		t.Errorf("used = %d while the over-budget request runs, want the whole budget 100", got)
	}
	select {
	case <-small:
		t.Fatal("a request ran beside the over-budget one")
	case <-time.After(50 * time.Millisecond):
	}
	rb()
	select {
	case rs := <-small:
		rs()
	case <-time.After(5 * time.Second):
		t.Fatal("the request after the over-budget one never ran")
	}
	if got := m.Used(); got != 0 {
		t.Errorf("used = %d after every release, want 0", got)
	}
}

// Concurrent requests never hold more than the budget together.
func TestMemoryBoundsConcurrentBytes(t *testing.T) {
	m := NewMemory(100)
	var held, peak atomic.Int64
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for range 20 {
				n := int64(1 + rng.IntN(150)) // some above the budget
				release, err := m.Acquire(context.Background(), n)
				if err != nil {
					t.Error(err)
					return
				}
				now := held.Add(min(n, 100))
				for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
				}
				time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
				held.Add(-min(n, 100))
				release()
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 100 {
		t.Errorf("peak held = %d > budget 100", p)
	}
	if u := m.Used(); u != 0 {
		t.Errorf("used = %d after every release", u)
	}
}

// A waiter whose context ends leaves the queue and the budget as they were.
func TestMemoryAcquireCancelled(t *testing.T) {
	m := NewMemory(10)
	r, _ := m.Acquire(context.Background(), 10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := m.Acquire(ctx, 5); err == nil {
		t.Fatal("Acquire on a full budget returned without error after its context ended")
	}
	r()
	r() // a second release is a no-op
	if u := m.Used(); u != 0 {
		t.Errorf("used = %d, want 0", u)
	}
	r2, err := m.Acquire(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	r2()
}

func TestMemoryBudgetDefault(t *testing.T) {
	if got := meminfoTotal([]byte("MemTotal:       24576000 kB\nMemFree: 1 kB\n")); got != 24576000<<10 {
		t.Errorf("meminfoTotal = %d", got)
	}
	if got := MemoryBudget(64, 320<<20); got != 320<<20 {
		t.Errorf("MemoryBudget(64 MiB, floor 320 MiB) = %d, want the floor", got)
	}
	if got := MemoryBudget(1024, 320<<20); got != 1024<<20 {
		t.Errorf("MemoryBudget(1024, _) = %d", got)
	}
	if got, want := MemoryBudget(0, 1), MachineMemory()/32; got != want {
		t.Errorf("MemoryBudget(0, _) = %d, want MachineMemory/32 = %d", got, want)
	}
}
