package beamsink

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/pretext-dev/pretext/sinks"
)

// Pool works on up to n elements of a bundle at once. prism gives a stage's
// elements to one goroutine as one bundle, so a DoFn that works on them one
// by one uses one core however many the machine has. A DoFn hands the
// CPU-heavy part of each element to the pool and keeps everything Beam sees
// (emitting, counters, writers) on its own goroutine, in the handle
// function, which gets the results in the order they finish. Each worker
// holds one of AcquireWork's slots while it works, so concurrent bundles of
// a process share GOMAXPROCS slots rather than multiplying them.
type Pool[In, Out any] struct {
	ctx  context.Context
	work func(context.Context, In) Out
	wrap func(In, error) Out
	// jobs is nil in a pool of one, which works inline, in Submit.
	jobs    chan In
	results chan Out
	stop    chan struct{}
	wg      sync.WaitGroup
	pending int
	closed  bool
}

// PoolSize is the number of workers a bundle's pool gets: GOMAXPROCS.
func PoolSize() int { return runtime.GOMAXPROCS(0) }

// NewPool starts n workers running work; with n < 2 the pool runs work
// inline, in Submit. A panic in work is returned as the element's result by
// wrap (so is a failure to get a work slot): one bad element fails the
// bundle as it would inline, rather than killing the process.
func NewPool[In, Out any](ctx context.Context, n int, work func(context.Context, In) Out, wrap func(In, error) Out) *Pool[In, Out] {
	p := &Pool[In, Out]{ctx: ctx, work: work, wrap: wrap}
	if n < 2 {
		return p
	}
	p.jobs, p.results, p.stop = make(chan In, n), make(chan Out, n), make(chan struct{})
	for range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for in := range p.jobs {
				out := p.run(in)
				select {
				case p.results <- out:
				case <-p.stop:
					return
				}
			}
		}()
	}
	return p
}

// run works on one element holding a work slot.
func (p *Pool[In, Out]) run(in In) (out Out) {
	release, err := sinks.AcquireWork(p.ctx)
	if err != nil {
		return p.wrap(in, err)
	}
	defer release()
	defer func() {
		if r := recover(); r != nil {
			out = p.wrap(in, fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
		}
	}()
	return p.work(p.ctx, in)
}

// Submit hands in to a worker. While every worker is busy it passes
// finished results to handle; it returns handle's first error, after which
// the pool is stopped.
func (p *Pool[In, Out]) Submit(in In, handle func(Out) error) error {
	if p.jobs == nil {
		return handle(p.run(in))
	}
	for {
		select {
		case p.jobs <- in:
			p.pending++
			return p.drain(false, handle)
		case out := <-p.results:
			p.pending--
			if err := handle(out); err != nil {
				p.Abort()
				return err
			}
		}
	}
}

// Close waits for every submitted element, passes each result to handle and
// stops the workers. It returns handle's first error.
func (p *Pool[In, Out]) Close(handle func(Out) error) error {
	if p.jobs == nil {
		return nil
	}
	select {
	case <-p.stop:
		return nil // aborted: the bundle has already failed
	default:
	}
	close(p.jobs)
	p.closed = true
	err := p.drain(true, handle)
	p.wg.Wait()
	return err
}

// drain passes finished results to handle: those ready now, or all of them
// when wait is set.
func (p *Pool[In, Out]) drain(wait bool, handle func(Out) error) error {
	for p.pending > 0 {
		var out Out
		if wait {
			out = <-p.results
		} else {
			select {
			case out = <-p.results:
			default:
				return nil
			}
		}
		p.pending--
		if err := handle(out); err != nil {
			p.Abort()
			return err
		}
	}
	return nil
}

// Abort stops the workers without waiting for their elements: for a bundle
// that failed. It is safe to call more than once.
func (p *Pool[In, Out]) Abort() {
	if p.jobs == nil {
		return
	}
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	if !p.closed {
		close(p.jobs)
		p.closed = true
	}
}
