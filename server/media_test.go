package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// Media uploads (spec/api.md §10.1–10.3) against a real server with real
// files.

// blobOf returns n pseudo-random bytes and their SHA-256.
func blobOf(seed uint64, n int) ([]byte, string) {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 0xb1}).Read(b)
	return b, sha(b)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// uploadAll uploads data in chunks of chunk bytes and returns the final
// status.
func uploadAll(t *testing.T, u *user, data []byte, ctype string, chunk int) api.UploadStatus {
	t.Helper()
	ctx := context.Background()
	st, err := u.c.CreateUpload(ctx, api.UploadRequest{Size: int64(len(data)), SHA256: sha(data), ContentType: ctype})
	if err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	for !st.Complete {
		end := min(int(st.Offset)+chunk, len(data))
		if st, err = u.c.UploadChunk(ctx, st.ID, st.Offset, bytes.NewReader(data[st.Offset:end])); err != nil {
			t.Fatalf("UploadChunk: %v", err)
		}
	}
	return st
}

// do sends a raw request as u (or without credentials if u is nil).
func do(t *testing.T, srv *parleytest.Server, u *user, method, path string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if u != nil {
		req.SetBasicAuth(u.creds.Username+"."+strconv.FormatUint(uint64(u.creds.DeviceID), 10), u.creds.Secret)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func download(t *testing.T, u *user, sum string, offset int64) ([]byte, int64) {
	t.Helper()
	body, total, err := u.c.DownloadBlob(context.Background(), sum, offset)
	if err != nil {
		t.Fatalf("DownloadBlob(%d): %v", offset, err)
	}
	defer body.Close()
	return readAll(t, body), total
}

func TestUploadInChunks(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	data, sum := blobOf(1, 3<<20+5)
	st, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: int64(len(data)), SHA256: sum, ContentType: "Image/PNG"})
	if err != nil {
		t.Fatal(err)
	}
	if st.ID == "" || st.Offset != 0 || st.Size != int64(len(data)) || st.Complete || st.Blob != "" ||
		st.Expires <= time.Now().UnixMilli() {
		t.Fatalf("CreateUpload = %+v", st)
	}
	id := st.ID
	for _, end := range []int{1 << 20, 2 << 20, 3 << 20, len(data)} {
		if st, err = alice.c.UploadChunk(ctx, id, st.Offset, bytes.NewReader(data[st.Offset:end])); err != nil {
			t.Fatalf("UploadChunk to %d: %v", end, err)
		}
		if st.Offset != int64(end) || st.Complete != (end == len(data)) {
			t.Fatalf("after the chunk to %d: %+v", end, st)
		}
		if end < len(data) {
			got, err := alice.c.UploadStatus(ctx, id)
			if err != nil || got != st {
				t.Fatalf("UploadStatus = %+v, %v; want %+v", got, err, st)
			}
		}
	}
	if st.Blob != sum || st.ID != id || st.Expires < time.Now().Add(29*24*time.Hour).UnixMilli() {
		t.Fatalf("final status = %+v, want blob %s kept 30 days", st, sum)
	}
	// The finished upload is gone; the blob is served, by anyone.
	_, err = alice.c.UploadStatus(ctx, id)
	wantCode(t, err, api.CodeNotFound)
	got, total := download(t, alice, sum, 0)
	if !bytes.Equal(got, data) || total != int64(len(data)) {
		t.Fatalf("download: %d bytes of %d, want the blob", len(got), total)
	}
	anon := transport.New(srv.URL, nil)
	if body, _, err := anon.DownloadBlob(ctx, sum, 3<<20); err != nil {
		t.Fatalf("download without credentials: %v", err)
	} else if b := readAll(t, body); !bytes.Equal(b, data[3<<20:]) {
		t.Fatalf("download from 3 MiB: %d bytes, want %d", len(b), len(data)-3<<20)
	}
	resp := do(t, srv, nil, "GET", "/v1/blobs/"+sum, nil, nil)
	if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
		t.Fatalf("Content-Type %q, want the upload's, canonical: image/png", ct)
	}
	if anon.BlobURL(sum) != srv.URL+"/v1/blobs/"+sum {
		t.Fatalf("BlobURL = %s", anon.BlobURL(sum))
	}
	// The metrics saw it.
	if n := metric(t, srv, "parley_upload_bytes_total"); n != float64(len(data)) {
		t.Errorf("parley_upload_bytes_total = %v, want %d", n, len(data))
	}
	if n := metric(t, srv, `parley_blobs_stored_total{how="uploaded"}`); n != 1 {
		t.Errorf(`parley_blobs_stored_total{how="uploaded"} = %v, want 1`, n)
	}
}

