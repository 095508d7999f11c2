package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// Delivery flow control (spec/api.md §7.3): at most maxInFlight envelopes
// are delivered and not yet acknowledged; the server then waits for acks.
// Envelopes are read from the store in batches, so a connection's memory
// is bounded whatever its queue holds.
const (
	maxInFlight  = api.MaxInFlight
	pendingBatch = 256
	maxKeptFrame = 2 << 10 // the largest encoding buffer kept between passes
)

// wsSession is one device's WebSocket. Its reader goroutine runs for the
// socket's whole life; a writer goroutine runs only while there is
// something to write (kick starts one), so an idle socket holds one
// goroutine, no write buffer and no ticker.
type wsSession struct {
	h   *Handler
	c   *websocket.Conn
	out *socketConn
	p   *principal
	key deviceKey
	hub *conn
	// ctx carries the request's values; it is never cancelled. The socket
	// ends by closing c, which fails the reader's Read.
	ctx context.Context

	mu        sync.Mutex          // guards delivered
	delivered map[uint64]struct{} // delivered on this socket, not yet acked

	wmu     sync.Mutex // guards running, again, ended, serving
	idle    sync.Cond  // signalled when running becomes false
	running bool       // a writer goroutine is running
	again   bool       // kicked since the writer last looked
	ended   bool       // no writer may start any more
	// serving is set when serve starts: the hub may kick the session from
	// its 101 on, but no writer starts before the upgrade has returned the
	// connection and the removal check has passed (a kick before just
	// leaves again set; serve's first kick then starts the writer).
	serving bool

	// Touched only by the running writer.
	d        delivery
	caughtUp bool

	closeOnce      sync.Once
	unregisterOnce sync.Once
	pinger         *time.Timer
}

// inFlight counts envelopes delivered on this socket and not yet acked.
func (s *wsSession) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delivered)
}

// acked forgets acknowledged deliveries; only seqs delivered on this
// socket open the window again.
func (s *wsSession) acked(seqs []uint64) {
	s.mu.Lock()
	for _, q := range seqs {
		delete(s.delivered, q)
	}
	if len(s.delivered) == 0 {
		// Go maps never shrink: after a burst, let the big one go so an
		// idle socket holds an empty map, not room for MaxInFlight.
		s.delivered = map[uint64]struct{}{}
	}
	s.mu.Unlock()
}

// websocket is GET /v1/ws (spec/api.md §7): queued envelopes first, then
// new ones as they arrive; sends and acks from the client on the same
// socket; pings to keep it alive.
func (h *Handler) websocket(w http.ResponseWriter, r *http.Request) error {
	// The socket outlives this handler: returning frees the deep stack of
	// the HTTP handler chain, and the reader starts on a fresh goroutine
	// whose stack stays small while it waits. Its context keeps the
	// request's values but not its cancellation, which fires when the
	// handler returns.
	ctx := context.WithoutCancel(r.Context())
	p := callerOf(r)
	s := &wsSession{h: h, p: p, key: deviceKey{p.account.ID, p.device.ID}, ctx: ctx, delivered: map[uint64]struct{}{}}
	s.d.s = s
	s.idle.L = &s.wmu
	s.hub = newConn(s.stop, s.kick)
	h.sockets.Add(1) // before attach, so that Drain waits for what it closes
	// attach stops the device's previous socket before it returns, and
	// before the upgrade is answered; this one delivers nothing before
	// serve. So a client that has its answer has the device's only
	// registered socket, and two sockets of one device never deliver at
	// the same time (spec/api.md §7.3). It runs only once Accept has
	// checked the handshake and its Origin and is writing 101: a refused
	// upgrade leaves the device's live socket alone (spec/api.md §7.1).
	attached := false
	hw := &hijackWriter{ResponseWriter: w, timeout: h.opts.WriteTimeout, upgrade: func() {
		attached = true
		h.metrics.connections.Inc()
		h.hub.attach(s.key, s.hub)
	}}
	c, err := websocket.Accept(hw, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if attached { // the hijack failed after 101
			h.hub.detach(s.key, s.hub)
			s.unregister()
		}
		h.sockets.Done()
		return nil // Accept has answered the request
	}
	c.SetReadLimit(api.MaxFrame)
	s.wmu.Lock()
	s.c, s.out = c, hw.conn
	replaced := s.ended // a newer socket, a removal or Drain stopped it already
	s.wmu.Unlock()
	if replaced {
		c.Close(websocket.StatusGoingAway, "")
		h.sockets.Done()
		return nil
	}
	// A removal that ran between authentication and attach could not kick
	// this socket: check again now that removals can see it.
	if _, _, err := h.store.DeviceByName(ctx, p.account.Username, p.device.ID); err != nil {
		h.hub.detach(s.key, s.hub)
		s.unregister()
		c.Close(websocket.StatusPolicyViolation, "device removed")
		h.sockets.Done()
		return nil
	}
	go func() {
		defer h.sockets.Done()
		s.serve()
	}()
	return nil
}

