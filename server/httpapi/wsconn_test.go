package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestSocketConnBatch: inside a batch nothing reaches the peer until end,
// which delivers every write in order; outside one, writes go at once.
func TestSocketConnBatch(t *testing.T) {
	a, b := tcpPair(t)
	c := &socketConn{Conn: a, timeout: 5 * time.Second}

	c.begin()
	for _, s := range []string{"one ", "two ", "three"} {
		if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	b.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var one [1]byte
	if n, err := b.Read(one[:]); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("peer read %d bytes (%v) before the batch ended", n, err)
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len("one two three"))
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "one two three" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if c.buf != nil {
		t.Fatal("the batch buffer is still held after end")
	}

	if _, err := c.Write([]byte("now")); err != nil {
		t.Fatal(err)
	}
	got = got[:3]
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "now" {
		t.Fatalf("unbatched write: peer read %q, %v", got, err)
	}
}

// TestSocketConnLargeBatch: a batch beyond flushAt is written early, and
// the peer still gets every byte in order.
func TestSocketConnLargeBatch(t *testing.T) {
	a, b := tcpPair(t)
	c := &socketConn{Conn: a, timeout: 5 * time.Second}
	want := bytes.Repeat([]byte("0123456789abcdef"), 3*flushAt/16+5)
	done := make(chan []byte)
	go func() {
		got, _ := io.ReadAll(io.LimitReader(b, int64(len(want))))
		done <- got
	}()
	c.begin()
	for p := want; len(p) > 0; p = p[min(len(p), 1000):] {
		if _, err := c.Write(p[:min(len(p), 1000)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	if got := <-done; !bytes.Equal(got, want) {
		t.Fatalf("peer got %d bytes, want %d in order", len(got), len(want))
	}
}

// TestSocketConnBrokenStaysBroken: once a write fails, every later write
// and batch fails too, instead of writing after a gap.
func TestSocketConnBrokenStaysBroken(t *testing.T) {
	a, _ := tcpPair(t)
	c := &socketConn{Conn: a, timeout: 5 * time.Second}
	a.Close()
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("write on a closed connection succeeded")
	}
	c.begin()
	if _, err := c.Write([]byte("y")); err == nil {
		t.Fatal("batched write after a failure succeeded")
	}
	if err := c.end(); err == nil {
		t.Fatal("end after a failure succeeded")
	}
}

// TestSocketConnReadsLeftoverFirst: bytes the HTTP server read past the
// handshake come before the connection's own.
func TestSocketConnReadsLeftoverFirst(t *testing.T) {
	a, b := tcpPair(t)
	c := &socketConn{Conn: a, pre: []byte("early "), timeout: time.Second}
	if _, err := b.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("early late"))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "early late" {
		t.Fatalf("read %q, %v", got, err)
	}
}