// metric reads one sample from the server's /metrics (-1 if absent).
func metric(t *testing.T, srv *parleytest.Server, name string) float64 {
	t.Helper()
	for line := range strings.Lines(string(readAll(t, do(t, srv, nil, "GET", "/metrics", nil, nil).Body))) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, v)
			}
			return f
		}
	}
	return -1
}

// errAfter reads b, then fails: a body cut off mid-stream.
type errAfter struct{ b []byte }

var errCut = errors.New("test: body cut off")

func (r *errAfter) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errCut
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// expectContinue sends every request with "Expect: 100-continue", so that
// its body goes only once the server's handler reads it: a test then
// knows the PATCH holds its upload when the body breaks.
type expectContinue struct{ rt http.RoundTripper }

func (e expectContinue) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Expect", "100-continue")
	return e.rt.RoundTrip(r)
}

// stalledPatch starts a PATCH of upload id from offset 0, as u, on a
// connection of its own with "Expect: 100-continue": once the server's
// handler reads the body it gets first, and then the body stalls until
// the test ends. It returns the PATCH's outcome.
func stalledPatch(t *testing.T, url string, u *user, id string, first []byte) <-chan error {
	t.Helper()
	tr := &http.Transport{ExpectContinueTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	c := transport.New(url, &http.Client{Transport: expectContinue{tr}}).As(u.creds)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	done := make(chan error, 1)
	go func() {
		_, err := c.UploadChunk(context.Background(), id, 0, pr)
		done <- err
	}()
	// The body flows only once the server's handler reads it.
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	return done
}

// TestUploadInterruptedResumes: a PATCH whose body is cut off keeps what
// arrived; the client asks for the offset (HEAD, GET) and resumes.
func TestUploadInterruptedResumes(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	data, sum := blobOf(2, 2<<20)

	tr := &http.Transport{ExpectContinueTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	cut := transport.New(srv.URL, &http.Client{Transport: expectContinue{tr}}).As(alice.creds)

	t.Run("body reader fails", func(t *testing.T) {
		st, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: int64(len(data)), SHA256: sum, ContentType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cut.UploadChunk(ctx, st.ID, 0, &errAfter{b: data[:700<<10]}); !errors.Is(err, errCut) {
			t.Fatalf("cut-off UploadChunk = %v, want the body's error", err)
		}
		head := do(t, srv, alice, "HEAD", "/v1/uploads/"+st.ID, nil, nil)
		off, err := strconv.ParseInt(head.Header.Get(api.HeaderUploadOffset), 10, 64)
		if head.StatusCode != http.StatusOK || err != nil || off <= 0 || off > 700<<10 {
			t.Fatalf("HEAD after the cut: %s, Upload-Offset %q; want 200 and 0 < offset <= 700 KiB",
				head.Status, head.Header.Get(api.HeaderUploadOffset))
		}
		if got, err := alice.c.UploadStatus(ctx, st.ID); err != nil || got.Offset != off {
			t.Fatalf("GET after the cut = %+v, %v; want offset %d", got, err, off)
		}
		st, err = alice.c.UploadChunk(ctx, st.ID, off, bytes.NewReader(data[off:]))
		if err != nil || !st.Complete || st.Blob != sum {
			t.Fatalf("resumed UploadChunk = %+v, %v", st, err)
		}
		if got, _ := download(t, alice, sum, 0); !bytes.Equal(got, data) {
			t.Fatal("the resumed upload's blob differs")
		}
	})

	t.Run("connection closed", func(t *testing.T) {
		data, sum := blobOf(3, 1<<20)
		st, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: int64(len(data)), SHA256: sum, ContentType: "video/mp4"})
		if err != nil {
			t.Fatal(err)
		}
		// By hand: Content-Length for the whole rest, 300,000 bytes sent,
		// then the connection closes.
		conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("PATCH", srv.URL+"/v1/uploads/"+st.ID, nil)
		req.SetBasicAuth(alice.creds.Username+"."+strconv.FormatUint(uint64(alice.creds.DeviceID), 10), alice.creds.Secret)
		fmt.Fprintf(conn, "PATCH /v1/uploads/%s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nUpload-Offset: 0\r\n"+
			"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", st.ID, req.Header.Get("Authorization"), len(data))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.Contains(line, "100") {
			t.Fatalf("waiting for 100 Continue: %q, %v", line, err)
		}
		if _, err := conn.Write(data[:300_000]); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if got, err := alice.c.UploadStatus(ctx, st.ID); err != nil || got.Offset != 300_000 {
			t.Fatalf("status after the connection closed = %+v, %v; want offset 300000", got, err)
		}
		if st, err = alice.c.UploadChunk(ctx, st.ID, 300_000, bytes.NewReader(data[300_000:])); err != nil || !st.Complete {
			t.Fatalf("resumed UploadChunk = %+v, %v", st, err)
		}
	})
}

