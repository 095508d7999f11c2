package client_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parley-chat/parley/api"
	. "github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func (r *recorder) count(match func(Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if match(e) {
			n++
		}
	}
	return n
}

func newTestClient(t *testing.T, url, name string) (*Client, *recorder) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	c, _, err := Create(ctx, Config{Store: st, Passphrase: []byte("pw"), Events: rec.add}, CreateOptions{Server: url, Username: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

// TestRedeliveredEnvelopeIsDropped: an envelope processed once (say the
// acknowledgement was lost, or the server replays it) stores nothing the
// second time and raises no decryption failure.
func TestRedeliveredEnvelopeIsDropped(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice, _ := newTestClient(t, srv.URL, "alice")
	bob, events := newTestClient(t, srv.URL, "bob")
	if _, err := alice.Send(ctx, "bob", "exactly once"); err != nil {
		t.Fatal(err)
	}
	sock, err := bob.TransportForTest().Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	f, err := sock.Recv(ctx)
	if err != nil || f.Type != api.FrameDeliver {
		t.Fatalf("recv: %v %+v", err, f)
	}
	replay := *f
	replay.Seq += 1000 // a replay under another Seq is caught by the client ID
	for _, fr := range []*api.Frame{f, f, &replay} {
		if err := bob.HandleForTest(ctx, fr); err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := bob.Messages(ctx, "alice", 0)
	if len(ms) != 1 || ms[0].Text != "exactly once" {
		t.Fatalf("messages: %+v", ms)
	}
	if n := events.count(func(e Event) bool { _, ok := e.(*MessageEvent); return ok }); n != 1 {
		t.Errorf("%d message events, want 1", n)
	}
	if n := events.count(func(e Event) bool { _, ok := e.(*DecryptionFailureEvent); return ok }); n != 0 {
		t.Errorf("%d decryption failures, want 0", n)
	}
}

// TestUnreadableContentKeepsTheSession: an authentic message this version
// cannot read is noted, and the session goes on without a reset.
func TestUnreadableContentKeepsTheSession(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice, _ := newTestClient(t, srv.URL, "alice")
	bob, events := newTestClient(t, srv.URL, "bob")
	if err := alice.SendKindForTest(ctx, "bob", 99); err != nil { // a kind from a later version
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "bob", "and a normal one"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _ := bob.Messages(ctx, "alice", 0)
	// Both were sent in the same millisecond, often: messages are kept in
	// the order of their senders' timestamps, and within one millisecond
	// of their (random) IDs, so either may come first.
	if len(ms) == 2 && ms[1].Kind == KindDecryptionFailed {
		ms[0], ms[1] = ms[1], ms[0]
	}
	if len(ms) != 2 || ms[0].Kind != KindDecryptionFailed || !strings.Contains(ms[0].Text, "could not be shown") || ms[1].Text != "and a normal one" {
		t.Fatalf("messages: %+v", ms)
	}
	if n := events.count(func(e Event) bool { _, ok := e.(*DecryptionFailureEvent); return ok }); n != 0 {
		t.Errorf("%d decryption failures (session resets), want 0", n)
	}
}
