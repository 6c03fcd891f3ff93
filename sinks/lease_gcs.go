package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

func init() {
	newLeaseStores["gs"] = func(context.Context) (leaseStore, error) {
		return gcsLeases{client: gcsLeaseClient}, nil
	}
}

// gcsLeaseClient is the process's client for leases on gs://, made on first
// use: finding default credentials may ask the metadata server, which a run
// that never touches gs:// should not wait for. Beam's gcs filesystem makes
// its clients the same way (read-write scope, without authentication
// where no credentials are found), so leases and data see one account. One
// client serves every lease: a heartbeat every 10 s would otherwise open a
// connection pool each time.
var gcsLeaseClient = sync.OnceValues(func() (*storage.Client, error) {
	ctx := context.Background() // the client outlives any one call
	c, err := storage.NewClient(ctx, option.WithScopes(storage.ScopeReadWrite))
	if err != nil {
		c, err = storage.NewClient(ctx, option.WithoutAuthentication())
	}
	if err != nil {
		return nil, fmt.Errorf("sinks: making a GCS client: %w", err)
	}
	return c, nil
})

// gcsLeases keeps leases in GCS objects with generation preconditions, so
// that the object store itself decides which of two racing runs gets a
// lease: creation with ifGenerationMatch=0 (the object must not exist), a
// lease's version is its object generation, and replacement and removal
// carry ifGenerationMatch=<generation read>. A failed precondition (HTTP
// 412) is errLeaseExists or errLeaseChanged.
type gcsLeases struct {
	client func() (*storage.Client, error)
}

func (s gcsLeases) object(name string) (*storage.ObjectHandle, error) {
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	bucket, key, err := objectKey(name)
	if err != nil {
		return nil, err
	}
	return c.Bucket(bucket).Object(key), nil
}

func (s gcsLeases) create(ctx context.Context, name string, data []byte) error {
	o, err := s.object(name)
	if err != nil {
		return err
	}
	err = gcsWrite(ctx, o.If(storage.Conditions{DoesNotExist: true}), data)
	return ownWriteOr(ctx, s, name, data, gcsErr(name, err, errLeaseExists))
}

func (s gcsLeases) read(ctx context.Context, name string) ([]byte, string, error) {
	o, err := s.object(name)
	if err != nil {
		return nil, "", err
	}
	r, err := o.NewReader(ctx)
	if err != nil {
		return nil, "", gcsErr(name, err, errLeaseChanged)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, "", gcsErr(name, err, errLeaseChanged)
	}
	return data, strconv.FormatInt(r.Attrs.Generation, 10), nil
}

func (s gcsLeases) replace(ctx context.Context, name string, data []byte, version string) error {
	o, gen, err := s.versioned(name, version)
	if err != nil {
		return err
	}
	err = gcsWrite(ctx, o.If(storage.Conditions{GenerationMatch: gen}), data)
	return ownWriteOr(ctx, s, name, data, gcsErr(name, err, errLeaseChanged))
}

func (s gcsLeases) remove(ctx context.Context, name, version string) error {
	o, gen, err := s.versioned(name, version)
	if err != nil {
		return err
	}
	return gcsErr(name, o.If(storage.Conditions{GenerationMatch: gen}).Delete(ctx), errLeaseChanged)
}

func (s gcsLeases) versioned(name, version string) (*storage.ObjectHandle, int64, error) {
	gen, err := strconv.ParseInt(version, 10, 64)
	if err != nil || gen <= 0 {
		return nil, 0, fmt.Errorf("%s: lease version %q is not a GCS generation", name, version)
	}
	o, err := s.object(name)
	return o, gen, err
}

// gcsWrite uploads data in one request. A lease (a few hundred bytes) fits
// in the smallest chunk, 256 KiB: the client buffers it, sends it as one
// multipart upload and retries that on a transient error. ChunkSize 0 would
// send it unbuffered, which the client never retries; the default, 16 MiB,
// would allocate 16 MiB a heartbeat.
func gcsWrite(ctx context.Context, o *storage.ObjectHandle, data []byte) error {
	w := o.NewWriter(ctx)
	w.ContentType = "application/json"
	w.ChunkSize = 256 << 10
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// gcsErr maps what GCS answers to the lease store's errors: a failed
// precondition is precondition (errLeaseExists or errLeaseChanged), a
// missing object iofs.ErrNotExist.
func gcsErr(name string, err, precondition error) error {
	var gerr *googleapi.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed:
		return precondition
	case errors.Is(err, storage.ErrObjectNotExist):
		return fmt.Errorf("%s: %w", name, iofs.ErrNotExist)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// ownWriteOr (of both object-store lease stores) returns err, unless err is a failed precondition on a write
// whose bytes are already there: the client retries a conditional write
// whose answer was lost (a timeout, a 503), and the retry then fails the
// precondition that the first attempt's own write changed. A lease's bytes
// name its run and its heartbeat to the nanosecond, so equal bytes are this
// very write.
func ownWriteOr(ctx context.Context, s leaseStore, name string, data []byte, err error) error {
	if !errors.Is(err, errLeaseExists) && !errors.Is(err, errLeaseChanged) {
		return err
	}
	if cur, _, rerr := s.read(ctx, name); rerr == nil && bytes.Equal(cur, data) {
		return nil
	}
	return err
}

// objectKey splits an object store URI, scheme://bucket/key, as it is: no
// URL parsing, which would cut a name at a '#' or '?'.
func objectKey(name string) (bucket, key string, err error) {
	_, rest, ok := cutScheme(name)
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("%s: not scheme://bucket/object", name)
	}
	return bucket, key, nil
}
