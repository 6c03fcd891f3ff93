package sinks

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
)

// Temporary files hold rows in one of two encodings. Row types that
// implement tempCodec (the many small rows of text) are framed by hand: a
// uvarint length, then the fields as varints and length-prefixed bytes —
// several times faster than gob, which reflects over every field of every
// row. Other rows (images: a few large byte slices, which gob copies as
// they are) stay gob streams.
type tempCodec interface {
	// appendTemp appends the row's encoding to b.
	appendTemp(b []byte) []byte
}

// tempDecodable is the pointer side of tempCodec.
type tempDecodable interface {
	// readTemp sets the row from one encoding; it never aliases b. Its
	// int32 lists come from a (nil: one allocation each).
	readTemp(b []byte, a *int32Arena) error
}

// int32Arena hands out int32 slices carved from blocks of arenaBlock, one
// allocation for the lists of many rows instead of four per row. A block
// is never reused: the rows that hold its slices keep it alive.
type int32Arena struct{ free []int32 }

const arenaBlock = 16 << 10

func (a *int32Arena) take(n int) []int32 {
	if a == nil || n > arenaBlock/8 {
		return make([]int32, n)
	}
	if len(a.free) < n {
		a.free = make([]int32, arenaBlock)
	}
	s := a.free[:n:n]
	a.free = a.free[n:]
	return s
}

// newTempEncoder returns the function that writes rows of T to w.
func newTempEncoder[T Row](w io.Writer) func(*T) error {
	if _, ok := any(new(T)).(tempCodec); !ok {
		enc := gob.NewEncoder(w)
		return func(row *T) error { return enc.Encode(row) }
	}
	var head, body []byte
	return func(row *T) error {
		body = any(row).(tempCodec).appendTemp(body[:0]) // a pointer: no copy of the row boxed
		head = binary.AppendUvarint(head[:0], uint64(len(body)))
		if _, err := w.Write(head); err != nil {
			return err
		}
		_, err := w.Write(body)
		return err
	}
}

// newTempDecoder returns the function that reads the following row of T from
// r; it returns io.EOF after the last row.
func newTempDecoder[T Row](r io.Reader) func(*T) error {
	if _, ok := any(new(T)).(tempDecodable); !ok {
		dec := gob.NewDecoder(r)
		return func(row *T) error { return dec.Decode(row) }
	}
	br := bufio.NewReaderSize(r, 32<<10)
	var buf []byte
	arena := &int32Arena{}
	return func(row *T) error {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			if err == io.EOF {
				return io.EOF
			}
			return fmt.Errorf("row length: %w", err)
		}
		if n > 1<<30 {
			return fmt.Errorf("row of %d bytes: corrupt length", n)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("row of %d bytes: %w", n, err)
		}
		return any(row).(tempDecodable).readTemp(buf, arena)
	}
}

// tempReadBuf parses the fields of one hand-framed row in order; the first
// error sticks.
type tempReadBuf struct {
	b     []byte
	err   error
	arena *int32Arena
}

var errTempShort = errors.New("row truncated")

func (r *tempReadBuf) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errTempShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *tempReadBuf) int32() int32 { return int32(uint32(r.uvarint())) }

func (r *tempReadBuf) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if uint64(len(r.b)) < n {
		r.err = errTempShort
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// int32s reads a list written by appendInt32s; an empty list is nil, as gob
// decodes it.
func (r *tempReadBuf) int32s() []int32 {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(r.b)) { // every element takes at least one byte
		r.err = errTempShort
		return nil
	}
	s := r.arena.take(int(n))
	for i := range s {
		if len(r.b) > 0 && r.b[0] < 0x80 { // one byte: most token ids of a small vocabulary, every segment id
			s[i] = int32(r.b[0])
			r.b = r.b[1:]
			continue
		}
		s[i] = r.int32()
	}
	return s
}

func (r *tempReadBuf) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the row", len(r.b))
	}
	return r.err
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendInt32 writes v as the uvarint of its bits: small non-negative values
// (token ids, positions) take one to three bytes.
func appendInt32(b []byte, v int32) []byte { return binary.AppendUvarint(b, uint64(uint32(v))) }

func appendInt32s(b []byte, s []int32) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	for _, v := range s {
		b = appendInt32(b, v)
	}
	return b
}

func (r MLMRow) appendTemp(b []byte) []byte {
	b = appendString(b, r.Key)
	b = appendString(b, r.DocIDA)
	b = appendString(b, r.DocIDB)
	b = appendInt32(b, r.Dupe)
	b = appendInt32s(b, r.InputIDs)
	b = appendInt32s(b, r.SegmentIDs)
	b = appendInt32s(b, r.MaskedLMPositions)
	b = appendInt32s(b, r.MaskedLMIDs)
	next := byte(0)
	if r.IsRandomNext {
		next = 1
	}
	b = append(b, next)
	return appendInt32(b, r.NumTokens)
}

func (r *MLMRow) readTemp(b []byte, a *int32Arena) error {
	in := tempReadBuf{b: b, arena: a}
	*r = MLMRow{
		Key:               in.string(),
		DocIDA:            in.string(),
		DocIDB:            in.string(),
		Dupe:              in.int32(),
		InputIDs:          in.int32s(),
		SegmentIDs:        in.int32s(),
		MaskedLMPositions: in.int32s(),
		MaskedLMIDs:       in.int32s(),
	}
	switch next := in.uvarint(); {
	case in.err != nil:
	case next > 1:
		in.err = fmt.Errorf("is_random_next %d", next)
	default:
		r.IsRandomNext = next == 1
	}
	r.NumTokens = in.int32()
	return in.done()
}
