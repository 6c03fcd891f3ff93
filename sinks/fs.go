package sinks

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// FS is the small filesystem interface the dataset contract reads and writes
// through: local folders, gs://, s3:// and, in tests, memfs://. Its methods
// are those of Beam's io/FS, so a Beam filesystem is an FS
// as it is; the package itself links no Beam, so that the trainer and the
// inspector, which read datasets, do not link Beam either. Local paths are
// served here (LocalFS); other schemes by the opener that a binary which
// links Beam plugs in with SetRemoteFS (package sinks/beamsink does, for
// every Beam filesystem the binary registers).
type FS interface {
	io.Closer
	// List expands a glob to the names that match it (nil for none).
	List(ctx context.Context, glob string) ([]string, error)
	// OpenRead opens a file for reading.
	OpenRead(ctx context.Context, name string) (io.ReadCloser, error)
	// OpenWrite creates or truncates a file; closing the writer commits it.
	OpenWrite(ctx context.Context, name string) (io.WriteCloser, error)
	// Size is a file's size in bytes.
	Size(ctx context.Context, name string) (int64, error)
}

// The optional abilities of an FS, as Beam's filesystems name them.
type (
	// Remover removes a file.
	Remover interface {
		Remove(ctx context.Context, name string) error
	}
	// Renamer moves a file within its filesystem.
	Renamer interface {
		Rename(ctx context.Context, oldpath, newpath string) error
	}
	// Copier copies a file within its filesystem.
	Copier interface {
		Copy(ctx context.Context, oldpath, newpath string) error
	}
	// LastModifiedGetter tells when a file last changed.
	LastModifiedGetter interface {
		LastModified(ctx context.Context, name string) (time.Time, error)
	}
)

var (
	remoteMu sync.RWMutex
	remote   func(ctx context.Context, path string) (FS, error)
)

// SetRemoteFS plugs in the opener of paths with a scheme ("gs://…",
// "s3://…", "memfs://…"). Without one, such a path is an error that says
// the binary cannot read it.
func SetRemoteFS(open func(ctx context.Context, path string) (FS, error)) {
	remoteMu.Lock()
	defer remoteMu.Unlock()
	remote = open
}

// NewFS returns the filesystem of path: LocalFS for a path without a
// scheme, else the plugged-in opener's.
func NewFS(ctx context.Context, path string) (FS, error) {
	i := strings.Index(path, "://")
	if i <= 0 {
		return LocalFS{}, nil
	}
	remoteMu.RLock()
	open := remote
	remoteMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("%s: this program reads no %s:// paths (no filesystem for the scheme is linked)", path, path[:i])
	}
	return open(ctx, path)
}

// WriteFile writes data to name and commits it.
func WriteFile(ctx context.Context, fs FS, name string, data []byte) error {
	w, err := fs.OpenWrite(ctx, name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// CopyFile copies oldpath to newpath on fs, by its Copier when it has one.
func CopyFile(ctx context.Context, fs FS, oldpath, newpath string) error {
	if cp, ok := fs.(Copier); ok {
		return cp.Copy(ctx, oldpath, newpath)
	}
	r, err := fs.OpenRead(ctx, oldpath)
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := fs.OpenWrite(ctx, newpath)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// RenameFile moves oldpath to newpath on fs: by its Renamer, else a copy
// and a removal (which needs a Remover).
func RenameFile(ctx context.Context, fs FS, oldpath, newpath string) error {
	if rn, ok := fs.(Renamer); ok {
		return rn.Rename(ctx, oldpath, newpath)
	}
	rm, ok := fs.(Remover)
	if !ok {
		return fmt.Errorf("%T can neither rename nor remove files", fs)
	}
	if err := CopyFile(ctx, fs, oldpath, newpath); err != nil {
		return err
	}
	return rm.Remove(ctx, oldpath)
}

// LocalFS is the local filesystem, with the semantics of Beam's local one:
// List is filepath.Glob, OpenWrite creates the parent folders.
type LocalFS struct{}

func (LocalFS) Close() error { return nil }

func (LocalFS) List(_ context.Context, glob string) ([]string, error) { return filepath.Glob(glob) }

func (LocalFS) OpenRead(_ context.Context, name string) (io.ReadCloser, error) { return os.Open(name) }

func (LocalFS) OpenWrite(_ context.Context, name string) (io.WriteCloser, error) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
}

// Size opens the file to stat it, as Beam's local filesystem does, so a
// file that cannot be read has no size either.
func (LocalFS) Size(_ context.Context, name string) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return -1, err
	}
	return fi.Size(), nil
}

func (LocalFS) LastModified(_ context.Context, name string) (time.Time, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

func (LocalFS) Remove(_ context.Context, name string) error { return os.Remove(name) }

func (LocalFS) Rename(_ context.Context, oldpath, newpath string) error {
	return os.Rename(oldpath, newpath)
}

func (LocalFS) Copy(_ context.Context, oldpath, newpath string) error {
	src, err := os.Open(oldpath)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(newpath)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