func TestUploadWrongOffset(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	data, sum := blobOf(4, 1000)
	st, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: 1000, SHA256: sum, ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := alice.c.UploadChunk(ctx, st.ID, 5, bytes.NewReader(data[5:100]))
	if ae := wantCode(t, err, api.CodeOffsetMismatch); ae.Status != http.StatusConflict || got.Offset != 0 || got.ID != st.ID {
		t.Fatalf("PATCH at 5 of 0: status %d, %+v", ae.Status, got)
	}
	if _, err := alice.c.UploadChunk(ctx, st.ID, 0, bytes.NewReader(data[:100])); err != nil {
		t.Fatal(err)
	}
	got, err = alice.c.UploadChunk(ctx, st.ID, 0, bytes.NewReader(data[:100]))
	wantCode(t, err, api.CodeOffsetMismatch)
	if got.Offset != 100 {
		t.Fatalf("offset_mismatch names offset %d, want 100", got.Offset)
	}
	resp := do(t, srv, alice, "PATCH", "/v1/uploads/"+st.ID, bytes.NewReader(data[:1]), map[string]string{api.HeaderUploadOffset: "7"})
	if resp.StatusCode != http.StatusConflict || resp.Header.Get(api.HeaderUploadOffset) != "100" {
		t.Fatalf("raw PATCH at 7: %s, Upload-Offset %q; want 409 and 100", resp.Status, resp.Header.Get(api.HeaderUploadOffset))
	}
	for _, bad := range []string{"", "abc", "-1", "+100", "0100", "1e2", "99999999999999999999"} {
		resp := do(t, srv, alice, "PATCH", "/v1/uploads/"+st.ID, bytes.NewReader(data[100:200]), map[string]string{api.HeaderUploadOffset: bad})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Upload-Offset %q: %s, want 400", bad, resp.Status)
		}
	}
	if st, err = alice.c.UploadChunk(ctx, st.ID, 100, bytes.NewReader(data[100:])); err != nil || !st.Complete {
		t.Fatalf("finishing: %+v, %v", st, err)
	}
}

func TestUploadDigestMismatch(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{StorageQuota: 5000})
	alice := register(t, srv, "alice", 0)
	data, real := blobOf(5, 3000)
	_, claimed := blobOf(6, 3000)
	st, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: 3000, SHA256: claimed, ContentType: "image/jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = alice.c.UploadChunk(ctx, st.ID, 0, bytes.NewReader(data[:2000])); err != nil {
		t.Fatal(err)
	}
	_, err = alice.c.UploadChunk(ctx, st.ID, 2000, bytes.NewReader(data[2000:]))
	if ae := wantCode(t, err, api.CodeDigestMismatch); ae.Status != http.StatusUnprocessableEntity {
		t.Fatalf("digest mismatch status %d, want 422", ae.Status)
	}
	_, err = alice.c.UploadStatus(ctx, st.ID)
	wantCode(t, err, api.CodeNotFound)
	for _, sum := range []string{claimed, real} {
		if resp := do(t, srv, nil, "GET", "/v1/blobs/"+sum, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET the blob of a refused upload: %s", resp.Status)
		}
	}
	checkNoFiles(t, srv)
	// Nothing counts against the quota: the whole of it is free.
	if _, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: 5000, SHA256: real, ContentType: "image/jpeg"}); err != nil {
		t.Fatalf("CreateUpload of the whole quota after a refused upload: %v", err)
	}
}