// serve runs the socket until it ends: it is the reader.
func (s *wsSession) serve() {
	defer s.unregister()
	defer s.h.hub.detach(s.key, s.hub)

	s.wmu.Lock()
	s.pinger = time.AfterFunc(s.h.opts.PingInterval, s.ping)
	s.serving = true
	s.wmu.Unlock()
	s.kick() // the queue first
	s.readLoop(s.ctx)
	// The read side ended: the client closed (the handshake is done), or
	// a store error ended it (1001, spec/api.md §7.3). A connection that
	// is already closed returns at once.
	s.c.Close(websocket.StatusGoingAway, "")
	s.wmu.Lock()
	s.ended = true
	s.pinger.Stop()
	for s.running {
		s.idle.Wait()
	}
	s.wmu.Unlock()
}

// stop ends the session for the hub, when the device is removed or
// replaced by a newer socket, or the server drains: when it returns, the
// session delivers nothing more (no writer runs or will start) and no
// longer counts as connected, though its close handshake may still be
// under way. A writer caught mid-pass (perhaps blocked on a slow or dead
// peer) is cut at once, without a handshake, rather than waited for up
// to the write timeout; an idle session gets a close frame (1001).
func (s *wsSession) stop() {
	s.wmu.Lock()
	s.ended = true
	busy, accepted := s.running, s.c != nil
	s.wmu.Unlock()
	if !accepted {
		s.unregister() // the handler closes it once the upgrade is done
		return
	}
	if busy {
		s.fail()
	}
	s.wmu.Lock()
	for s.running {
		s.idle.Wait()
	}
	s.wmu.Unlock()
	s.unregister()
	s.close()
}

// unregister takes the session out of the connection count, once.
func (s *wsSession) unregister() {
	s.unregisterOnce.Do(s.h.metrics.connections.Dec)
}

// close ends the socket with a close handshake. It does not wait.
func (s *wsSession) close() {
	s.closeOnce.Do(func() {
		go s.c.Close(websocket.StatusGoingAway, "")
	})
}

// fail cuts the socket at once, without a handshake: a write failed.
func (s *wsSession) fail() { s.c.CloseNow() }

// ping sends a keepalive ping and waits for its pong (read by the reader);
// a peer that does not answer within the write timeout is cut.
func (s *wsSession) ping() {
	ctx, cancel := context.WithTimeout(s.ctx, s.h.opts.WriteTimeout)
	err := s.c.Ping(ctx)
	cancel()
	if err != nil {
		s.fail()
		return
	}
	s.wmu.Lock()
	if !s.ended {
		s.pinger.Reset(s.h.opts.PingInterval)
	}
	s.wmu.Unlock()
}

