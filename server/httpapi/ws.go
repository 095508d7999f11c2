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
)

// wsSession is one device's WebSocket.
type wsSession struct {
	h   *Handler
	c   *websocket.Conn
	p   *principal
	key deviceKey
	hub *conn

	mu        sync.Mutex          // guards delivered
	delivered map[uint64]struct{} // delivered on this socket, not yet acked
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
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil // Accept has answered the request
	}
	c.SetReadLimit(api.MaxFrame)
	// The socket outlives this handler: returning frees the deep stack of
	// the HTTP handler chain, so an idle socket keeps only two shallow
	// goroutines. Its context keeps the request's values but not its
	// cancellation, which fires when the handler returns; Drain and the
	// hub end it instead.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	p := callerOf(r)
	h.sockets.Add(1)
	go func() {
		defer h.sockets.Done()
		defer cancel()
		h.serveSocket(ctx, cancel, c, p)
	}()
	return nil
}

// serveSocket runs one device's socket until it ends.
func (h *Handler) serveSocket(ctx context.Context, cancel context.CancelFunc, c *websocket.Conn, p *principal) {
	s := &wsSession{h: h, c: c, p: p, key: deviceKey{p.account.ID, p.device.ID},
		hub: newConn(cancel), delivered: map[uint64]struct{}{}}
	h.hub.attach(s.key, s.hub)
	defer h.hub.detach(s.key, s.hub)
	// A removal that ran between authentication and attach could not kick
	// this socket: check again now that removals can see it.
	if _, _, err := h.store.DeviceByName(ctx, p.account.Username, p.device.ID); err != nil {
		c.Close(websocket.StatusPolicyViolation, "device removed")
		return
	}
	h.metrics.connections.Inc()
	defer h.metrics.connections.Dec()

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		s.readLoop(ctx)
	}()
	err := s.writeLoop(ctx)
	cancel()
	switch {
	case err == nil || errors.Is(err, context.Canceled):
		c.Close(websocket.StatusGoingAway, "")
	default:
		c.CloseNow()
	}
	<-readDone
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
			select {
			case s.hub.wake <- struct{}{}:
			default:
			}
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
		if ctx.Err() != nil {
			return false
		}
		ae := s.h.toAPIError(ctx, "ws send", err)
		res.Code, res.Message, res.Missing, res.Extra = ae.Code, ae.Message, ae.Missing, ae.Extra
	}
	res.Duplicate = dup
	return s.write(ctx, api.AppendFrame(nil, &res)) == nil
}

// write sends one frame, cutting a consumer too slow to take it.
func (s *wsSession) write(ctx context.Context, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, s.h.opts.WriteTimeout)
	defer cancel()
	return s.c.Write(wctx, websocket.MessageBinary, b)
}

// writeLoop delivers queued envelopes in order, then waits to be woken by
// a send, an ack or the keepalive ticker, writing ephemeral frames as they
// come while it waits.
func (s *wsSession) writeLoop(ctx context.Context) error {
	ping := time.NewTicker(s.h.opts.PingInterval)
	defer ping.Stop()
	d := delivery{s: s}
	// caughtUp: every envelope committed for this device up to the last
	// queue read has been sent, so new ones can be taken from the hub's
	// pushes (in Seq order) instead of being read back from the store.
	caughtUp := false
	for {
		room := maxInFlight - s.inFlight()
		if caughtUp && s.hub.overflow.Swap(false) {
			caughtUp = false // a push was dropped: read the queue
		}
		switch {
		case caughtUp:
			n, err := d.pushed(ctx, room)
			if errors.Is(err, errFellBehind) {
				caughtUp = false
				continue // read the queue now
			}
			if err != nil {
				return err
			}
			if n == room {
				caughtUp = false // window full: resume from the queue after acks
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
			caughtUp = true
			s.hub.accepting.Store(true)
			if err := d.queueEmpty(ctx); err != nil {
				return err
			}
		}
		if !caughtUp {
			s.hub.accepting.Store(false)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.hub.wake:
		case frame := <-s.hub.ephemeral:
			if err := s.writeEphemeral(ctx, frame); err != nil {
				return err
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, s.h.opts.WriteTimeout)
			err := s.c.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		}
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
func (d *delivery) send(ctx context.Context, e *store.Envelope) error {
	d.buf = api.AppendFrame(d.buf[:0], &api.Frame{Type: api.FrameDeliver, Seq: e.Seq, Sender: e.SenderName,
		SenderDevice: e.SenderDevice, ClientID: e.ClientID[:], EnvType: e.Type, Content: e.Content,
		Timestamp: e.Created.UnixMilli()})
	// Recorded before the write: the ack may beat us back.
	d.s.mu.Lock()
	d.s.delivered[e.Seq] = struct{}{}
	d.s.mu.Unlock()
	if err := d.s.write(ctx, d.buf); err != nil {
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
		if err := d.send(ctx, &envs[i]); err != nil {
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
func (d *delivery) pushed(ctx context.Context, room int) (int, error) {
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
			if err := d.send(ctx, e); err != nil {
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
func (d *delivery) queueEmpty(ctx context.Context) error {
	if d.drained {
		return nil
	}
	d.drained = true
	d.s.h.metrics.queueDepth.Observe(float64(d.atConnect))
	return d.s.write(ctx, api.AppendFrame(d.buf[:0], &api.Frame{Type: api.FrameQueueEmpty}))
}