func TestUploadQuota(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{StorageQuota: 1000})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	a600, a600sum := blobOf(7, 600)
	st, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: 600, SHA256: a600sum, ContentType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	// The upload in progress reserves its size.
	_, sum500 := blobOf(8, 500)
	_, err = alice.c.CreateUpload(ctx, api.UploadRequest{Size: 500, SHA256: sum500, ContentType: "image/png"})
	if ae := wantCode(t, err, api.CodeQuotaExceeded); ae.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("quota_exceeded status %d, want 413", ae.Status)
	}
	if _, err := alice.c.UploadChunk(ctx, st.ID, 0, bytes.NewReader(a600)); err != nil {
		t.Fatal(err)
	}
	_, err = alice.c.CreateUpload(ctx, api.UploadRequest{Size: 401, SHA256: sum500, ContentType: "image/png"})
	wantCode(t, err, api.CodeQuotaExceeded)
	if _, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: 400, SHA256: sum500, ContentType: "image/png"}); err != nil {
		t.Fatalf("CreateUpload to exactly the quota: %v", err)
	}
	// Taking a stored blob counts too: bob owns 500, alice's 600 does not fit.
	b500 := uploadAll(t, bob, blobOfBytes(9, 500), "image/png", 500)
	_, err = bob.c.CreateUpload(ctx, api.UploadRequest{Size: 600, SHA256: a600sum, ContentType: "image/png"})
	wantCode(t, err, api.CodeQuotaExceeded)
	// A blob bob owns already costs nothing more.
	if st, err := bob.c.CreateUpload(ctx, api.UploadRequest{Size: 500, SHA256: b500.Blob, ContentType: "image/png"}); err != nil || !st.Complete {
		t.Fatalf("CreateUpload of a blob bob owns, at his quota: %+v, %v", st, err)
	}
}

func blobOfBytes(seed uint64, n int) []byte { b, _ := blobOf(seed, n); return b }

func TestUploadLimits(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{MaxUpload: 1000})
	alice := register(t, srv, "alice", 0)
	data, sum := blobOf(10, 1000)
	_, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: 1001, SHA256: sum, ContentType: "image/png"})
	if ae := wantCode(t, err, api.CodeTooLarge); ae.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("over MaxUpload: status %d", ae.Status)
	}
	for name, req := range map[string]api.UploadRequest{
		"size 0":             {Size: 0, SHA256: sum, ContentType: "image/png"},
		"negative size":      {Size: -1, SHA256: sum, ContentType: "image/png"},
		"uppercase digest":   {Size: 10, SHA256: strings.ToUpper(sum), ContentType: "image/png"},
		"short digest":       {Size: 10, SHA256: sum[:62], ContentType: "image/png"},
		"no content type":    {Size: 10, SHA256: sum},
		"not a media type":   {Size: 10, SHA256: sum, ContentType: "png"},
		"bad parameter":      {Size: 10, SHA256: sum, ContentType: "text/plain; charset"},
		"long content type":  {Size: 10, SHA256: sum, ContentType: "text/" + strings.Repeat("x", 300)},
		"spaces in the type": {Size: 10, SHA256: sum, ContentType: "te xt/plain"},
	} {
		_, err := alice.c.CreateUpload(ctx, req)
		if ae := wantCode(t, err, api.CodeBadRequest); ae.Status != http.StatusBadRequest {
			t.Fatalf("%s: status %d", name, ae.Status)
		}
	}
	st, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: 1000, SHA256: sum, ContentType: "text/plain; charset=UTF-8"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = alice.c.UploadChunk(ctx, st.ID, 0, bytes.NewReader(data[:400])); err != nil {
		t.Fatal(err)
	}
	// A body longer than the rest: with a Content-Length, refused before
	// it is read; without one (chunked), when the extra byte comes. Either
	// way nothing of it counts.
	long := append(bytes.Clone(data[400:]), 'x')
	_, err = alice.c.UploadChunk(ctx, st.ID, 400, bytes.NewReader(long))
	wantCode(t, err, api.CodeTooLarge)
	_, err = alice.c.UploadChunk(ctx, st.ID, 400, io.MultiReader(bytes.NewReader(long))) // no length: chunked
	wantCode(t, err, api.CodeTooLarge)
	if got, err := alice.c.UploadStatus(ctx, st.ID); err != nil || got.Offset != 400 {
		t.Fatalf("offset after refused bodies = %+v, %v; want 400", got, err)
	}
	if st, err = alice.c.UploadChunk(ctx, st.ID, 400, io.MultiReader(bytes.NewReader(data[400:]))); err != nil || !st.Complete {
		t.Fatalf("finishing with a chunked body: %+v, %v", st, err)
	}
	resp := do(t, srv, nil, "GET", "/v1/blobs/"+sum, nil, nil)
	if got := readAll(t, resp.Body); !bytes.Equal(got, data) || resp.Header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Fatalf("GET: %d bytes, Content-Type %q", len(got), resp.Header.Get("Content-Type"))
	}
	// A PATCH on a finished upload, and on no upload at all.
	_, err = alice.c.UploadChunk(ctx, st.ID, 1000, bytes.NewReader(nil))
	wantCode(t, err, api.CodeNotFound)
	_, err = alice.c.UploadChunk(ctx, "no-such-upload", 0, bytes.NewReader(data))
	wantCode(t, err, api.CodeNotFound)
}

