package data

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/pretext-dev/pretext/sinks"
)

// Footer metadata keys every shard carries (sinks.Finalize writes them).
const (
	footerTask          = "pretext.task"
	footerSchemaVersion = "pretext.schema_version"
	footerConfigHash    = "pretext.config_hash"
	footerSeed          = "pretext.seed"
)

// dataset is a committed dataset folder as its manifest describes it.
type dataset struct {
	dir      string
	remote   bool // on a filesystem other than local files: shards are staged
	fs       sinks.FS
	manifest *sinks.Manifest
	tempDir  string
	verify   bool // hash local shards too
}

// openDataset reads dir's manifest and checks that it is a dataset of task
// want ("" for any) with rows, and that every shard is there at its size
// (and, for local shards, has a footer that agrees with the manifest).
func openDataset(ctx context.Context, dir string, want string, opts Options) (*dataset, error) {
	m, err := sinks.ReadManifest(ctx, dir)
	if err != nil {
		if errors.Is(err, sinks.ErrIncomplete) {
			return nil, fmt.Errorf("data: %w%s", err, datasetsBelow(ctx, dir))
		}
		return nil, fmt.Errorf("data: %s: %w", dir, err)
	}
	switch {
	case want != "" && m.Task != want:
		return nil, fmt.Errorf("data: %s: shards of task %s, the trainer expects %s", dir, m.Task, want)
	case readerOf(m.Task) == nil:
		return nil, fmt.Errorf("data: %s: shards of task %s, which the loader does not read (it reads %v)", dir, m.Task, Tasks())
	case m.SchemaVersion != sinks.SchemaVersion:
		return nil, fmt.Errorf("data: %s: schema version %s, this build reads version %s (rewrite the shards with this pretext)", dir, m.SchemaVersion, sinks.SchemaVersion)
	}
	fs, err := sinks.NewFS(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", dir, err)
	}
	d := &dataset{dir: dir, remote: strings.Contains(dir, "://"), fs: fs, manifest: m, tempDir: opts.TempDir, verify: opts.VerifyChecksums}
	if err := d.check(ctx); err != nil {
		fs.Close()
		return nil, err
	}
	return d, nil
}

// datasetsBelow names the datasets in dir's subfolders, for the error of a
// user who passed a pipeline's output folder instead of one of its datasets.
func datasetsBelow(ctx context.Context, dir string) string {
	fs, err := sinks.NewFS(ctx, dir)
	if err != nil {
		return ""
	}
	defer fs.Close()
	found, err := fs.List(ctx, sinks.Join(dir, "*/"+sinks.ManifestName))
	if err != nil || len(found) == 0 {
		return ""
	}
	var names []string
	for _, f := range found {
		if name := path.Base(path.Dir(f)); !strings.HasPrefix(name, "_") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s holds the datasets %s: pass one of them)", dir, strings.Join(names, ", "))
}

// check verifies what can be verified without reading rows.
func (d *dataset) check(ctx context.Context) error {
	m := d.manifest
	if len(m.Shards) == 0 || m.Rows == 0 {
		return fmt.Errorf("data: %s: the dataset has no rows (%d inputs: %d filtered, %d dead letters)", d.dir, m.Inputs, m.Inputs-m.Labeled-m.DeadLetters, m.DeadLetters)
	}
	for _, sh := range m.Shards {
		if sh.Path == "" || strings.ContainsAny(sh.Path, "/\\") || strings.HasPrefix(sh.Path, ".") {
			return fmt.Errorf("data: %s: manifest lists %q, which is not a shard file name", d.dir, sh.Path)
		}
		name := d.path(sh)
		size, err := d.fs.Size(ctx, name)
		if err != nil {
			return fmt.Errorf("data: shard %s is missing or unreadable: %w", name, err)
		}
		if size != sh.Bytes {
			return fmt.Errorf("data: shard %s is truncated or corrupt: %d bytes, the manifest says %d", name, size, sh.Bytes)
		}
		if d.remote {
			continue // its footer is checked when it is staged
		}
		s, err := d.open(ctx, sh, d.verify)
		if err != nil {
			return err
		}
		if err := s.close(); err != nil {
			return err
		}
	}
	return nil
}

