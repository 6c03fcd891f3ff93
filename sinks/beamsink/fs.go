package beamsink

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/pretext-dev/pretext/sinks"
)

// Paths with a scheme (gs://, s3://, memfs:// …) reach the dataset
// contract through Beam's filesystems: every one the binary registers (its
// blank imports of Beam's io/filesystem/gcs, s3, memfs) serves sinks.NewFS
// too, so the pipeline, the inspector and the trainer read and write the
// same stores through one set of clients.
func init() {
	sinks.SetRemoteFS(func(ctx context.Context, path string) (sinks.FS, error) {
		fs, err := filesystem.New(ctx, path)
		if err != nil {
			return nil, err
		}
		return fs, nil
	})
}
