package sinks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Verify checks a committed dataset folder against its manifest and returns
// every problem found (none for a good dataset): a missing manifest; a shard
// missing, of the wrong size, hash or row count; footer metadata that
// disagrees with the manifest; a schema other than want's (when want is not
// nil); files that look like data but are not in the manifest; and manifest
// sums that do not add up. err is set only when the folder cannot be read.
// A shard's problems start with its file name and a colon.
func Verify(ctx context.Context, dir string, want *parquet.Schema) (m *Manifest, problems []string, err error) {
	m, problems, err = VerifyManifest(ctx, dir)
	if m == nil || err != nil {
		return m, problems, err
	}
	fs, err := NewFS(ctx, dir)
	if err != nil {
		return m, nil, err
	}
	defer fs.Close()
	for _, sh := range m.Shards {
		if PlainShardPath(sh.Path) {
			bad, _ := VerifyShard(ctx, fs, dir, sh, m, want, "", nil)
			problems = append(problems, bad...)
		}
	}
	return m, problems, nil
}

// VerifyManifest is Verify without reading the shards: the manifest's sums,
// its shard names, and the files of the folder against them.
func VerifyManifest(ctx context.Context, dir string) (m *Manifest, problems []string, err error) {
	m, err = ReadManifest(ctx, dir)
	if err != nil {
		if strings.Contains(err.Error(), ErrIncomplete.Error()) {
			return nil, []string{err.Error()}, nil
		}
		return nil, nil, err
	}
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	fs, err := NewFS(ctx, dir)
	if err != nil {
		return m, nil, err
	}
	defer fs.Close()

	var filtered int64
	for _, n := range m.Filtered {
		filtered += n
	}
	if m.Inputs != m.Labeled+filtered+m.DeadLetters {
		bad("manifest: inputs %d != labeled %d + filtered %d + dead letters %d", m.Inputs, m.Labeled, filtered, m.DeadLetters)
	}
	var reasons, rows int64
	for _, n := range m.DeadLetterReasons {
		reasons += n
	}
	if reasons != m.DeadLetters {
		bad("manifest: dead letters %d but reasons add to %d", m.DeadLetters, reasons)
	}
	listed := map[string]bool{ManifestName: true}
	for _, sh := range m.Shards {
		listed[sh.Path] = true
		rows += sh.Rows
		if !PlainShardPath(sh.Path) {
			bad("%s: shard path is not a plain file name", sh.Path)
		}
	}
	if rows != m.Rows {
		bad("manifest: rows %d but shards hold %d", m.Rows, rows)
	}
	found, err := fs.List(ctx, Join(dir, "*"))
	if err != nil {
		return m, problems, err
	}
	sort.Strings(found)
	for _, f := range found {
		name := path.Base(f)
		switch {
		case listed[name]:
		case strings.HasPrefix(name, ".staging-"):
			bad("%s: staging folder left behind by an unfinished run", name)
		case strings.HasSuffix(name, ".parquet"):
			bad("%s: a shard that the manifest does not list", name)
		default:
			bad("%s: stray file", name)
		}
	}
	return m, problems, nil
}

// PlainShardPath reports whether a manifest's shard path names a file in the
// dataset folder itself (no folder, not hidden), the only kind Verify reads.
func PlainShardPath(p string) bool {
	return p != "" && !strings.Contains(p, "/") && !strings.HasPrefix(p, ".")
}

// VerifyShard checks one shard of dataset dir against manifest m (see
// Verify) and returns its problems, each prefixed with the shard's name. When
// there are none and each is not nil, each is called with the open shard
// (staged in tempDir when remote) and its size — so that a caller reading
// every row reads each shard once — and its error is returned.
func VerifyShard(ctx context.Context, fs FS, dir string, sh ShardEntry, m *Manifest, want *parquet.Schema, tempDir string, each func(f *os.File, size int64) error) ([]string, error) {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, sh.Path+": "+fmt.Sprintf(format, args...))
	}
	local, cleanup, got, err := LocalCopy(ctx, fs, Join(dir, sh.Path), tempDir)
	if err != nil {
		bad("missing or unreadable: %v", err)
		return problems, nil
	}
	defer cleanup()
	f, err := os.Open(local)
	if err != nil {
		bad("%v", err)
		return problems, nil
	}
	defer f.Close()
	var n int64
	if got == "" {
		// A local file: hash it here (a remote one was hashed as it was copied).
		h := sha256.New()
		if n, err = io.Copy(h, f); err != nil {
			bad("%v", err)
			return problems, nil
		}
		got = hex.EncodeToString(h.Sum(nil))
	} else {
		st, err := f.Stat()
		if err != nil {
			bad("%v", err)
			return problems, nil
		}
		n = st.Size()
	}
	if n != sh.Bytes {
		bad("%d bytes, manifest says %d", n, sh.Bytes)
	}
	if got != sh.SHA256 {
		bad("sha256 %s…, manifest says %s…", got[:12], sh.SHA256[:min(12, len(sh.SHA256))])
	}
	pf, err := openShard(f, n)
	if err != nil {
		bad("not a readable Parquet file: %v", err)
		return problems, nil
	}
	if pf.NumRows() != sh.Rows {
		bad("%d rows, manifest says %d", pf.NumRows(), sh.Rows)
	}
	for _, k := range []string{"pretext.task", "pretext.config_hash", "pretext.seed", "pretext.schema_version"} {
		v := map[string]string{
			"pretext.task": m.Task, "pretext.config_hash": m.ConfigHash,
			"pretext.seed": strconv.FormatInt(m.Seed, 10), "pretext.schema_version": m.SchemaVersion,
		}[k]
		if got, ok := pf.Lookup(k); !ok || got != v {
			bad("footer %s = %q, manifest says %q", k, got, v)
		}
	}
	if want != nil && !sameSchema(pf.Schema(), want) {
		bad("schema differs from the %s row type", m.Task)
	}
	if len(problems) > 0 || each == nil {
		return problems, nil
	}
	return nil, each(f, n)
}

func sameSchema(a, b *parquet.Schema) bool { return a.String() == b.String() }

// LocalCopy gives a local path for name, which Parquet readers need (Beam's
// filesystems have no random access): on the local filesystem the file
// itself (sum is then ""), else a temporary copy in tempDir ("" = the
// system's) hashed with SHA-256 while it is copied. cleanup removes the copy.
func LocalCopy(ctx context.Context, fs FS, name, tempDir string) (local string, cleanup func(), sum string, err error) {
	if !strings.Contains(name, "://") {
		if _, err := os.Stat(name); err != nil {
			return "", nil, "", err
		}
		return name, func() {}, "", nil
	}
	r, err := fs.OpenRead(ctx, name)
	if err != nil {
		return "", nil, "", err
	}
	defer r.Close()
	tmp, err := os.CreateTemp(tempDir, "pretext-shard-*.parquet")
	if err != nil {
		return "", nil, "", err
	}
	cleanup = func() { os.Remove(tmp.Name()) }
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		tmp.Close()
		cleanup()
		return "", nil, "", err
	}
	if err := tmp.Close(); err != nil {
		cleanup()
		return "", nil, "", err
	}
	return tmp.Name(), cleanup, hex.EncodeToString(h.Sum(nil)), nil
}

// openShard opens a Parquet file, turning a parquet-go panic on a corrupt
// footer or page index into an error: a damaged shard is a problem to
// report, not a crash of the reader.
func openShard(f io.ReaderAt, size int64) (pf *parquet.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			pf, err = nil, fmt.Errorf("corrupt footer or page index: %v", p)
		}
	}()
	return parquet.OpenFile(f, size)
}
