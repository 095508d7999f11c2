package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/api"
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
		hub: &conn{wake: make(chan struct{}, 1), cancel: cancel}, delivered: map[uint64]struct{}{}}
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
			if err := s.h.store.Ack(ctx, s.key.account, s.key.device, f.Acks); err != nil {
				return
			}
			s.acked(f.Acks)
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
	dup, err := s.h.send(ctx, s.p, f.Recipient, f.ClientID, f.Envelopes)
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
// a send, an ack or the keepalive ticker.
func (s *wsSession) writeLoop(ctx context.Context) error {
	ping := time.NewTicker(s.h.opts.PingInterval)
	defer ping.Stop()
	var (
		last      uint64
		drained   bool
		atConnect int
		buf       []byte
	)
	for {
		if room := maxInFlight - s.inFlight(); room > 0 {
			limit := min(pendingBatch, room)
			envs, err := s.h.store.Pending(ctx, s.key.account, s.key.device, last, limit, s.h.opts.Now())
			if err != nil {
				return err
			}
			for i := range envs {
				e := &envs[i]
				buf = api.AppendFrame(buf[:0], &api.Frame{Type: api.FrameDeliver, Seq: e.Seq, Sender: e.SenderName,
					SenderDevice: e.SenderDevice, ClientID: e.ClientID[:], EnvType: e.Type, Content: e.Content,
					Timestamp: e.Created.UnixMilli()})
				// Recorded before the write: the ack may beat us back.
				s.mu.Lock()
				s.delivered[e.Seq] = struct{}{}
				s.mu.Unlock()
				if err := s.write(ctx, buf); err != nil {
					return err
				}
				last = e.Seq
			}
			s.h.metrics.envelopesOut.Add(float64(len(envs)))
			if !drained {
				atConnect += len(envs)
			}
			if len(envs) == limit {
				continue
			}
			if !drained {
				drained = true
				s.h.metrics.queueDepth.Observe(float64(atConnect))
				if err := s.write(ctx, api.AppendFrame(buf[:0], &api.Frame{Type: api.FrameQueueEmpty})); err != nil {
					return err
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.hub.wake:
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
