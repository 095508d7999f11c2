package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/attachment"
	"github.com/parley-chat/parley/parleytest"
)

// marker is plaintext the server must never see.
const marker = "PARLEY-PLAINTEXT-MARKER"

// fileData makes n bytes of random data with the marker sprinkled in.
func fileData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for at := 0; at+len(marker) <= n; at += 100_000 {
		copy(b[at:], marker)
	}
	return b
}

// sendFile sends data from d to peer and checks the progress reports.
func (d *device) sendFile(peer, name string, data []byte, caption string) client.Message {
	d.t.Helper()
	var last, total int64
	progress := func(done, t int64) {
		if done < last || done > t {
			d.t.Errorf("progress went from %d to %d of %d", last, done, t)
		}
		last, total = done, t
	}
	m, err := d.SendAttachment(context.Background(), client.Direct(peer), client.File{Name: name, ContentType: "video/mp4", Body: bytes.NewReader(data), Caption: caption}, progress)
	if err != nil {
		d.t.Fatalf("%s sends %s: %v", d.Username(), name, err)
	}
	if want, _ := attachment.CiphertextSize(int64(len(data))); last != want || total != want {
		d.t.Errorf("the last progress report is %d of %d, want %d of %d", last, total, want, want)
	}
	return m
}

// withAttachment returns the message of d's conversation with peer that
// carries a file.
func (d *device) withAttachment(peer string) client.Message {
	d.t.Helper()
	ms, err := d.Messages(context.Background(), client.Direct(peer), 0)
	if err != nil {
		d.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Attachment != nil {
			return m
		}
	}
	d.t.Fatalf("%s.%d has no file from %s", d.Username(), d.DeviceID(), peer)
	return client.Message{}
}

func (d *device) download(m client.Message) ([]byte, error) {
	var buf bytes.Buffer
	err := d.Download(context.Background(), m.Conversation, m.ID, &buf, nil)
	return buf.Bytes(), err
}

