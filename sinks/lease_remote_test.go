package sinks

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"
)

// The leases on gs:// and s3:// against fakes of the two APIs, served by
// httptest and reached by the real clients: the fakes decide preconditions
// the way the stores document them, so what is checked here is that the
// clients send them and that the answers are read right.

// fakeObject is one object of a fake store.
type fakeObject struct {
	data []byte
	gen  int64 // GCS generation
}

func (o fakeObject) etag() string {
	sum := md5.Sum(o.data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// fakeStore is the state both fakes keep: objects by "bucket/key", and
// writes to answer with a 503 after applying them (the answer lost, as a
// timeout would lose it).
type fakeStore struct {
	t         *testing.T
	mu        sync.Mutex
	objects   map[string]fakeObject
	gen       int64
	loseReply int
}

func newFakeStore(t *testing.T) *fakeStore {
	return &fakeStore{t: t, objects: map[string]fakeObject{}}
}

// put stores data at key and reports whether the reply is to be lost.
func (f *fakeStore) put(key string, data []byte) (fakeObject, bool) {
	f.gen++
	o := fakeObject{data: data, gen: f.gen}
	f.objects[key] = o
	lose := f.loseReply > 0
	if lose {
		f.loseReply--
	}
	return o, lose
}

func (f *fakeStore) loseNextReply() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loseReply = 1
}

func (f *fakeStore) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.objects)
}

// fakeGCS serves what the storage client uses of the JSON API (multipart
// upload and delete, with ifGenerationMatch) and of the XML API (the
// client's default for reads: GET /bucket/object, the generation in
// X-Goog-Generation).
type fakeGCS struct{ *fakeStore }

func (f fakeGCS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, q := r.URL.EscapedPath(), r.URL.Query()
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/upload/storage/v1/b/"):
		bucket, _, _ := strings.Cut(strings.TrimPrefix(p, "/upload/storage/v1/b/"), "/")
		if q.Get("uploadType") != "multipart" {
			f.t.Errorf("fake GCS: upload type %q", q.Get("uploadType"))
		}
		name, data, err := readMultipart(r)
		if err != nil {
			gcsFail(w, http.StatusBadRequest, err.Error())
			return
		}
		key := bucket + "/" + name
		if q.Has("ifGenerationMatch") {
			want, _ := strconv.ParseInt(q.Get("ifGenerationMatch"), 10, 64)
			cur, ok := f.objects[key]
			if (want == 0 && ok) || (want != 0 && (!ok || cur.gen != want)) {
				gcsFail(w, http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold.")
				return
			}
		}
		o, lose := f.put(key, data)
		if lose {
			gcsFail(w, http.StatusServiceUnavailable, "backend error")
			return
		}
		crc := make([]byte, 4)
		binary.BigEndian.PutUint32(crc, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"kind": "storage#object", "bucket": bucket, "name": name,
			"generation": fmt.Sprint(o.gen), "metageneration": "1", "size": fmt.Sprint(len(data)),
			"contentType": "application/json", "crc32c": base64.StdEncoding.EncodeToString(crc),
		})
	case r.Method == http.MethodDelete && strings.HasPrefix(p, "/storage/v1/b/"):
		bucket, name, _ := strings.Cut(strings.TrimPrefix(p, "/storage/v1/b/"), "/o/")
		name, _ = url.PathUnescape(name)
		key := bucket + "/" + name
		cur, ok := f.objects[key]
		if !ok {
			gcsFail(w, http.StatusNotFound, "No such object: "+key)
			return
		}
		if q.Has("ifGenerationMatch") && q.Get("ifGenerationMatch") != fmt.Sprint(cur.gen) {
			gcsFail(w, http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold.")
			return
		}
		delete(f.objects, key)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && !strings.HasPrefix(p, "/storage/") && !strings.HasPrefix(p, "/upload/"):
		key, _ := url.PathUnescape(strings.TrimPrefix(p, "/"))
		cur, ok := f.objects[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "<Error><Code>NoSuchKey</Code></Error>")
			return
		}
		w.Header().Set("X-Goog-Generation", fmt.Sprint(cur.gen))
		w.Header().Set("X-Goog-Metageneration", "1")
		w.Header().Set("Content-Length", fmt.Sprint(len(cur.data)))
		w.Write(cur.data)
	default:
		f.t.Errorf("fake GCS: unexpected %s %s", r.Method, r.URL)
		gcsFail(w, http.StatusNotImplemented, "not faked")
	}
}

