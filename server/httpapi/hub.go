package httpapi

import "sync"

// deviceKey names one device.
type deviceKey struct {
	account int64
	device  uint32
}

// conn is what the hub knows of a connected device's WebSocket.
type conn struct {
	wake   chan struct{} // capacity 1: "the queue may have grown"
	cancel func()        // closes the connection
}

// Hub maps connected devices to their WebSocket so that a send can wake
// the recipient at once and a removed device can be cut off at once. A
// device has at most one connection; a new one replaces the old.
type Hub struct {
	mu    sync.Mutex // guards conns
	conns map[deviceKey]*conn
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{conns: map[deviceKey]*conn{}} }

// attach registers c for k, closing any previous connection of k.
func (h *Hub) attach(k deviceKey, c *conn) {
	h.mu.Lock()
	old := h.conns[k]
	h.conns[k] = c
	h.mu.Unlock()
	if old != nil {
		old.cancel()
	}
}

// detach removes c if it is still k's connection.
func (h *Hub) detach(k deviceKey, c *conn) {
	h.mu.Lock()
	if h.conns[k] == c {
		delete(h.conns, k)
	}
	h.mu.Unlock()
}

// notify wakes k's connection, if any, without blocking.
func (h *Hub) notify(k deviceKey) {
	h.mu.Lock()
	c := h.conns[k]
	h.mu.Unlock()
	if c != nil {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// kick closes k's connection, if any.
func (h *Hub) kick(k deviceKey) {
	h.mu.Lock()
	c := h.conns[k]
	delete(h.conns, k)
	h.mu.Unlock()
	if c != nil {
		c.cancel()
	}
}

// Len reports how many devices are connected.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// CloseAll closes every connection (used on shutdown).
func (h *Hub) CloseAll() {
	h.mu.Lock()
	cs := h.conns
	h.conns = map[deviceKey]*conn{}
	h.mu.Unlock()
	for _, c := range cs {
		c.cancel()
	}
}
