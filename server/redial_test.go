package server_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// drainDeliveries reads s until it closes (or 10 s pass) and returns the
// contents of the Deliver frames with a Seq it got.
func drainDeliveries(t *testing.T, s *transport.Socket) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for {
		f, err := s.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Error("an old socket was not closed within 10 s")
			}
			return got
		}
		if f.Type == api.FrameDeliver && f.Seq != 0 {
			got = append(got, string(f.Content))
		}
	}
}

// TestRedialLeavesOneSocket: at most one WebSocket per device (spec/api.md
// §7.3). After each of many quick re-dials, sequential and concurrent, by
// clients that do not read (so they do not answer the server's close
// frame), exactly one socket of the device is registered at once, the
// queue reaches only that one, and every older socket is closed.
func TestRedialLeavesOneSocket(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	ctx := context.Background()
	dial := func() *transport.Socket {
		s, err := bob.c.Connect(ctx)
		if err != nil {
			t.Error(err)
			return nil
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	check := func(when string) {
		t.Helper()
		if n := metricValue(t, srv, "parley_websocket_connections"); n != 1 {
			t.Fatalf("%s: %v sockets registered, want 1", when, n)
		}
	}

	var old []*transport.Socket
	for i := range 20 {
		old = append(old, dial())
		check(fmt.Sprint("after dial ", i))
	}
	var wg sync.WaitGroup
	conc := make([]*transport.Socket, 10)
	for i := range conc {
		wg.Add(1)
		go func() { defer wg.Done(); conc[i] = dial() }()
	}
	wg.Wait()
	check("after 10 concurrent dials")
	last := dial()
	check("after the last dial")
	old = append(old, conc...)

	for i := range 5 {
		if _, err := sendTo(t, alice, "bob", []uint32{1}, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	got := recvUntilEmpty(t, last)
	for len(got) < 5 {
		got = append(got, recvDeliver(t, last))
	}
	for i, s := range old {
		if d := drainDeliveries(t, s); len(d) != 0 {
			t.Errorf("old socket %d got %v after it was replaced", i, d)
		}
	}
	check("at the end")
}
