package transforms

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

// CopyInput streams the input file source into w, reading at most maxBytes+1
// bytes so that an oversized file is never read whole. A non-empty reason is
// a dead letter ("read_error", "empty_file", "too_large_file") with detail;
// err is set only when the filesystem itself is unusable, which should fail
// the bundle (and be retried by the runner) rather than the input.
func CopyInput(ctx context.Context, source string, maxBytes int64, w io.Writer) (n int64, reason, detail string, err error) {
	fsys, err := filesystem.New(ctx, source)
	if err != nil {
		return 0, "", "", err
	}
	defer fsys.Close()
	r, err := fsys.OpenRead(ctx, source)
	if err != nil {
		return 0, "read_error", err.Error(), nil
	}
	defer r.Close()
	n, err = io.Copy(w, io.LimitReader(r, maxBytes+1))
	switch {
	case err != nil:
		return n, "read_error", err.Error(), nil
	case n == 0:
		return 0, "empty_file", "0 bytes", nil
	case n > maxBytes:
		return n, "too_large_file", fmt.Sprintf("more than %d bytes", maxBytes), nil
	}
	return n, "", "", nil
}
