package transforms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/pretext-dev/pretext/sinks"
)

// Reasons of the read stage's dead letters, shared by every modality.
const (
	ReasonReadError    = "read_error"
	ReasonEmptyFile    = "empty_file"
	ReasonTooLargeFile = "too_large_file"
)

// ErrTooLarge is returned by an Input's reader once more than its maxBytes
// would be read: a file that grew after its size was judged. Readers turn it
// into a too_large_file dead letter.
var ErrTooLarge = errors.New("input larger than its byte limit")

// Input is an input file open for reading, its size judged before a byte of
// it was read.
type Input struct {
	// R reads the file from its start, at most maxBytes bytes: one more
	// gives ErrTooLarge. R is an io.Seeker when the filesystem's reader is
	// one (local files), so a reader can skip what it does not need.
	R io.Reader
	// Size is the file's size in bytes before the read: from a stat of the
	// open file where the filesystem offers one (so a symlink is sized by
	// its target, and the size is that of the very file read), else the
	// listed size, else the filesystem's Size; -1 if none is known. A
	// reader must not trust it further than to judge and size buffers: a
	// file may change while read.
	Size int64

	fsys sinks.FS
	rc   io.ReadCloser
}

// Close closes the file and its filesystem.
func (in *Input) Close() error {
	return errors.Join(in.rc.Close(), in.fsys.Close())
}

// OpenInput opens the input file source for a streaming read. listed is its
// size as listed (-1 if unknown). A file whose size is known to exceed
// maxBytes is a too_large_file dead letter before anything is read, so a
// sparse or huge file costs a stat, not a read of maxBytes bytes. A
// non-empty reason is a dead letter ("read_error", "too_large_file") with
// detail; err is set only when the filesystem itself is unusable, which
// should fail the bundle (and be retried by the runner) rather than the
// input. On success the caller closes in.
func OpenInput(ctx context.Context, source string, listed, maxBytes int64) (in *Input, reason, detail string, err error) {
	fsys, err := sinks.NewFS(ctx, source)
	if err != nil {
		return nil, "", "", err
	}
	rc, err := fsys.OpenRead(ctx, source)
	if err != nil {
		fsys.Close() // the open's error is the one to report
		return nil, ReasonReadError, err.Error(), nil
	}
	in = &Input{rc: rc, fsys: fsys}
	size, err := statSize(ctx, fsys, rc, source, listed)
	if err != nil {
		in.Close() // the stat's error is the one to report
		return nil, ReasonReadError, err.Error(), nil
	}
	if size > maxBytes {
		in.Close() // nothing was read: a close error changes nothing
		return nil, ReasonTooLargeFile, fmt.Sprintf("%d bytes > %d", size, maxBytes), nil
	}
	c := &capped{r: rc, max: maxBytes}
	in.R, in.Size = c, size
	if s, ok := rc.(io.Seeker); ok && size >= 0 {
		// Only a file with a size: a pipe is an *os.File that cannot seek.
		in.R = &cappedSeeker{capped: c, s: s}
	}
	return in, "", "", nil
}

// statSize returns the size of the open file rc. A stat of the open file
// comes first: it costs no request, follows symlinks, and cannot race with
// a rename. Beam's local filesystem's Size opens the file again and leaves
// that descriptor to the garbage collector, so it is the last resort, asked
// only when the listing did not say.
func statSize(ctx context.Context, fsys sinks.FS, rc io.ReadCloser, source string, listed int64) (int64, error) {
	if st, ok := rc.(interface{ Stat() (fs.FileInfo, error) }); ok {
		fi, err := st.Stat()
		if err != nil {
			return -1, err
		}
		if fi.Mode().IsRegular() {
			return fi.Size(), nil
		}
		// A pipe or device has no size worth judging: the reader's cap
		// alone bounds it.
		return -1, nil
	}
	if listed >= 0 {
		return listed, nil
	}
	return fsys.Size(ctx, source)
}

// capped reads at most max bytes from r and fails with ErrTooLarge on the
// next: the limit holds even when the size judged before the read was
// wrong (a file growing while read).
type capped struct {
	r   io.Reader
	off int64 // bytes from the start of the file to the next read
	max int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.off > c.max {
		return 0, ErrTooLarge
	}
	if left := c.max + 1 - c.off; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.r.Read(p)
	c.off += int64(n)
	if c.off > c.max {
		return n, ErrTooLarge
	}
	return n, err
}

// cappedSeeker is a capped reader over a file that can seek.
type cappedSeeker struct {
	*capped
	s io.Seeker
}

func (c *cappedSeeker) Seek(offset int64, whence int) (int64, error) {
	off, err := c.s.Seek(offset, whence)
	if err == nil {
		c.off = off
	}
	return off, err
}

// CopyInput streams the input file source into w, reading at most maxBytes+1
// bytes so that an oversized file is never read whole, and nothing at all
// when a stat already says it is oversized. A non-empty reason is a dead
// letter ("read_error", "empty_file", "too_large_file") with detail; err is
// set only when the filesystem itself is unusable, which should fail the
// bundle (and be retried by the runner) rather than the input.
func CopyInput(ctx context.Context, source string, maxBytes int64, w io.Writer) (n int64, reason, detail string, err error) {
	in, reason, detail, err := OpenInput(ctx, source, -1, maxBytes)
	if err != nil || reason != "" {
		return 0, reason, detail, err
	}
	defer in.Close()
	// The file itself under a LimitReader, not in.R: os.File.ReadFrom
	// knows that pair and copies file to file in the kernel.
	n, err = io.Copy(w, io.LimitReader(in.rc, maxBytes+1))
	if err == nil && n > maxBytes {
		err = ErrTooLarge
	}
	reason, detail = copyOutcome(n, maxBytes, err)
	return n, reason, detail, nil
}

// ReadInput reads the whole input file source, of listed size (-1 if
// unknown) and at most maxBytes bytes, into memory. The buffer is allocated
// once at the size stated before the read, and grows past it only if the
// file does while read, up to maxBytes. Reasons and err are CopyInput's.
func ReadInput(ctx context.Context, source string, listed, maxBytes int64) (data []byte, reason, detail string, err error) {
	in, reason, detail, err := OpenInput(ctx, source, listed, maxBytes)
	if err != nil || reason != "" {
		return nil, reason, detail, err
	}
	defer in.Close()
	var buf bytes.Buffer
	if in.Size >= 0 {
		// bytes.Buffer reads in steps of at least MinRead: with this much
		// room the read ends in EOF without growing the buffer.
		buf.Grow(int(in.Size) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(in.R)
	if reason, detail = copyOutcome(n, maxBytes, err); reason != "" {
		return nil, reason, detail, nil
	}
	return buf.Bytes(), "", "", nil
}

// copyOutcome judges a read of n bytes that ended with err.
func copyOutcome(n, maxBytes int64, err error) (reason, detail string) {
	switch {
	case err != nil:
		return ReadFailure(err, maxBytes)
	case n == 0:
		return ReasonEmptyFile, "0 bytes"
	}
	return "", ""
}

// ReadFailure names the dead letter of a read from an Input's R that
// failed with err (not io.EOF): too_large_file once the file outgrew
// maxBytes while read, else read_error.
func ReadFailure(err error, maxBytes int64) (reason, detail string) {
	if errors.Is(err, ErrTooLarge) {
		return ReasonTooLargeFile, fmt.Sprintf("more than %d bytes", maxBytes)
	}
	return ReasonReadError, err.Error()
}
