package sinks

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"
)

// The tests reach memfs:// (and the fault tests' fulldisk://) through Beam's
// filesystems, as a binary that links package sinks/beamsink does.
func init() {
	SetRemoteFS(func(ctx context.Context, path string) (FS, error) {
		fs, err := filesystem.New(ctx, path)
		if err != nil {
			return nil, err
		}
		return fs, nil
	})
}
