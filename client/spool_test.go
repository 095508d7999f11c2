package client_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
)

// TestAttachmentThroughMemorySpool: with Config.NewSpool set to
// MemorySpool (a browser's default), an attachment is sent without any
// file: TempDir names a directory that does not exist, which a temporary
// file would need. The peer gets the file whole.
func TestAttachmentThroughMemorySpool(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	d := newDevice(t)
	st, err := sqlitestore.Open(ctx, d.path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := client.Config{Store: st, Passphrase: passphrase, Events: d.record,
		TempDir: filepath.Join(t.TempDir(), "missing"), NewSpool: client.MemorySpool}
	c, _, err := client.Create(ctx, cfg, client.CreateOptions{Server: srv.URL, Username: "alice", DeviceName: "browser"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bob, _ := register(t, srv, "bob")
	clip := bytes.Repeat([]byte("frame "), 200_000) // 1.2 MB: several upload pieces' worth of chunks
	m, err := c.SendAttachment(ctx, client.Direct("bob"), client.File{Name: "clip.mp4", ContentType: "video/mp4", Body: bytes.NewReader(clip)}, nil)
	if err != nil {
		t.Fatalf("send through the memory spool: %v", err)
	}
	syncAll(t, bob)
	got, err := bob.download(bob.message(client.Direct("alice"), m.ID))
	if err != nil || !bytes.Equal(got, clip) {
		t.Fatalf("bob's copy: %d bytes, %v", len(got), err)
	}
	// Without it, the missing TempDir is where the send fails.
	cfg.NewSpool = nil
	st2, _ := sqlitestore.Open(ctx, d.path)
	cfg.Store = st2
	c.Close()
	c2, err := client.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.SendAttachment(ctx, client.Direct("bob"), client.File{Name: "x.bin", Body: bytes.NewReader([]byte("x"))}, nil); err == nil {
		t.Fatal("a temporary file was made in a directory that does not exist")
	}
}

func TestMemorySpoolReadAt(t *testing.T) {
	s, _ := client.MemorySpool()
	s.Write([]byte("hello "))
	s.Write([]byte("world"))
	buf := make([]byte, 5)
	if n, err := s.ReadAt(buf, 6); n != 5 || err != nil || string(buf) != "world" {
		t.Fatalf("ReadAt(6) = %d %q %v", n, buf, err)
	}
	if n, err := s.ReadAt(buf, 8); n != 3 || err != io.EOF || string(buf[:3]) != "rld" {
		t.Fatalf("ReadAt(8) = %d %q %v", n, buf[:n], err)
	}
	if _, err := s.ReadAt(buf, 11); err != io.EOF {
		t.Fatalf("ReadAt at the end: %v", err)
	}
	if _, err := s.ReadAt(buf, -1); err == nil {
		t.Fatal("a negative offset was read")
	}
	s.Close()
	if _, err := s.ReadAt(buf, 0); err != io.EOF {
		t.Fatalf("after Close: %v", err)
	}
}