func (d *dataset) path(sh sinks.ShardEntry) string { return sinks.Join(d.dir, sh.Path) }

// shardFile is an open shard: a local file (the shard itself, or a staged
// copy that close deletes) and its footer.
type shardFile struct {
	name    string // the shard's path or URI, for errors
	f       *os.File
	pf      *parquet.File
	cleanup func()
}

func (s *shardFile) close() error {
	err := s.f.Close()
	s.cleanup()
	return err
}

// open opens a shard and checks its footer against the manifest; hash
// compares its SHA-256 too (always done for a staged copy).
func (d *dataset) open(ctx context.Context, sh sinks.ShardEntry, hash bool) (*shardFile, error) {
	name := d.path(sh)
	local, cleanup, sum, err := d.stage(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("data: shard %s is missing or unreadable: %w", name, err)
	}
	s := &shardFile{name: name, cleanup: cleanup}
	if s.f, err = os.Open(local); err != nil {
		cleanup()
		return nil, fmt.Errorf("data: shard %s: %w", name, err)
	}
	fail := func(format string, args ...any) (*shardFile, error) {
		s.close()
		return nil, fmt.Errorf("data: shard %s "+format, append([]any{name}, args...)...)
	}
	fi, err := s.f.Stat()
	if err != nil {
		return fail("%w", err)
	}
	if fi.Size() != sh.Bytes {
		return fail("is truncated or corrupt: %d bytes, the manifest says %d", fi.Size(), sh.Bytes)
	}
	if sum == "" && hash {
		h := sha256.New()
		if _, err := io.Copy(h, s.f); err != nil {
			return fail("%w", err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
	}
	if sum != "" && sum != sh.SHA256 {
		return fail("is corrupt: its SHA-256 is %s, the manifest says %s", short(sum), short(sh.SHA256))
	}
	s.pf, err = parquet.OpenFile(s.f, fi.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(64<<10))
	if err != nil {
		return fail("is truncated or corrupt: not a readable Parquet file: %w", err)
	}
	m := d.manifest
	if task, _ := s.pf.Lookup(footerTask); task != m.Task {
		return fail("holds rows of task %q, the manifest says %s", task, m.Task)
	}
	for _, kv := range [][2]string{
		{footerSchemaVersion, m.SchemaVersion},
		{footerConfigHash, m.ConfigHash},
		{footerSeed, strconv.FormatInt(m.Seed, 10)},
	} {
		if got, _ := s.pf.Lookup(kv[0]); got != kv[1] {
			return fail("comes from another run: footer %s = %q, the manifest says %q", kv[0], got, kv[1])
		}
	}
	if n := s.pf.NumRows(); n != sh.Rows {
		return fail("holds %d rows, the manifest says %d", n, sh.Rows)
	}
	return s, nil
}

func short(sum string) string { return sum[:min(12, len(sum))] + "…" }

// stage gives a local path for name (see sinks.LocalCopy) and, for a
// remote shard, the SHA-256 of the copy.
func (d *dataset) stage(ctx context.Context, name string) (local string, cleanup func(), sum string, err error) {
	if !d.remote {
		return name, func() {}, "", nil
	}
	return sinks.LocalCopy(ctx, d.fs, name, d.tempDir)
}

// fingerprint identifies the dataset and the options that shape the order
// of its rows, so that a State is not applied to another.
func (d *dataset) fingerprint(o Options) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00%s\x00", d.manifest.Task, d.manifest.ConfigHash, o.Seed, o.ShuffleBuffer, o.Limit, o.Split)
	for _, sh := range d.manifest.Shards {
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", sh.Path, sh.Rows, sh.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