// blobPath finds the file that holds blob sum under the server's data
// directory, wherever the blob backend keeps it.
func blobPath(t *testing.T, srv *parleytest.Server, sum string) string {
	t.Helper()
	var found string
	filepath.WalkDir(srv.DataDir, func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && e.Name() == sum {
			found = path
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no file named %s under the server's data directory", sum)
	}
	return found
}

func TestAttachment(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice2 := link(t, srv, alice, "alice-laptop")
	data := fileData(5<<20, 1)

	sent := alice.sendFile("bob", "clip.mp4", data, "a clip")
	want := client.Attachment{Name: "clip.mp4", ContentType: "video/mp4", Size: 5 << 20, Blob: sent.Attachment.Blob}
	if sent.Attachment == nil || *sent.Attachment != want || sent.Text != "a clip" || sent.Status != client.StatusSent {
		t.Fatalf("sent %+v with %+v", sent, sent.Attachment)
	}

	// Bob downloads it, whole, to a file, and at random.
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := bob.withAttachment("alice")
	if got.ID != sent.ID || *got.Attachment != want || got.Text != "a clip" {
		t.Fatalf("bob got %+v with %+v", got, got.Attachment)
	}
	var progressed int64
	var buf bytes.Buffer
	if err := bob.Download(ctx, "alice", got.ID, &buf, func(done, total int64) { progressed = done }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("bob's download differs from what alice sent")
	}
	if c, _ := attachment.CiphertextSize(int64(len(data))); progressed != c {
		t.Errorf("download progress ended at %d, want %d", progressed, c)
	}
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := bob.DownloadFile(ctx, "alice", got.ID, path, nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the downloaded file differs: %v", err)
	}
	r, err := bob.OpenAttachment(ctx, "alice", got.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(data)) {
		t.Fatalf("OpenAttachment: size %d", r.Size())
	}
	rnd := rand.New(rand.NewPCG(2, 3))
	for range 20 {
		off := rnd.Int64N(int64(len(data)))
		p := make([]byte, min(rnd.Int64N(200_000), int64(len(data))-off))
		if _, err := r.ReadAt(p, off); err != nil || !bytes.Equal(p, data[off:off+int64(len(p))]) {
			t.Fatalf("ReadAt(%d bytes at %d): %v", len(p), off, err)
		}
	}
	if _, err := r.Seek(int64(len(data))-1000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if tail, err := io.ReadAll(r); err != nil || !bytes.Equal(tail, data[len(data)-1000:]) {
		t.Fatalf("reading the last 1000 bytes: %d bytes, %v", len(tail), err)
	}

	// Alice's other device has it from the sync transcript, and so does
	// the sending device.
	if err := alice2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	mine := alice2.withAttachment("bob")
	if !mine.Outgoing || mine.ID != sent.ID || *mine.Attachment != want {
		t.Fatalf("alice's laptop has %+v with %+v", mine, mine.Attachment)
	}
	for _, d := range []*device{alice, alice2} {
		if b, err := d.download(mine); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("%s.%d downloads %d bytes: %v", d.Username(), d.DeviceID(), len(b), err)
		}
	}

	// The server holds only ciphertext, named by its SHA-256.
	stored, err := os.ReadFile(blobPath(t, srv, want.Blob))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(stored); hex.EncodeToString(sum[:]) != want.Blob {
		t.Fatal("the stored blob is not named by its SHA-256")
	}
	if c, _ := attachment.CiphertextSize(int64(len(data))); int64(len(stored)) != c {
		t.Fatalf("the stored blob is %d bytes, want %d", len(stored), c)
	}
	if bytes.Contains(stored, []byte(marker)) || !bytes.Contains(data, []byte(marker)) {
		t.Fatal("the server's blob holds plaintext")
	}
	body, _, err := bob.TransportForTest().DownloadBlob(ctx, want.Blob, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(body)
	body.Close()
	if err != nil || !bytes.Equal(raw, stored) {
		t.Fatalf("the blob as served differs from the stored file: %v", err)
	}

	// Names and errors.
	if m, err := bob.FindMessage(ctx, sent.ID); err != nil || m.Conversation != "alice" || m.Attachment == nil {
		t.Fatalf("FindMessage: %+v, %v", m, err)
	}
	if _, err := bob.FindMessage(ctx, client.MessageID{1}); !errors.Is(err, client.ErrNoSuchMessage) {
		t.Fatalf("FindMessage of an unknown ID: %v", err)
	}
	text := alice.send("bob", "just text")
	if _, err := alice.download(text); !errors.Is(err, client.ErrNoAttachment) {
		t.Fatalf("downloading a text: %v", err)
	}
	if _, err := bob.download(client.Message{Conversation: "carol", ID: sent.ID}); !errors.Is(err, client.ErrNoSuchMessage) {
		t.Fatalf("downloading from the wrong conversation: %v", err)
	}
}

// TestAttachmentSizes: empty files and files around the chunk size go
// through the whole path.
func TestAttachmentSizes(t *testing.T) {
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	for _, n := range []int{0, 1, attachment.ChunkSize, attachment.ChunkSize + 1} {
		data := fileData(n, uint64(n))
		sent := alice.sendFile("bob", "f.bin", data, "")
		if err := bob.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		m := client.Message{Conversation: "alice", ID: sent.ID}
		if b, err := bob.download(m); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("%d bytes: download gives %d bytes, %v", n, len(b), err)
		}
	}
}

// TestAttachmentTampered: a blob changed on the server's disk fails to
// download and to open, with ErrDamaged, and leaves no file behind.
func TestAttachmentTampered(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	data := fileData(3*attachment.ChunkSize+100, 5)
	sent := alice.sendFile("bob", "doc.pdf", data, "")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := bob.withAttachment("alice")
	path := blobPath(t, srv, sent.Attachment.Blob)
	stored, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, attachment.ChunkSize + 40, len(stored) - 1} {
		bad := bytes.Clone(stored)
		bad[at] ^= 0x01
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.download(got); !errors.Is(err, client.ErrDamaged) {
			t.Errorf("byte %d flipped: Download: %v, want ErrDamaged", at, err)
		}
		out := filepath.Join(t.TempDir(), "doc.pdf")
		if err := bob.DownloadFile(ctx, "alice", sent.ID, out, nil); !errors.Is(err, client.ErrDamaged) {
			t.Errorf("byte %d flipped: DownloadFile: %v, want ErrDamaged", at, err)
		}
		if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
			t.Errorf("byte %d flipped: DownloadFile left %s", at, ents[0].Name())
		}
		r, err := bob.OpenAttachment(ctx, "alice", sent.ID)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
			r.Close()
		}
		if !errors.Is(err, client.ErrDamaged) {
			t.Errorf("byte %d flipped: OpenAttachment and read: %v, want ErrDamaged", at, err)
		}
	}
	if err := os.WriteFile(path, stored, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := bob.download(got); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the restored blob: %v", err)
	}
}

