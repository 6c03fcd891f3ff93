package beamsink

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

type poolOut struct {
	in  int
	sq  int
	err error
}

func square(_ context.Context, in int) poolOut {
	if in == 13 {
		panic("thirteen")
	}
	return poolOut{in: in, sq: in * in}
}

func wrapPool(in int, err error) poolOut { return poolOut{in: in, err: err} }

func TestPoolHandlesEveryElement(t *testing.T) {
	p := NewPool(context.Background(), 3, square, wrapPool)
	var got []int
	handle := func(o poolOut) error {
		if o.sq != o.in*o.in {
			return fmt.Errorf("%d: got %d", o.in, o.sq)
		}
		got = append(got, o.in)
		return nil
	}
	for i := 0; i < 100; i++ {
		if i == 13 {
			continue
		}
		if err := p.Submit(i, handle); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(handle); err != nil {
		t.Fatal(err)
	}
	sort.Ints(got)
	if len(got) != 99 || got[0] != 0 || got[98] != 99 {
		t.Fatalf("handled %d elements: %v", len(got), got)
	}
}

func TestPoolPanicIsTheElementsError(t *testing.T) {
	p := NewPool(context.Background(), 2, square, wrapPool)
	stop := errors.New("stop")
	handle := func(o poolOut) error {
		if o.err != nil {
			if !strings.Contains(o.err.Error(), "panic: thirteen") {
				t.Errorf("error %v", o.err)
			}
			return stop
		}
		return nil
	}
	var err error
	for i := 0; i < 50 && err == nil; i++ {
		err = p.Submit(i, handle)
	}
	if err == nil {
		err = p.Close(handle)
	}
	if err != stop {
		t.Fatalf("got %v, want the handler's error", err)
	}
	p.Abort() // again: no panic
	if err := p.Close(handle); err != nil {
		t.Fatalf("Close after a failure: %v", err)
	}
}

func TestPoolOfOneIsInline(t *testing.T) {
	p := NewPool(context.Background(), 1, square, wrapPool)
	var got []poolOut
	handle := func(o poolOut) error { got = append(got, o); return nil }
	for _, in := range []int{3, 13} {
		if err := p.Submit(in, handle); err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[len(got)-1].in != in {
			t.Fatalf("element %d not handled inside Submit: %v", in, got)
		}
	}
	if got[0].sq != 9 || got[1].err == nil || !strings.Contains(got[1].err.Error(), "panic: thirteen") {
		t.Fatalf("results %+v", got)
	}
	if err := p.Close(handle); err != nil {
		t.Fatal(err)
	}
	p.Abort()
}