// readLoop handles the client's frames until the connection ends. A frame
// that is not a well-formed binary frame closes the connection with 1007.
func (s *wsSession) readLoop(ctx context.Context) {
	for {
		typ, b, err := s.c.Read(ctx)
		if err != nil {
			return
		}
		f, err := api.ParseFrame(b)
		if typ != websocket.MessageBinary || err != nil {
			s.c.Close(websocket.StatusInvalidFramePayloadData, "malformed frame")
			return
		}
		switch f.Type {
		case api.FrameSend:
			if !s.handleSend(ctx, f) {
				return
			}
		case api.FrameAck:
			// Seq 0 is an ephemeral delivery: nothing to delete.
			acks := slices.DeleteFunc(f.Acks, func(q uint64) bool { return q == 0 })
			if len(acks) == 0 {
				continue
			}
			if err := s.h.store.Ack(ctx, s.key.account, s.key.device, acks); err != nil {
				return
			}
			s.acked(acks)
			s.kick()
		default:
			s.c.Close(websocket.StatusPolicyViolation, "unexpected frame type")
			return
		}
	}
}

// handleSend stores a send and answers it; false ends the connection.
func (s *wsSession) handleSend(ctx context.Context, f *api.Frame) bool {
	res := api.Frame{Type: api.FrameSendResult, RequestID: f.RequestID}
	dup, err := s.h.send(ctx, s.p, f.Recipient, f.ClientID, f.Envelopes, f.Ephemeral)
	if err != nil {
		ae := s.h.toAPIError(ctx, "ws send", err)
		res.Code, res.Message, res.Missing, res.Extra = ae.Code, ae.Message, ae.Missing, ae.Extra
	}
	res.Duplicate = dup
	if err := s.write(api.AppendFrame(nil, &res)); err != nil {
		s.fail()
		return false
	}
	return true
}

// write sends one frame: at once, or with the writer's batch if one is
// open. The socketConn's deadline cuts a consumer too slow to take it;
// the context never ends the write (context.Background has no Done, so
// coder/websocket arms no timer for it).
func (s *wsSession) write(b []byte) error {
	return s.c.Write(context.Background(), websocket.MessageBinary, b)
}

// kick says there may be something to write (an envelope committed or
// pushed, an ack that opened the window, an ephemeral frame) and starts a
// writer goroutine unless one is running, which then looks again.
func (s *wsSession) kick() {
	s.wmu.Lock()
	if s.ended {
		s.wmu.Unlock()
		return
	}
	s.again = true
	start := !s.running && s.serving
	s.running = s.running || start
	s.wmu.Unlock()
	if start {
		go s.runWriter()
	}
}

// runWriter writes until a look finds nothing new, then exits. A write
// error cuts the socket; the reader then ends the session.
func (s *wsSession) runWriter() {
	for {
		s.wmu.Lock()
		if !s.again || s.ended {
			s.running = false
			s.idle.Broadcast()
			s.wmu.Unlock()
			return
		}
		s.again = false
		s.wmu.Unlock()
		// Ephemeral frames first: those offered before an envelope was
		// committed go out before it.
		s.out.begin()
		err := s.writeEphemeral()
		if err == nil {
			err = s.deliver()
		}
		if ferr := s.out.end(); err == nil {
			err = ferr
		}
		if cap(s.d.buf) > maxKeptFrame {
			s.d.buf = nil // a large frame's buffer is not kept while idle
		}
		if err != nil {
			s.fail()
			s.wmu.Lock()
			s.ended = true
			s.running = false
			s.idle.Broadcast()
			s.wmu.Unlock()
			return
		}
	}
}

