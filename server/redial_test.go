package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

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

// TestRefusedUpgradeKeepsSocket: a dial with the device's valid
// credentials that the WebSocket handshake refuses (a foreign Origin, no
// upgrade at all, a wrong protocol version) does not take over the
// device's live socket (spec/api.md §7.1): it stays registered and keeps
// delivering. Else any page a browser opened could cut a device off by
// making it dial, and a broken client could.
func TestRefusedUpgradeKeepsSocket(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	live := connect(t, bob)
	recvUntilEmpty(t, live)

	auth := func(h http.Header) http.Header {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(bob.creds.Username+"."+strconv.FormatUint(uint64(bob.creds.DeviceID), 10), bob.creds.Secret)
		h.Set("Authorization", r.Header.Get("Authorization"))
		return h
	}
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws"
	plain := func(h http.Header) func() (int, error) {
		return func() (int, error) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/ws", nil)
			if err != nil {
				return 0, err
			}
			req.Header = auth(h)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}
	}
	dials := []struct {
		name string
		want int
		dial func() (int, error)
	}{
		{"foreign origin", http.StatusForbidden, func() (int, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
				HTTPHeader: auth(http.Header{"Origin": {"https://attacker.example"}})})
			if err == nil {
				c.CloseNow()
				return http.StatusSwitchingProtocols, nil
			}
			if resp == nil {
				return 0, err
			}
			return resp.StatusCode, nil
		}},
		{"no upgrade", http.StatusUpgradeRequired, plain(http.Header{})},
		{"wrong version", http.StatusBadRequest, plain(http.Header{
			"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
			"Sec-Websocket-Version": {"8"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}})},
	}
	for i, d := range dials {
		got, err := d.dial()
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		if got != d.want {
			t.Errorf("%s: HTTP %d, want %d", d.name, got, d.want)
		}
		if n := openSockets(t, srv); n != 1 {
			t.Fatalf("%s: %v sockets registered, want the live one", d.name, n)
		}
		if _, err := sendTo(t, alice, "bob", []uint32{1}, fmt.Sprint("after ", i)); err != nil {
			t.Fatal(err)
		}
		if f := recvDeliver(t, live); string(f.Content) != fmt.Sprint("after ", i) {
			t.Fatalf("%s: the live socket got %q", d.name, f.Content)
		}
	}
}

// TestRedialWhileDelivering: a socket is attached to the hub when its 101
// is written, before the upgrade returns, and envelopes committed in that
// moment kick it. Its writer must not start before the socket serves (it
// had no connection yet and the server crashed: a nil dereference seen
// under load). Bob re-dials again and again while alice keeps sending;
// the server stays up and the last socket gets everything.
func TestRedialWhileDelivering(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	ctx := context.Background()

	const sends = 400
	done := make(chan error, 1)
	go func() {
		for i := range sends {
			if _, err := sendTo(t, alice, "bob", []uint32{1}, fmt.Sprint("m", i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var last *transport.Socket
	for sending := true; sending; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			sending = false
		default:
		}
		s, err := bob.c.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if last != nil {
			last.Close()
		}
		last = s
	}
	defer last.Close()
	got := map[string]bool{}
	for _, f := range recvUntilEmpty(t, last) {
		got[string(f.Content)] = true
	}
	for len(got) < sends {
		got[string(recvDeliver(t, last).Content)] = true
	}
}