// cutter is an http.RoundTripper that breaks the first request or
// response that match, after n bytes, as a dropped connection would.
type cutter struct {
	base      http.RoundTripper
	n         int64
	cutBody   func(*http.Request) bool // cut this request's body
	cutResult func(*http.Request) bool // cut this response's body

	mu   sync.Mutex
	done bool
	seen []*http.Request // requests that matched either, in order
}

var errCut = errors.New("test: connection cut")

func (c *cutter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	body := c.cutBody != nil && c.cutBody(req)
	result := c.cutResult != nil && c.cutResult(req)
	if body || result {
		c.seen = append(c.seen, req)
	}
	first := !c.done && (body || result)
	c.done = c.done || first
	c.mu.Unlock()
	if first && body {
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(io.MultiReader(io.LimitReader(req.Body, c.n), errReader{}))
		req.ContentLength = -1 // the body ends early
	}
	resp, err := c.base.RoundTrip(req)
	if err == nil && first && result {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(io.LimitReader(resp.Body, c.n), errReader{}), resp.Body}
	}
	return resp, err
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errCut }

func (c *cutter) requests() []*http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*http.Request(nil), c.seen...)
}

// registerWith is register with the client's HTTP transport replaced.
func registerWith(t *testing.T, srv *parleytest.Server, name string, rt http.RoundTripper) *device {
	t.Helper()
	d := newDevice(t)
	cfg := config(t, d.path, d)
	cfg.HTTPClient = &http.Client{Transport: rt}
	cfg.TempDir = t.TempDir()
	c, _, err := client.Create(context.Background(), cfg, client.CreateOptions{Server: srv.URL, Username: name, DeviceName: name + "-phone"})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	d.Client = c
	t.Cleanup(func() { c.Close() })
	return d
}

// TestAttachmentResumes: an upload whose connection drops after 1.5 MiB
// goes on from what the server holds, not from the start; a download
// cut short goes on from where it stopped.
func TestAttachmentResumes(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	up := &cutter{base: http.DefaultTransport, n: 3 << 19, cutBody: func(r *http.Request) bool { return r.Method == http.MethodPatch }}
	alice := registerWith(t, srv, "alice", up)
	down := &cutter{base: http.DefaultTransport, n: 1 << 20, cutResult: isBlobDownload}
	bob := registerWith(t, srv, "bob", down)
	data := fileData(6<<20+123, 9)

	alice.sendFile("bob", "movie.mp4", data, "")
	offsets := uploadOffsets(t, up.requests())
	if len(offsets) < 3 || offsets[0] != 0 || offsets[1] == 0 {
		t.Fatalf("upload requests at offsets %v: want a first at 0 and the retry after it resuming past 0", offsets)
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := bob.download(bob.withAttachment("alice")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("download: %d bytes, %v", len(b), err)
	}
	if reqs := down.requests(); len(reqs) != 2 || downloadOffset(t, reqs[1]) < 1<<20 {
		t.Fatalf("%d download requests; want a second one from where the first was cut", len(reqs))
	}
}

func isBlobDownload(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/blobs/")
}

// uploadOffsets lists the Upload-Offset of each upload request.
func uploadOffsets(t *testing.T, reqs []*http.Request) []int64 {
	t.Helper()
	var out []int64
	for _, r := range reqs {
		n, err := strconv.ParseInt(r.Header.Get(api.HeaderUploadOffset), 10, 64)
		if err != nil {
			t.Fatalf("a PATCH without an offset: %v", err)
		}
		out = append(out, n)
	}
	return out
}

// downloadOffset is where a blob request's Range starts (0 without one).
func downloadOffset(t *testing.T, r *http.Request) int64 {
	t.Helper()
	rg := r.Header.Get("Range")
	if rg == "" {
		return 0
	}
	from, ok := strings.CutPrefix(rg, "bytes=")
	from, _, ok2 := strings.Cut(from, "-")
	n, err := strconv.ParseInt(from, 10, 64)
	if !ok || !ok2 || err != nil {
		t.Fatalf("Range %q", rg)
	}
	return n
}
