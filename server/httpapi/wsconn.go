package httpapi

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"sync"
	"time"
)

// The byte-level side of a device WebSocket. coder/websocket takes its
// buffers from the hijacked HTTP connection; hijackWriter gives it smaller
// ones over a socketConn instead, which
//
//   - writes each frame at once outside a batch, and inside one (between
//     begin and end, used by the socket's writer) gathers the frames in a
//     pooled buffer and writes them with one system call at the end, so a
//     burst of deliveries costs one write(2) and an idle socket holds no
//     write buffer;
//   - bounds every write(2) with a deadline of the write timeout, which
//     cuts a consumer too slow to take its frames without a timer and a
//     context per frame.
//
// The read side keeps a bufio.Reader of readBuffer bytes: large enough for
// a frame header and a typical small frame in one read(2), small enough to
// keep an idle socket's memory low (docs/BENCHMARKS.md, idle WebSockets).
const (
	readBuffer = 1024
	// writeBuffer holds any control frame (at most 2+125 bytes from the
	// server, which does not mask), so a ping, pong or close is written in
	// one piece; longer frames pass through to the batch.
	writeBuffer = 128
	// A batch is written out early once it holds flushAt bytes; buffers
	// larger than maxPooled are not kept for reuse.
	flushAt   = 64 << 10
	maxPooled = 256 << 10
)

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// socketConn is a hijacked connection with batched, deadline-bound writes.
type socketConn struct {
	net.Conn
	pre     []byte // read past the handshake by the HTTP server
	timeout time.Duration

	mu       sync.Mutex // guards the fields below; held across write(2)
	batching bool
	buf      *[]byte // pooled; nil when nothing is gathered
	err      error   // the first write error: the connection is broken
}

func (c *socketConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Write writes p now, or gathers it if a batch is open.
func (c *socketConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.batching {
		return c.writeLocked(p)
	}
	if c.buf == nil {
		c.buf = batchPool.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= flushAt {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// begin opens a batch: writes are gathered until end.
func (c *socketConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// end closes the batch and writes what it gathered with one write(2). An
// error means the connection is broken (or the consumer too slow).
func (c *socketConn) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	return c.flushLocked()
}

func (c *socketConn) flushLocked() error {
	b := c.buf
	if b == nil {
		return c.err
	}
	c.buf = nil
	if c.err == nil && len(*b) > 0 {
		c.writeLocked(*b)
	}
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		batchPool.Put(b)
	}
	return c.err
}

func (c *socketConn) writeLocked(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// hijackWriter hands coder/websocket a socketConn and small buffers when
// it hijacks the connection; conn is set once it has. upgrade, if set,
// runs when the library writes 101, before the answer can reach the
// client: only once the handshake has passed every check (its form and
// the Origin), and only then.
type hijackWriter struct {
	http.ResponseWriter
	timeout time.Duration
	upgrade func()
	conn    *socketConn
}

func (w *hijackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *hijackWriter) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols && w.upgrade != nil {
		w.upgrade()
		w.upgrade = nil
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	c := &socketConn{Conn: nc, timeout: w.timeout}
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		c.pre = bytes.Clone(b)
	}
	w.conn = c
	return c, bufio.NewReadWriter(bufio.NewReaderSize(c, readBuffer), bufio.NewWriterSize(c, writeBuffer)), nil
}
