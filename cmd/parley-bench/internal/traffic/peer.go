package traffic

import (
	"cmp"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/fleet"
)

// ackBatch is the most delivered envelopes acknowledged in one frame.
const ackBatch = 64

// Reconnection backoff bounds.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 2 * time.Second
)

// peer is one device: a sender goroutine (sendLoop) and a supervisor
// goroutine (supervise) that owns the socket's reads, reconnects, and the
// bitmaps acked and delivered.
type peer struct {
	r       *runner
	dev     *fleet.Device
	partner *peer
	slots   chan struct{} // one token per send awaiting its result
	dead    chan struct{} // closed when the socket drops for good
	rng     *rand.ChaCha8 // sendLoop's

	mu       sync.Mutex // guards sock, inflight and nextReq
	sock     *transport.Socket
	inflight map[uint64]*pendingSend // by RequestID
	nextReq  uint64

	sent      atomic.Uint64 // sequence numbers used so far
	winFirst  uint64        // first seq sent in the window; written by sendLoop
	acked     bitmap        // seqs of ours acknowledged; owned by supervise
	delivered bitmap        // seqs of the partner's delivered to us; owned by supervise
}

type pendingSend struct {
	seq    uint64
	sentAt time.Time
	frame  *api.Frame
}

func newPeer(r *runner, d *fleet.Device) *peer {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], rand.Uint64())
	binary.LittleEndian.PutUint64(seed[8:], rand.Uint64())
	p := &peer{
		r: r, dev: d, slots: make(chan struct{}, r.cfg.Window), dead: make(chan struct{}),
		rng: rand.NewChaCha8(seed), sock: d.Sock, inflight: map[uint64]*pendingSend{},
		winFirst: math.MaxUint64,
	}
	d.Sock = nil // the peer owns it now
	return p
}

func (p *peer) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inflight)
}

// sendLoop sends to the partner until stop is closed, paced to this peer's
// share of cfg.Rate and never more than cfg.Window sends awaiting results.
// Writes use ctx, the run's: a write's context ending would close the
// socket, losing the results still due.
func (p *peer) sendLoop(ctx context.Context, stop <-chan struct{}, start time.Time, senders int) {
	var interval time.Duration
	next := start
	if p.r.cfg.Rate > 0 {
		interval = time.Duration(float64(senders) / p.r.cfg.Rate * float64(time.Second))
		next = start.Add(time.Duration(rand.Int64N(int64(interval) + 1))) // spread the senders
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if interval > 0 {
			if lag := time.Since(next); lag > time.Second {
				next = time.Now() // too far behind: skip rather than burst
			}
			timer.Reset(time.Until(next))
			select {
			case <-stop:
				return
			case <-timer.C:
			}
			next = next.Add(interval)
		}
		select {
		case <-stop:
			return
		case <-p.dead:
			return
		case p.slots <- struct{}{}:
		}
		if !p.send(ctx) {
			return
		}
	}
}

// send makes one envelope and writes it; false once the window has ended.
func (p *peer) send(ctx context.Context) bool {
	now := time.Now()
	if !now.Before(p.r.winEnd) {
		<-p.slots
		return false
	}
	seq := p.sent.Load()
	if p.winFirst == math.MaxUint64 && p.r.inWindow(now) {
		p.winFirst = seq
	}
	content := make([]byte, p.r.cfg.Size)
	binary.BigEndian.PutUint64(content, uint64(now.UnixNano()))
	p.rng.Read(content[8:])
	to := p.partner.dev.Creds
	f := &api.Frame{
		Type: api.FrameSend, Recipient: to.Username, ClientID: p.r.ids.encode(p.dev.Index, seq),
		Envelopes: []api.OutgoingEnvelope{{DeviceID: to.DeviceID, Type: fleet.EnvType, Content: content}},
	}
	p.mu.Lock()
	p.nextReq++
	f.RequestID = p.nextReq
	p.inflight[f.RequestID] = &pendingSend{seq: seq, sentAt: now, frame: f}
	sock := p.sock
	p.mu.Unlock()
	p.sent.Store(seq + 1)
	p.r.sent.Add(1)
	if sock != nil {
		// A failed write ends the session; supervise resends on reconnect.
		p.write(ctx, sock, f)
	}
	return true
}

func (p *peer) write(ctx context.Context, s *transport.Socket, f *api.Frame) error {
	ctx, cancel := context.WithTimeout(ctx, p.r.cfg.Timeout)
	defer cancel()
	return s.Write(ctx, f)
}

// supervise reads the socket until ctx ends, reconnecting with backoff if
// cfg.Reconnect is set.
func (p *peer) supervise(ctx context.Context) {
	p.mu.Lock()
	sock := p.sock
	p.mu.Unlock()
	for {
		p.session(ctx, sock)
		p.mu.Lock()
		p.sock = nil
		p.mu.Unlock()
		sock.Close()
		if ctx.Err() != nil {
			return
		}
		p.r.countError(errDisconnected)
		if !p.r.cfg.Reconnect {
			close(p.dead)
			return
		}
		if sock = p.reconnect(ctx); sock == nil {
			return
		}
	}
}

