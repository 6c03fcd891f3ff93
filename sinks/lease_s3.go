package sinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func init() {
	newLeaseStores["s3"] = func(context.Context) (leaseStore, error) {
		return s3Leases{client: s3LeaseClient}, nil
	}
}

// ErrNoConditionalWrites is the refusal of an S3 endpoint that does not
// support conditional writes (If-None-Match and If-Match on PutObject):
// without them two runs could take one output folder's lease at once, so
// pretext stops instead of writing.
var ErrNoConditionalWrites = errors.New("the object store does not support conditional writes (PutObject with If-None-Match and If-Match), which keep two runs from writing one output folder at once; use Amazon S3 or an S3-compatible store that supports them")

// s3LeaseClient is the process's client for leases on s3://, made on first
// use. Its configuration comes from the AWS SDK's default chain, as Beam's
// s3 filesystem and pipelines' s3 listing make theirs, so that leases and
// data see one account and region.
var s3LeaseClient = sync.OnceValues(func() (*s3.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		return nil, fmt.Errorf("sinks: loading the AWS configuration: %w", err)
	}
	return s3.NewFromConfig(cfg), nil
})

// s3Leases keeps leases in S3 objects with conditional writes, so that S3
// itself decides which of two racing runs gets a lease: creation is a
// PutObject with If-None-Match: *, a lease's version is its ETag, and
// replacement and removal carry If-Match: <ETag read>. A failed condition
// (412 PreconditionFailed, or 409 ConditionalRequestConflict when another
// conditional write to the key is in flight) is errLeaseExists or
// errLeaseChanged.
//
// An endpoint that answers NotImplemented to the conditions, or that
// ignores them (checked at every creation: creating the lease a second
// time must fail), is ErrNoConditionalWrites rather than a silent race.
type s3Leases struct {
	client func() (*s3.Client, error)
}

func (s s3Leases) open(name string) (*s3.Client, *string, *string, error) {
	c, err := s.client()
	if err != nil {
		return nil, nil, nil, err
	}
	bucket, key, err := objectKey(name)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, aws.String(bucket), aws.String(key), nil
}

func (s s3Leases) create(ctx context.Context, name string, data []byte) error {
	c, bucket, key, err := s.open(name)
	if err != nil {
		return err
	}
	put := func() error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data),
			ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*")})
		return s3Err(name, err, errLeaseExists)
	}
	if err := ownWriteOr(ctx, s, name, data, put()); err != nil {
		return err
	}
	// A store that ignores If-None-Match lets this second creation through.
	if err := put(); err == nil {
		c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key}) // best effort: a lease means nothing here
		return fmt.Errorf("%s: %w (If-None-Match was ignored)", name, ErrNoConditionalWrites)
	}
	return nil
}

func (s s3Leases) read(ctx context.Context, name string) ([]byte, string, error) {
	c, bucket, key, err := s.open(name)
	if err != nil {
		return nil, "", err
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key})
	if err != nil {
		return nil, "", s3Err(name, err, errLeaseChanged)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	if aws.ToString(out.ETag) == "" {
		return nil, "", fmt.Errorf("%s: %w (no ETag)", name, ErrNoConditionalWrites)
	}
	return data, aws.ToString(out.ETag), nil
}

func (s s3Leases) replace(ctx context.Context, name string, data []byte, version string) error {
	c, bucket, key, err := s.open(name)
	if err != nil {
		return err
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data),
		ContentType: aws.String("application/json"), IfMatch: aws.String(version)})
	err = s3Err(name, err, errLeaseChanged)
	if errors.Is(err, iofs.ErrNotExist) {
		err = errLeaseChanged // S3 answers If-Match on a missing key with NoSuchKey
	}
	return ownWriteOr(ctx, s, name, data, err)
}

func (s s3Leases) remove(ctx context.Context, name, version string) error {
	c, bucket, key, err := s.open(name)
	if err != nil {
		return err
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key, IfMatch: aws.String(version)})
	err = s3Err(name, err, errLeaseChanged)
	if !errors.Is(err, ErrNoConditionalWrites) {
		return err
	}
	// An endpoint with conditional writes but without conditional deletes:
	// check, then delete. Between the two, a run that found this lease
	// stale (no heartbeat for LeaseStale) could take it over and lose its
	// new lease to this deletion; a run releasing its lease is alive, so
	// that takes a heartbeat stalled for minutes and a takeover landing
	// within one round trip of the release. An endpoint that ignores
	// If-Match on DeleteObject leaves the same window, unseen.
	_, cur, err := s.read(ctx, name)
	if err != nil {
		return err
	}
	if cur != version {
		return errLeaseChanged
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key})
	return s3Err(name, err, errLeaseChanged)
}

// s3Err maps what S3 answers to the lease store's errors: a failed
// condition is precondition (errLeaseExists or errLeaseChanged), a missing
// key iofs.ErrNotExist, a condition the endpoint does not implement
// ErrNoConditionalWrites.
func s3Err(name string, err, precondition error) error {
	if err == nil {
		return nil
	}
	var code string
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	var status int
	var httpErr interface{ HTTPStatusCode() int }
	if errors.As(err, &httpErr) {
		status = httpErr.HTTPStatusCode()
	}
	switch {
	case code == "PreconditionFailed" || code == "ConditionalRequestConflict" || status == http.StatusPreconditionFailed:
		return precondition
	case code == "NoSuchKey" || (status == http.StatusNotFound && code != "NoSuchBucket"):
		return fmt.Errorf("%s: %w", name, iofs.ErrNotExist)
	case code == "NotImplemented" || status == http.StatusNotImplemented:
		return fmt.Errorf("%s: %w (%v)", name, ErrNoConditionalWrites, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}
