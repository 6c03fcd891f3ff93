package transforms

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
)

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// sparse writes a file of size bytes that takes no disk.
func sparse(t *testing.T, size int64) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "sparse.wav")
	if err := os.WriteFile(name, []byte("RIFF\xff\xff\xff\xffWAVE"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, size); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestOversizedInputIsNotRead: a sparse 1.15 GB file over a 512 MiB limit
// is too_large_file from a stat, whichever way it is read and whether or
// not its size was listed. Before, CopyInput read 512 MiB of it first (2.2
// GB of RSS into a growing buffer).
func TestOversizedInputIsNotRead(t *testing.T) {
	const size, limit = 1_150_000_000, 512 << 20
	name := sparse(t, size)
	ctx := context.Background()
	for _, listed := range []int64{-1, size, 10} { // unknown, right, stale
		var reasons []string
		alloc := allocated(func() {
			_, reason, _, err := CopyInput(ctx, name, limit, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			reasons = append(reasons, reason)
			_, reason, _, err = ReadInput(ctx, name, listed, limit)
			if err != nil {
				t.Fatal(err)
			}
			reasons = append(reasons, reason)
			in, reason, _, err := OpenInput(ctx, name, listed, limit)
			if err != nil {
				t.Fatal(err)
			}
			if in != nil {
				in.Close()
			}
			reasons = append(reasons, reason)
		})
		for _, r := range reasons {
			if r != ReasonTooLargeFile {
				t.Errorf("listed %d: reasons %v, want %s for all", listed, reasons, ReasonTooLargeFile)
				break
			}
		}
		if alloc > 1<<20 {
			t.Errorf("listed %d: allocated %d bytes to reject a file", listed, alloc)
		}
	}
}

// TestReadInput: a file is read in one allocation of its size, whatever
// the listing said; an empty file is empty_file, a missing one read_error.
func TestReadInput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := bytes.Repeat([]byte("pretext "), 1<<17) // 1 MiB
	name := filepath.Join(dir, "a")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, listed := range []int64{-1, int64(len(data)), 3} {
		var got []byte
		alloc := allocated(func() {
			var reason string
			var err error
			got, reason, _, err = ReadInput(ctx, name, listed, 2<<20)
			if err != nil || reason != "" {
				t.Fatalf("listed %d: %s %v", listed, reason, err)
			}
		})
		if !bytes.Equal(got, data) {
			t.Errorf("listed %d: read %d bytes, want the file's %d", listed, len(got), len(data))
		}
		if alloc > uint64(len(data))+64<<10 {
			t.Errorf("listed %d: allocated %d bytes to read %d", listed, alloc, len(data))
		}
	}
	if _, reason, _, _ := ReadInput(ctx, name, -1, int64(len(data))-1); reason != ReasonTooLargeFile {
		t.Errorf("one byte over: %q, want %s", reason, ReasonTooLargeFile)
	}
	if _, reason, _, _ := ReadInput(ctx, name, -1, int64(len(data))); reason != "" {
		t.Errorf("at the limit: %q", reason)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, reason, _, _ := ReadInput(ctx, empty, -1, 10); reason != ReasonEmptyFile {
		t.Errorf("empty: %q, want %s", reason, ReasonEmptyFile)
	}
	if _, reason, _, _ := CopyInput(ctx, empty, 10, io.Discard); reason != ReasonEmptyFile {
		t.Errorf("empty: %q, want %s", reason, ReasonEmptyFile)
	}
	if _, reason, _, err := ReadInput(ctx, filepath.Join(dir, "missing"), -1, 10); reason != ReasonReadError || err != nil {
		t.Errorf("missing: %q %v, want %s", reason, err, ReasonReadError)
	}
}

// TestCapHoldsWhenSizeLies: a file larger than its judged size (growing
// while read, or a filesystem that reports a wrong size) still stops at
// the limit, through short reads and seeks.
func TestCapHoldsWhenSizeLies(t *testing.T) {
	src := strings.Repeat("x", 100)
	for _, max := range []int64{0, 1, 50, 99} {
		c := &capped{r: iotest.HalfReader(strings.NewReader(src)), max: max}
		n, err := io.Copy(io.Discard, c)
		if !errors.Is(err, ErrTooLarge) || n > max+1 {
			t.Errorf("max %d: copied %d, %v; want ErrTooLarge within %d bytes", max, n, err, max+1)
		}
	}
	c := &capped{r: strings.NewReader(src), max: 100}
	if n, err := io.Copy(io.Discard, c); n != 100 || err != nil {
		t.Errorf("at the limit: %d, %v", n, err)
	}
	r := strings.NewReader(src)
	s := &cappedSeeker{capped: &capped{r: r, max: 60}, s: r}
	if _, err := s.Seek(50, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, s); !errors.Is(err, ErrTooLarge) || n > 11 {
		t.Errorf("after a seek to 50 with max 60: %d, %v", n, err)
	}
	if reason, _ := ReadFailure(io.ErrClosedPipe, 5); reason != ReasonReadError {
		t.Errorf("ReadFailure of a read error: %q", reason)
	}
}

// TestOpenInputStatsTheFileRead: the size comes from the open file, so a
// symlink is sized by its target, and the reader can seek.
func TestOpenInputStatsTheFileRead(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	in, reason, _, err := OpenInput(context.Background(), link, 6, 10_000)
	if err != nil || reason != "" {
		t.Fatal(reason, err)
	}
	defer in.Close()
	if in.Size != 1000 {
		t.Errorf("size %d, want the target's 1000", in.Size)
	}
	if _, ok := in.R.(io.Seeker); !ok {
		t.Errorf("a local file's reader %T cannot seek", in.R)
	}
	if _, reason, _, _ := OpenInput(context.Background(), link, 6, 999); reason != ReasonTooLargeFile {
		t.Errorf("over the limit by a byte: %q", reason)
	}
}