// deliver sends queued envelopes in order, as far as the window allows:
// from the hub's pushes once caught up, else read from the store.
func (s *wsSession) deliver() error {
	ctx, d := s.ctx, &s.d
	for {
		room := maxInFlight - s.inFlight()
		if s.caughtUp && s.hub.overflow.Swap(false) {
			s.caughtUp = false // a push was dropped: read the queue
		}
		switch {
		case s.caughtUp:
			n, err := d.pushed(room)
			if errors.Is(err, errFellBehind) {
				s.caughtUp = false
				continue // read the queue now
			}
			if err != nil {
				return err
			}
			if n == room {
				s.caughtUp = false // window full: resume from the queue after acks
			}
		case room > 0:
			// Stop taking pushes, drop what came (the queue read covers
			// it), read, and take pushes again once caught up.
			s.hub.accepting.Store(false)
			d.discardPushes()
			s.hub.overflow.Store(false)
			more, err := d.fromQueue(ctx, room)
			if err != nil {
				return err
			}
			if more {
				continue
			}
			s.caughtUp = true
			s.hub.accepting.Store(true)
			if err := d.queueEmpty(); err != nil {
				return err
			}
		}
		if !s.caughtUp {
			s.hub.accepting.Store(false)
		}
		return nil
	}
}

// errFellBehind means a push was dropped: the socket must read its queue.
var errFellBehind = errors.New("httpapi: socket fell behind its pushes")

// delivery is the write side of one socket: what it has sent so far.
type delivery struct {
	s         *wsSession
	last      uint64 // highest Seq sent
	drained   bool   // QueueEmpty sent
	atConnect int
	buf       []byte
}

// send writes one Deliver frame.
func (d *delivery) send(e *store.Envelope) error {
	d.buf = api.AppendFrame(d.buf[:0], &api.Frame{Type: api.FrameDeliver, Seq: e.Seq, Sender: e.SenderName,
		SenderDevice: e.SenderDevice, ClientID: e.ClientID[:], EnvType: e.Type, Content: e.Content,
		Timestamp: e.Created.UnixMilli()})
	// Recorded before the write: the ack may beat us back.
	d.s.mu.Lock()
	d.s.delivered[e.Seq] = struct{}{}
	d.s.mu.Unlock()
	if err := d.s.write(d.buf); err != nil {
		return err
	}
	d.last = e.Seq
	d.s.h.metrics.envelopesOut.Inc()
	return nil
}

// fromQueue sends up to room envelopes read from the store after the last
// one sent, and reports whether the read was full (there may be more).
func (d *delivery) fromQueue(ctx context.Context, room int) (bool, error) {
	limit := min(pendingBatch, room)
	envs, err := d.s.h.store.Pending(ctx, d.s.key.account, d.s.key.device, d.last, limit, d.s.h.opts.Now())
	if err != nil {
		return false, err
	}
	for i := range envs {
		if err := d.send(&envs[i]); err != nil {
			return false, err
		}
	}
	if !d.drained {
		d.atConnect += len(envs)
	}
	return len(envs) == limit, nil
}

// pushed sends up to room envelopes pushed by the hub, skipping those the
// queue read already sent, and reports how many it sent. It stops at the
// first push that arrives after a dropped one (overflow is then already
// set, since the hub sets it before pushing anything later): sending it
// would skip the dropped envelope.
func (d *delivery) pushed(room int) (int, error) {
	n := 0
	for n < room {
		select {
		case e := <-d.s.hub.push:
			if d.s.hub.overflow.Load() {
				return n, errFellBehind
			}
			if e.Seq <= d.last {
				continue
			}
			if err := d.send(e); err != nil {
				return n, err
			}
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// discardPushes empties the hub's pushes before a queue read.
func (d *delivery) discardPushes() {
	for {
		select {
		case <-d.s.hub.push:
		default:
			return
		}
	}
}

// queueEmpty sends FrameQueueEmpty once, after the first complete read.
func (d *delivery) queueEmpty() error {
	if d.drained {
		return nil
	}
	d.drained = true
	d.s.h.metrics.queueDepth.Observe(float64(d.atConnect))
	return d.s.write(api.AppendFrame(d.buf[:0], &api.Frame{Type: api.FrameQueueEmpty}))
}