func TestUploadDeduplicates(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{StorageQuota: 1500})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	data, sum := blobOf(11, 1000)
	uploadAll(t, alice, data, "image/gif", 1000)
	st, err := bob.c.CreateUpload(ctx, api.UploadRequest{Size: 1000, SHA256: sum, ContentType: "image/png"})
	if err != nil || st.ID != "" || !st.Complete || st.Offset != 1000 || st.Size != 1000 || st.Blob != sum || st.Expires == 0 {
		t.Fatalf("CreateUpload of a stored blob = %+v, %v; want it complete at once", st, err)
	}
	// It counts for bob now: 1000 of his 1500.
	_, other := blobOf(12, 501)
	_, err = bob.c.CreateUpload(ctx, api.UploadRequest{Size: 501, SHA256: other, ContentType: "image/png"})
	wantCode(t, err, api.CodeQuotaExceeded)
	// The same digest with another size is refused.
	_, err = bob.c.CreateUpload(ctx, api.UploadRequest{Size: 999, SHA256: sum, ContentType: "image/png"})
	wantCode(t, err, api.CodeDigestMismatch)
	// Stored once, served as first uploaded.
	if got := files(t, srv); len(got) != 1 {
		t.Fatalf("%d blob files, want 1", len(got))
	}
	if ct := do(t, srv, nil, "GET", "/v1/blobs/"+sum, nil, nil).Header.Get("Content-Type"); ct != "image/gif" {
		t.Fatalf("Content-Type %q, want the first upload's image/gif", ct)
	}
	if n := metric(t, srv, `parley_blobs_stored_total{how="deduplicated"}`); n != 1 {
		t.Errorf(`parley_blobs_stored_total{how="deduplicated"} = %v, want 1`, n)
	}
}

// TestUploadsBelongToTheirAccount: another account cannot see, write or
// finish your upload; another device of your account can.
func TestUploadsBelongToTheirAccount(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	mallory := register(t, srv, "mallory", 0)
	data, sum := blobOf(13, 2000)
	st, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: 2000, SHA256: sum, ContentType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = mallory.c.UploadChunk(ctx, st.ID, 0, bytes.NewReader(data))
	wantCode(t, err, api.CodeNotFound)
	_, err = mallory.c.UploadStatus(ctx, st.ID)
	wantCode(t, err, api.CodeNotFound)
	if resp := do(t, srv, mallory, "HEAD", "/v1/uploads/"+st.ID, nil, nil); resp.StatusCode != http.StatusNotFound ||
		resp.Header.Get(api.HeaderUploadOffset) != "" {
		t.Fatalf("mallory's HEAD: %s, Upload-Offset %q", resp.Status, resp.Header.Get(api.HeaderUploadOffset))
	}
	if got, err := alice.c.UploadStatus(ctx, st.ID); err != nil || got.Offset != 0 {
		t.Fatalf("alice's upload after mallory's tries = %+v, %v; want offset 0", got, err)
	}
	if _, err := alice.c.UploadChunk(ctx, st.ID, 0, bytes.NewReader(data[:1000])); err != nil {
		t.Fatal(err)
	}
	tablet := link(t, srv, alice, "tablet")
	if st, err = tablet.c.UploadChunk(ctx, st.ID, 1000, bytes.NewReader(data[1000:])); err != nil || !st.Complete {
		t.Fatalf("alice's tablet finishing her upload: %+v, %v", st, err)
	}
}