// readMultipart reads the storage client's multipart/related upload: the
// object's metadata (JSON), then its bytes.
func readMultipart(r *http.Request) (name string, data []byte, err error) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", nil, err
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	meta, err := mr.NextPart()
	if err != nil {
		return "", nil, err
	}
	var attrs struct{ Name string }
	if err := json.NewDecoder(meta).Decode(&attrs); err != nil {
		return "", nil, err
	}
	media, err := mr.NextPart()
	if err != nil {
		return "", nil, err
	}
	data, err = io.ReadAll(media)
	return attrs.Name, data, err
}

func gcsFail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

// What a fake S3 endpoint does with a condition it is sent.
type s3Conditions int

const (
	s3Honour         s3Conditions = iota
	s3NotImplemented              // 501 NotImplemented, as some S3-compatible stores answer
	s3Ignore                      // writes unconditionally, as older ones do
)

// fakeS3 serves path-style PutObject, GetObject and DeleteObject with
// If-None-Match and If-Match (ETag: the MD5 of the bytes, as S3's for a
// single-part upload).
type fakeS3 struct {
	*fakeStore
	put, del s3Conditions
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/"))
	cur, exists := f.objects[key]
	ifMatch, ifNoneMatch := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	conditional := ifMatch != "" || ifNoneMatch != ""
	switch r.Method {
	case http.MethodPut:
		data, err := io.ReadAll(r.Body) // over http the SDK sends no aws-chunked framing
		if err != nil {
			s3Fail(w, http.StatusBadRequest, "InvalidRequest", err.Error())
			return
		}
		if conditional && f.put == s3NotImplemented {
			s3Fail(w, http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented")
			return
		}
		if f.put == s3Honour {
			switch {
			case ifNoneMatch == "*" && exists:
				s3Fail(w, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
				return
			case ifMatch != "" && !exists:
				s3Fail(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
				return
			case ifMatch != "" && ifMatch != cur.etag():
				s3Fail(w, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
				return
			}
		}
		o, lose := f.fakeStore.put(key, data)
		if lose {
			s3Fail(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Please reduce your request rate.")
			return
		}
		w.Header().Set("ETag", o.etag())
	case http.MethodGet:
		if !exists {
			s3Fail(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		w.Header().Set("ETag", cur.etag())
		w.Header().Set("Content-Length", fmt.Sprint(len(cur.data)))
		w.Write(cur.data)
	case http.MethodDelete:
		if ifMatch != "" && f.del == s3NotImplemented {
			s3Fail(w, http.StatusNotImplemented, "NotImplemented", "A header you provided implies functionality that is not implemented")
			return
		}
		if ifMatch != "" && f.del == s3Honour {
			if !exists {
				s3Fail(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
				return
			}
			if ifMatch != cur.etag() {
				s3Fail(w, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
				return
			}
		}
		delete(f.objects, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		f.t.Errorf("fake S3: unexpected %s %s", r.Method, r.URL)
		s3Fail(w, http.StatusNotImplemented, "NotImplemented", "not faked")
	}
}

func s3Fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", code, msg)
}

// remoteLeases points the lease store of scheme at a fresh fake, for the
// test's duration.
func remoteLeases(t *testing.T, scheme string) (*fakeStore, *fakeS3) {
	t.Helper()
	f := newFakeStore(t)
	var store leaseStore
	var s3f *fakeS3
	switch scheme {
	case "gs":
		srv := httptest.NewServer(fakeGCS{f})
		t.Cleanup(srv.Close)
		c, err := storage.NewClient(context.Background(), option.WithEndpoint(srv.URL+"/storage/v1/"), option.WithoutAuthentication())
		if err != nil {
			t.Fatal(err)
		}
		c.SetRetry(storage.WithBackoff(gax.Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}))
		t.Cleanup(func() { c.Close() })
		store = gcsLeases{client: func() (*storage.Client, error) { return c, nil }}
	case "s3":
		s3f = &fakeS3{fakeStore: f}
		srv := httptest.NewServer(s3f)
		t.Cleanup(srv.Close)
		c := s3.New(s3.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String(srv.URL),
			UsePathStyle: true,
			Credentials:  credentials.NewStaticCredentialsProvider("AKIDFAKE", "fake-secret", ""),
			Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			}),
		})
		store = s3Leases{client: func() (*s3.Client, error) { return c, nil }}
	}
	useLeaseStore(t, scheme, store)
	return f, s3f
}

// useLeaseStore registers store for scheme until the test ends.
func useLeaseStore(t *testing.T, scheme string, store leaseStore) {
	old := newLeaseStores[scheme]
	newLeaseStores[scheme] = func(context.Context) (leaseStore, error) { return store, nil }
	t.Cleanup(func() { newLeaseStores[scheme] = old })
}

// The gs:// and s3:// schemes have their conditional stores, made without
// a client: nothing is dialled until a lease is used.
func TestRemoteLeaseStoresRegistered(t *testing.T) {
	ctx := context.Background()
	for root, want := range map[string]leaseStore{"gs://b/out": gcsLeases{}, "s3://b/out": s3Leases{}} {
		store, err := leaseStoreFor(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%T", store) != fmt.Sprintf("%T", want) {
			t.Errorf("%s: the lease store is %T, want %T", root, store, want)
		}
	}
}

// Eight runs racing for a free gs:// or s3:// folder: exactly one gets the
// lease, because the store's precondition decides, not a check before the
// write.
func TestRemoteLeaseRace(t *testing.T) {
	for _, scheme := range []string{"gs", "s3"} {
		t.Run(scheme, func(t *testing.T) {
			remoteLeases(t, scheme)
			root := scheme + "://bucket/out"
			const n = 8
			got := make(chan *Lease, n)
			errs := make(chan error, n)
			start := make(chan struct{})
			for i := range n {
				go func() {
					<-start
					l, err := AcquireLease(context.Background(), root, fmt.Sprintf("run-%d", i))
					if err != nil {
						errs <- err
						return
					}
					got <- l
				}()
			}
			close(start)
			var winners []*Lease
			for range n {
				select {
				case l := <-got:
					winners = append(winners, l)
				case err := <-errs:
					if held := (*HeldError)(nil); !errors.As(err, &held) {
						t.Errorf("a losing run: %v, want a HeldError", err)
					}
				}
			}
			if len(winners) != 1 {
				t.Errorf("%d runs took the lease, want 1", len(winners))
			}
			for _, l := range winners {
				l.Release(context.Background())
			}
		})
	}
}

// A conditional write applied by the store whose answer was lost: the
// client retries, the retry fails the precondition the first attempt
// changed, and the store sees its own bytes and counts the write done.
func TestRemoteLeaseRetriedWrite(t *testing.T) {
	for _, scheme := range []string{"gs", "s3"} {
		t.Run(scheme, func(t *testing.T) {
			f, _ := remoteLeases(t, scheme)
			root := scheme + "://bucket/out"
			ctx := context.Background()
			f.loseNextReply()
			l, err := AcquireLease(ctx, root, "run-1")
			if err != nil {
				t.Fatalf("a created lease whose answer was lost: %v", err)
			}
			f.loseNextReply()
			l.refresh(ctx)
			if err := l.Lost(); err != nil {
				t.Fatalf("a heartbeat whose answer was lost: %v", err)
			}
			if err := CheckLease(ctx, root, "run-1"); err != nil {
				t.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if n := f.len(); n != 0 {
				t.Errorf("after release: %d objects", n)
			}
		})
	}
}

// An S3-compatible endpoint without conditional writes, answering
// NotImplemented or ignoring the headers, stops the run with one line
// saying so (ErrNoConditionalWrites), instead of letting two runs write.
func TestRemoteLeaseWithoutConditionalWrites(t *testing.T) {
	for name, put := range map[string]s3Conditions{"not implemented": s3NotImplemented, "ignored": s3Ignore} {
		t.Run(name, func(t *testing.T) {
			f, s3f := remoteLeases(t, "s3")
			s3f.put = put
			_, err := AcquireLease(context.Background(), "s3://bucket/out", "run-1")
			if !errors.Is(err, ErrNoConditionalWrites) {
				t.Fatalf("got %v, want ErrNoConditionalWrites", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("more than one line: %q", err)
			}
			if n := f.len(); n != 0 {
				t.Errorf("%d objects left", n)
			}
		})
	}
}

// An endpoint with conditional writes but without conditional deletes:
// the release checks the ETag, then deletes, and leaves another run's
// lease alone.
func TestRemoteLeaseWithoutConditionalDeletes(t *testing.T) {
	f, s3f := remoteLeases(t, "s3")
	s3f.del = s3NotImplemented
	root := "s3://bucket/out"
	ctx := context.Background()
	l, err := AcquireLease(ctx, root, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.len(); n != 0 {
		t.Fatalf("after release: %d objects", n)
	}

	old, err := AcquireLease(ctx, root, "run-2")
	if err != nil {
		t.Fatal(err)
	}
	close(old.stop)
	<-old.done
	forge(t, root, func(i *LeaseInfo) { i.Heartbeat = time.Now().Add(-LeaseStale - time.Second) })
	next, err := AcquireLease(ctx, root, "run-3")
	if err != nil {
		t.Fatal(err)
	}
	store, _ := leaseStoreFor(ctx, root)
	if err := store.remove(ctx, LeasePath(root), old.version); !errors.Is(err, errLeaseChanged) {
		t.Errorf("removing a lease taken over: %v, want errLeaseChanged", err)
	}
	if i, err := ReadLease(ctx, root); err != nil || i == nil || i.RunID != "run-3" {
		t.Fatalf("the old holder's removal took the new lease: %v, %v", i, err)
	}
	if err := next.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
