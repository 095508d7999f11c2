package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestWebSocketTicket: a device that cannot set the Authorization header
// on a WebSocket (a browser) asks for a ticket with its credentials and
// opens the socket with the ticket alone; it delivers like any other. A
// ticket opens one socket; a made-up one, one of a device removed since,
// or none at all, opens nothing (401 before any upgrade).
func TestWebSocketTicket(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)

	s, err := bob.c.ConnectWithTicket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recvUntilEmpty(t, s)
	if _, err := sendTo(t, alice, "bob", []uint32{1}, "over a ticket"); err != nil {
		t.Fatal(err)
	}
	if f := recvDeliver(t, s); string(f.Content) != "over a ticket" {
		t.Fatalf("delivered %q", f.Content)
	}
	s.Close()

	base := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws"
	status := func(u string) int {
		t.Helper()
		ws, resp, err := websocket.Dial(ctx, u, nil)
		if err == nil {
			ws.CloseNow()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("dial %s: %v", u, err)
		}
		return resp.StatusCode
	}
	tk, err := bob.c.WSTicket(ctx)
	if err != nil || len(tk.Ticket) != 43 || tk.Expires == 0 {
		t.Fatalf("ticket %+v, %v", tk, err)
	}
	if got := status(base + "?ticket=" + tk.Ticket); got != http.StatusSwitchingProtocols {
		t.Fatalf("a fresh ticket: %d", got)
	}
	if got := status(base + "?ticket=" + tk.Ticket); got != http.StatusUnauthorized {
		t.Fatalf("the same ticket again: %d, want 401", got)
	}
	if got := status(base + "?ticket=" + strings.Repeat("A", 43)); got != http.StatusUnauthorized {
		t.Fatalf("a made-up ticket: %d, want 401", got)
	}
	if got := status(base); got != http.StatusUnauthorized {
		t.Fatalf("no ticket, no credentials: %d, want 401", got)
	}

	laptop := link(t, srv, bob, "laptop")
	tk, err = laptop.c.WSTicket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.c.RemoveDevice(ctx, laptop.creds.DeviceID); err != nil {
		t.Fatal(err)
	}
	if got := status(base + "?ticket=" + tk.Ticket); got != http.StatusUnauthorized {
		t.Fatalf("a removed device's ticket: %d, want 401", got)
	}
	// Asking for a ticket needs the device's credentials.
	if _, err := transport.New(srv.URL, nil).WSTicket(ctx); err == nil {
		t.Fatal("a ticket without credentials")
	} else {
		wantCode(t, err, api.CodeUnauthorized)
	}
}
