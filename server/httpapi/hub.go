package httpapi

import (
	"sync"
	"sync/atomic"

	"github.com/parley-chat/parley/server/store"
)

// deviceKey names one device.
type deviceKey struct {
	account int64
	device  uint32
}

// Pushes are bounded so that they cannot hold much memory: at most
// pushBuffer envelopes of at most maxPushed bytes wait per socket, and only
// for a socket that is caught up and taking them (accepting). Anything
// else sets overflow, and the socket reads its queue from the store.
const (
	pushBuffer = 64
	maxPushed  = 16 << 10
)

// ephemeralBuffer bounds the encoded ephemeral Deliver frames (each at
// most api.MaxEphemeral of content) waiting for one socket; when it is
// full, further ones are dropped (spec/api.md §6.5).
const ephemeralBuffer = 16

// conn is what the hub knows of a connected device's WebSocket.
type conn struct {
	kick func() // "there may be something to write"; never blocks
	// cancel stops the connection's deliveries, waiting for a write in
	// progress to end (at once: it is cut), and closes it.
	cancel func()

	// Envelopes committed for the device, in Seq order (the store calls
	// push in commit order). When push is full, overflow is set and the
	// socket falls back to reading its queue.
	push      chan *store.Envelope // pointers: the buffer stays small
	overflow  atomic.Bool
	accepting atomic.Bool

	// Encoded ephemeral Deliver frames (Seq 0), best effort: never
	// stored, dropped when full. Pointers, as for push.
	ephemeral chan *[]byte
}

func newConn(cancel, kick func()) *conn {
	return &conn{kick: kick, cancel: cancel, push: make(chan *store.Envelope, pushBuffer),
		ephemeral: make(chan *[]byte, ephemeralBuffer)}
}

// Hub maps connected devices to their WebSocket so that a send can wake
// the recipient at once and a removed device can be cut off at once. A
// device has at most one connection; a new one replaces the old.
type Hub struct {
	mu    sync.Mutex // guards conns and byAccount
	conns map[deviceKey]*conn
	// byAccount lists the connected devices of each account, for
	// channel fan-out (spec/api.md §11.6).
	byAccount map[int64][]uint32
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{conns: map[deviceKey]*conn{}, byAccount: map[int64][]uint32{}} }

// attach registers c for k, closing any previous connection of k: when it
// returns, the previous connection delivers nothing more.
func (h *Hub) attach(k deviceKey, c *conn) {
	h.mu.Lock()
	old := h.conns[k]
	h.conns[k] = c
	if old == nil {
		h.byAccount[k.account] = append(h.byAccount[k.account], k.device)
	}
	h.mu.Unlock()
	if old != nil {
		old.cancel()
	}
}

// detach removes c if it is still k's connection.
func (h *Hub) detach(k deviceKey, c *conn) {
	h.mu.Lock()
	if h.conns[k] == c {
		h.forget(k)
	}
	h.mu.Unlock()
}

// notify wakes k's connection, if any, without blocking.
func (h *Hub) notify(k deviceKey) {
	h.mu.Lock()
	c := h.conns[k]
	h.mu.Unlock()
	if c != nil {
		c.kick()
	}
}

// pushEnvelopes hands committed envelopes to their devices' sockets. It is
// called by the store in commit order and never blocks.
func (h *Hub) pushEnvelopes(envs []store.Envelope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range envs {
		e := &envs[i]
		c := h.conns[deviceKey{e.DestAccount, e.DestDevice}]
		if c == nil {
			continue
		}
		if !c.accepting.Load() || len(e.Content) > maxPushed {
			c.overflow.Store(true)
		} else {
			select {
			case c.push <- e:
			default:
				c.overflow.Store(true)
			}
		}
		c.kick()
	}
}

// conn returns k's connection, or nil if k is not connected.
func (h *Hub) conn(k deviceKey) *conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[k]
}

// offerEphemeral queues an encoded ephemeral Deliver frame for the socket
// without blocking, and reports false if its buffer is full: the frame is
// then dropped.
func (c *conn) offerEphemeral(frame []byte) bool {
	select {
	case c.ephemeral <- &frame:
		c.kick()
		return true
	default:
		return false
	}
}

// kick closes k's connection, if any.
func (h *Hub) kick(k deviceKey) {
	h.mu.Lock()
	c := h.conns[k]
	if c != nil {
		h.forget(k)
	}
	h.mu.Unlock()
	if c != nil {
		c.cancel()
	}
}

// CloseAll closes every connection (used on shutdown).
func (h *Hub) CloseAll() {
	h.mu.Lock()
	cs := h.conns
	h.conns = map[deviceKey]*conn{}
	h.byAccount = map[int64][]uint32{}
	h.mu.Unlock()
	for _, c := range cs {
		c.cancel()
	}
}

// forget removes k's connection. h.mu is held.
func (h *Hub) forget(k deviceKey) {
	delete(h.conns, k)
	devs := h.byAccount[k.account]
	for i, d := range devs {
		if d == k.device {
			devs[i] = devs[len(devs)-1]
			devs = devs[:len(devs)-1]
			break
		}
	}
	if len(devs) == 0 {
		delete(h.byAccount, k.account)
	} else {
		h.byAccount[k.account] = devs
	}
}

// offerAccounts offers an encoded frame to every connected device of the
// accounts, without blocking (as offerEphemeral), and returns how many
// sockets took it and how many were full. The sockets are collected
// under the hub's mutex and offered the frame after it is released, so a
// post to many followers does not hold up connects and deliveries.
func (h *Hub) offerAccounts(accounts []int64, frame []byte) (written, dropped int) {
	var conns []*conn
	h.mu.Lock()
	for _, a := range accounts {
		for _, d := range h.byAccount[a] {
			conns = append(conns, h.conns[deviceKey{a, d}])
		}
	}
	h.mu.Unlock()
	for _, c := range conns {
		if c.offerEphemeral(frame) {
			written++
		} else {
			dropped++
		}
	}
	return written, dropped
}