// reconnect dials until it succeeds or ctx ends (nil), then installs the
// new socket and resends, with their ClientIDs, the sends in flight.
func (p *peer) reconnect(ctx context.Context) *transport.Socket {
	backoff := backoffMin
	for {
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		dctx, cancel := context.WithTimeout(ctx, p.r.cfg.Timeout)
		s, err := p.dev.Client.Connect(dctx)
		cancel()
		if err == nil {
			p.r.reconnects.Add(1)
			p.mu.Lock()
			p.sock = s
			resend := slices.Collect(func(yield func(*api.Frame) bool) {
				for _, ps := range p.inflight {
					if !yield(ps.frame) {
						return
					}
				}
			})
			p.mu.Unlock()
			slices.SortFunc(resend, func(a, b *api.Frame) int { return cmp.Compare(a.RequestID, b.RequestID) })
			for _, f := range resend {
				if p.write(ctx, s, f) != nil {
					break // the session will see the socket is gone
				}
			}
			return s
		}
		if ctx.Err() != nil {
			return nil
		}
		p.r.countError(errReconnect)
		backoff = min(2*backoff, backoffMax)
	}
}

// session handles one socket's frames until it fails or ctx ends. A reader
// goroutine feeds a channel so that acks can be sent in a batch whenever
// nothing more is ready, or every ackBatch deliveries.
func (p *peer) session(ctx context.Context, s *transport.Socket) error {
	ctx, cancel := context.WithCancel(ctx)
	frames := make(chan *api.Frame, 2*ackBatch)
	var rerr error
	go func() {
		defer close(frames)
		for {
			f, err := s.Recv(ctx)
			if err != nil {
				rerr = err
				return
			}
			frames <- f // the session drains frames before it returns
		}
	}()
	defer func() {
		cancel()
		for range frames {
		}
	}()
	var acks []uint64
	for {
		var f *api.Frame
		var ok bool
		select {
		case f, ok = <-frames:
		default:
			if len(acks) > 0 {
				if err := p.ack(ctx, s, acks); err != nil {
					return err
				}
				acks = acks[:0]
			}
			f, ok = <-frames
		}
		if !ok {
			return rerr
		}
		switch f.Type {
		case api.FrameSendResult:
			p.onResult(f)
		case api.FrameDeliver:
			p.onDeliver(f)
			acks = append(acks, f.Seq)
			if len(acks) >= ackBatch {
				if err := p.ack(ctx, s, acks); err != nil {
					return err
				}
				acks = acks[:0]
			}
		}
	}
}

func (p *peer) ack(ctx context.Context, s *transport.Socket, seqs []uint64) error {
	ctx, cancel := context.WithTimeout(ctx, p.r.cfg.Timeout)
	defer cancel()
	return s.Ack(ctx, seqs...)
}

func (p *peer) onResult(f *api.Frame) {
	now := time.Now()
	p.mu.Lock()
	ps := p.inflight[f.RequestID]
	delete(p.inflight, f.RequestID)
	p.mu.Unlock()
	if ps == nil {
		p.r.countError(errUnknownReq)
		return
	}
	<-p.slots // never blocks: every pending send holds a token
	if p.r.inWindow(ps.sentAt) {
		p.r.sendAck.Record(now.Sub(ps.sentAt))
	}
	if f.Code != "" {
		p.r.countError(string(f.Code))
		return
	}
	if f.Duplicate {
		p.r.dupAcks.Add(1)
	}
	if !p.acked.has(ps.seq) { // a resend's result may come after the original's
		p.acked.set(ps.seq)
		p.r.okTotal.Add(1)
		p.r.cfg.Acked.Write(ps.frame.ClientID)
	}
}

func (p *peer) onDeliver(f *api.Frame) {
	now := time.Now()
	p.r.cfg.Delivered.Write(f.ClientID)
	sender, seq, ok := p.r.ids.decode(f.ClientID)
	if !ok || sender != p.partner.dev.Index || seq >= p.partner.sent.Load() {
		p.r.countError(errForeign)
		return
	}
	if p.delivered.has(seq) {
		p.r.dupDeliv.Add(1)
		return
	}
	p.delivered.set(seq)
	p.r.deliv.Add(1)
	if p.r.inWindow(now) {
		p.r.winDeliv.Add(1)
	}
	if len(f.Content) >= 8 {
		sentAt := time.Unix(0, int64(binary.BigEndian.Uint64(f.Content)))
		if p.r.inWindow(sentAt) {
			p.r.endToEnd.Record(now.Sub(sentAt))
		}
	}
}