func TestParseFlagsMediaLimits(t *testing.T) {
	none := func(string) string { return "" }
	f, err := server.ParseFlags(nil, none)
	if err != nil || f.Config.MaxUpload != 2<<30 || f.Config.StorageQuota != 10<<30 {
		t.Fatalf("defaults: %+v, %v; want 2 GiB and 10 GiB", f, err)
	}
	env := map[string]string{"PARLEY_MAX_UPLOAD": "512MiB", "PARLEY_STORAGE_QUOTA": "1000"}
	f, err = server.ParseFlags([]string{"-storage-quota", "3TiB"}, func(k string) string { return env[k] })
	if err != nil || f.Config.MaxUpload != 512<<20 || f.Config.StorageQuota != 3<<40 {
		t.Fatalf("environment and flags: %+v, %v", f, err)
	}
	for _, bad := range []string{"0", "-1", "1.5GiB", "1GB", "GiB", "99999999999TiB", "x"} {
		if _, err := server.ParseFlags([]string{"-max-upload", bad}, none); err == nil {
			t.Errorf("-max-upload %q accepted", bad)
		}
		if _, err := server.ParseFlags(nil, func(k string) string {
			if k == "PARLEY_STORAGE_QUOTA" {
				return bad
			}
			return ""
		}); err == nil {
			t.Errorf("PARLEY_STORAGE_QUOTA=%q accepted", bad)
		}
	}
}

// TestNewerPatchTakesOver: a PATCH of an upload whose earlier PATCH is
// still in flight (a client resuming after a silent network failure) stops
// the earlier one, which keeps what it received and answers
// offset_mismatch; the upload then goes on from the offset as it stands.
func TestNewerPatchTakesOver(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	data, sum := blobOf(14, 1<<20)
	st, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: int64(len(data)), SHA256: sum, ContentType: "audio/ogg"})
	if err != nil {
		t.Fatal(err)
	}
	first := stalledPatch(t, srv.URL, alice, st.ID, data[:64<<10])
	// The client gives up on it and, believing nothing arrived, resumes
	// from 0 on a new connection.
	got, err := alice.c.UploadChunk(ctx, st.ID, 0, bytes.NewReader(data))
	if err == nil {
		if !got.Complete {
			t.Fatalf("second PATCH = %+v", got)
		}
	} else {
		// The first PATCH had bytes recorded: resume from there.
		wantCode(t, err, api.CodeOffsetMismatch)
		if got.Offset <= 0 || got.Offset > 64<<10 {
			t.Fatalf("offset after the takeover = %d, want 0 < offset <= 64 KiB", got.Offset)
		}
		if got, err = alice.c.UploadChunk(ctx, st.ID, got.Offset, bytes.NewReader(data[got.Offset:])); err != nil || !got.Complete {
			t.Fatalf("resuming after the takeover: %+v, %v", got, err)
		}
	}
	// The first PATCH ends: answered offset_mismatch, or, as the server
	// closes its connection while the client still writes the body, with
	// the connection's error.
	var ae *api.Error
	if err := <-first; err == nil || errors.As(err, &ae) && ae.Code != api.CodeOffsetMismatch {
		t.Fatalf("the first PATCH = %v, want offset_mismatch or a broken connection", err)
	}
	if b, _ := download(t, alice, sum, 0); !bytes.Equal(b, data) {
		t.Fatal("the blob differs")
	}
}
