package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/blob"
	"github.com/parley-chat/parley/server/blob/local"
	"github.com/parley-chat/parley/server/store/sqlite"
)

// Serving blobs (spec/api.md §10.4), the janitor's media pass and
// shutdown during an upload.

// files lists the blob files under the server's data directory (any
// regular file named by a digest).
func files(t *testing.T, srv *parleytest.Server) []string {
	t.Helper()
	var out []string
	for _, f := range allFiles(t, srv) {
		if blob.ValidSum(filepath.Base(f)) {
			out = append(out, filepath.Base(f))
		}
	}
	slices.Sort(out)
	return out
}

// allFiles lists every regular file under DataDir/blobs.
func allFiles(t *testing.T, srv *parleytest.Server) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(srv.DataDir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkNoFiles(t *testing.T, srv *parleytest.Server) {
	t.Helper()
	if got := allFiles(t, srv); len(got) != 0 {
		t.Fatalf("files left under blobs/: %v", got)
	}
}

func TestBlobRanges(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	data, sum := blobOf(20, 10_000)
	uploadAll(t, alice, data, "application/octet-stream", 4096)
	path := "/v1/blobs/" + sum
	etag := `"` + sum + `"`

	resp := do(t, srv, nil, "GET", path, nil, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(readAll(t, resp.Body), data) {
		t.Fatalf("GET: %s", resp.Status)
	}
	for k, want := range map[string]string{
		"Content-Type":           "application/octet-stream",
		"Content-Length":         "10000",
		"Accept-Ranges":          "bytes",
		"ETag":                   etag,
		"Cache-Control":          "public, max-age=31536000, immutable",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("GET %s: %q, want %q", k, got, want)
		}
	}
	if resp.Header.Get("Last-Modified") == "" {
		t.Error("GET: no Last-Modified")
	}

	for _, tc := range []struct {
		name, rng, ifRange string
		status             int
		contentRange       string
		body               []byte
	}{
		{"first byte", "bytes=0-0", "", 206, "bytes 0-0/10000", data[:1]},
		{"suffix", "bytes=-500", "", 206, "bytes 9500-9999/10000", data[9500:]},
		{"open", "bytes=9000-", "", 206, "bytes 9000-9999/10000", data[9000:]},
		{"last byte", "bytes=9999-", "", 206, "bytes 9999-9999/10000", data[9999:]},
		{"end past the size", "bytes=9990-20000", "", 206, "bytes 9990-9999/10000", data[9990:]},
		{"suffix longer than the blob", "bytes=-20000", "", 206, "bytes 0-9999/10000", data},
		{"beyond the end", "bytes=10000-", "", 416, "bytes */10000", nil},
		{"far beyond the end", "bytes=50000-60000", "", 416, "bytes */10000", nil},
		{"If-Range matches", "bytes=10-19", etag, 206, "bytes 10-19/10000", data[10:20]},
		{"If-Range of another blob", "bytes=10-19", `"` + strings.Repeat("0", 64) + `"`, 200, "", data},
		{"malformed range", "bytes=abc", "", 416, "bytes */10000", nil},
	} {
		hdr := map[string]string{"Range": tc.rng}
		if tc.ifRange != "" {
			hdr["If-Range"] = tc.ifRange
		}
		resp := do(t, srv, nil, "GET", path, nil, hdr)
		body := readAll(t, resp.Body)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Range") != tc.contentRange {
			t.Errorf("%s (%s): %s, Content-Range %q; want %d, %q", tc.name, tc.rng, resp.Status,
				resp.Header.Get("Content-Range"), tc.status, tc.contentRange)
			continue
		}
		if tc.status != 416 && !bytes.Equal(body, tc.body) {
			t.Errorf("%s: %d bytes, want %d", tc.name, len(body), len(tc.body))
		}
	}

	t.Run("multiple ranges", func(t *testing.T) {
		resp := do(t, srv, nil, "GET", path, nil, map[string]string{"Range": "bytes=0-1,5000-5004,-3"})
		mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
			t.Fatalf("%s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		mr := multipart.NewReader(resp.Body, params["boundary"])
		want := []struct {
			rng  string
			body []byte
		}{{"bytes 0-1/10000", data[:2]}, {"bytes 5000-5004/10000", data[5000:5005]}, {"bytes 9997-9999/10000", data[9997:]}}
		for i, w := range want {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if p.Header.Get("Content-Range") != w.rng || p.Header.Get("Content-Type") != "application/octet-stream" ||
				!bytes.Equal(readAll(t, p), w.body) {
				t.Fatalf("part %d: %v", i, p.Header)
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Fatalf("more parts than ranges: %v", err)
		}
	})

	t.Run("conditional", func(t *testing.T) {
		if resp := do(t, srv, nil, "GET", path, nil, map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
			t.Fatalf("If-None-Match of its ETag: %s, want 304", resp.Status)
		}
		if resp := do(t, srv, nil, "GET", path, nil, map[string]string{"If-Match": `"x"`}); resp.StatusCode != http.StatusPreconditionFailed {
			t.Fatalf("If-Match of another ETag: %s, want 412", resp.Status)
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		resp := do(t, srv, nil, "HEAD", path, nil, nil)
		if resp.StatusCode != 200 || resp.ContentLength != 10_000 || resp.Header.Get("Accept-Ranges") != "bytes" ||
			resp.Header.Get("ETag") != etag || len(readAll(t, resp.Body)) != 0 {
			t.Fatalf("HEAD: %s, length %d, %v", resp.Status, resp.ContentLength, resp.Header)
		}
		resp = do(t, srv, nil, "HEAD", path, nil, map[string]string{"Range": "bytes=-10"})
		if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 9990-9999/10000" {
			t.Fatalf("HEAD with a range: %s, %q", resp.Status, resp.Header.Get("Content-Range"))
		}
	})

	t.Run("unknown", func(t *testing.T) {
		for _, p := range []string{"/v1/blobs/" + strings.Repeat("ab", 32), "/v1/blobs/" + strings.ToUpper(sum), "/v1/blobs/x"} {
			resp := do(t, srv, nil, "GET", p, nil, nil)
			if resp.StatusCode != 404 || !bytes.Contains(readAll(t, resp.Body), []byte(`"code":"not_found"`)) {
				t.Errorf("GET %s: %s", p, resp.Status)
			}
		}
	})

	t.Run("DownloadBlob", func(t *testing.T) {
		anon := transport.New(srv.URL, nil)
		for _, off := range []int64{0, 1, 4000, 9999, 10_000} {
			body, total, err := anon.DownloadBlob(context.Background(), sum, off)
			if err != nil {
				t.Fatalf("DownloadBlob(%d): %v", off, err)
			}
			got := readAll(t, body)
			body.Close()
			if total != 10_000 || !bytes.Equal(got, data[off:]) {
				t.Fatalf("DownloadBlob(%d): %d bytes of %d", off, len(got), total)
			}
		}
		if _, _, err := anon.DownloadBlob(context.Background(), sum, 10_001); err == nil {
			t.Fatal("DownloadBlob past the end succeeded")
		}
		_, _, err := anon.DownloadBlob(context.Background(), strings.Repeat("ab", 32), 0)
		wantCode(t, err, api.CodeNotFound)
	})
}

// TestMediaJanitor: the janitor's pass deletes stale uploads, expired
// blobs (bytes and rows) and files without rows, and keeps retained blobs.
func TestMediaJanitor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the server's shutdown
	srv := parleytest.Start(t, server.Config{DataDir: dir, Store: st})
	alice := register(t, srv, "alice", 0)
	keptData, _ := blobOf(30, 5000)
	kept := uploadAll(t, alice, keptData, "image/png", 5000).Blob
	gone := uploadAll(t, alice, blobOfBytes(31, 6000), "image/png", 2000).Blob
	if err := st.RetainBlob(ctx, kept, true); err != nil {
		t.Fatal(err)
	}
	staleData, staleSum := blobOf(32, 3000)
	stale, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: 3000, SHA256: staleSum, ContentType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.c.UploadChunk(ctx, stale.ID, 0, bytes.NewReader(staleData[:1000])); err != nil {
		t.Fatal(err)
	}
	// Files without rows, as a crash between the two leaves them.
	lb, err := local.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	orphanData, orphan := blobOf(33, 100)
	if err := lb.Create(ctx, orphan, 100, bytes.NewReader(orphanData)); err != nil {
		t.Fatal(err)
	}
	if _, err := lb.Append(ctx, "orphaned-upload", 0, bytes.NewReader(orphanData)); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	stats, err := srv.SweepMedia(ctx, t0.Add(time.Hour))
	if err != nil || stats.Uploads != 0 || stats.Blobs != 0 {
		t.Fatalf("SweepMedia(+1h) = %+v, %v; want nothing expired", stats, err)
	}
	// A day and an hour on, the upload is stale; and the orphans are gone
	// (the look for them runs on the first pass and daily).
	if stats, err = srv.SweepMedia(ctx, t0.Add(25*time.Hour)); err != nil || stats.Uploads != 1 || stats.Blobs != 0 {
		t.Fatalf("SweepMedia(+25h) = %+v, %v; want the stale upload", stats, err)
	}
	_, err = alice.c.UploadStatus(ctx, stale.ID)
	wantCode(t, err, api.CodeNotFound)
	if got, want := files(t, srv), sortedOf(kept, gone); !slices.Equal(got, want) {
		t.Fatalf("blob files after +25h: %v, want %v", got, want)
	}
	if got := allFiles(t, srv); len(got) != 2 {
		t.Fatalf("files after +25h: %v; want the two blobs alone", got)
	}

	// 31 days on, the blob nobody retains has expired.
	if stats, err = srv.SweepMedia(ctx, t0.Add(31*24*time.Hour)); err != nil || stats.Blobs != 1 || stats.Uploads != 0 {
		t.Fatalf("SweepMedia(+31d) = %+v, %v; want one blob", stats, err)
	}
	if got := files(t, srv); !slices.Equal(got, []string{kept}) {
		t.Fatalf("blob files after +31d: %v, want the retained one", got)
	}
	if _, err := st.Blob(ctx, gone); err == nil {
		t.Fatal("the expired blob's row is still there")
	}
	if resp := do(t, srv, nil, "GET", "/v1/blobs/"+gone, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET the expired blob: %s", resp.Status)
	}
	if resp := do(t, srv, nil, "GET", "/v1/blobs/"+kept, nil, nil); resp.StatusCode != http.StatusOK ||
		!bytes.Equal(readAll(t, resp.Body), keptData) {
		t.Fatalf("GET the retained blob: %s", resp.Status)
	}
	// Released, past its upload expiry, it goes at the next pass.
	if err := st.RetainBlob(ctx, kept, false); err != nil {
		t.Fatal(err)
	}
	if stats, err = srv.SweepMedia(ctx, t0.Add(31*24*time.Hour)); err != nil || stats.Blobs != 1 {
		t.Fatalf("SweepMedia after the release = %+v, %v; want one blob", stats, err)
	}
	checkNoFiles(t, srv)
}

func sortedOf(s ...string) []string { slices.Sort(s); return s }

// TestShutdownStopsUploads: a PATCH in flight does not hold the shutdown
// up; it keeps what it received, which a restarted server resumes from.
func TestShutdownStopsUploads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := server.New(ctx, server.Config{DataDir: dir, RegisterRate: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	first := &parleytest.Server{Server: s, URL: "http://" + ln.Addr().String(), DataDir: dir}
	alice := register(t, first, "alice", 0)
	data, sum := blobOf(40, 1<<20)
	st, err := alice.c.CreateUpload(ctx, api.UploadRequest{Size: int64(len(data)), SHA256: sum, ContentType: "video/webm"})
	if err != nil {
		t.Fatal(err)
	}
	patched := stalledPatch(t, first.URL, alice, st.ID, data[:100<<10])
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with an upload in flight: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	// Answered 503, or, as the connection closes while the client still
	// writes the body, with the connection's error.
	var ae *api.Error
	if err := <-patched; err == nil || errors.As(err, &ae) && ae.Code != api.CodeUnavailable {
		t.Fatalf("the PATCH cut by the shutdown = %v, want unavailable or a broken connection", err)
	}

	second := parleytest.Start(t, server.Config{DataDir: dir})
	c2 := transport.New(second.URL, nil).As(alice.creds)
	got, err := c2.UploadStatus(ctx, st.ID)
	if err != nil || got.Offset > 100<<10 {
		t.Fatalf("status after the restart = %+v, %v; want at most 100 KiB", got, err)
	}
	if got, err = c2.UploadChunk(ctx, st.ID, got.Offset, bytes.NewReader(data[got.Offset:])); err != nil || !got.Complete {
		t.Fatalf("resuming after the restart: %+v, %v", got, err)
	}
}
