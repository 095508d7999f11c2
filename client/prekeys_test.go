package client_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server/httpapi"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func signedID(t *testing.T, b []byte) uint32 {
	t.Helper()
	pb, err := pqxdh.ParseBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	return pb.SignedPreKeyID
}

func TestPreKeysReplenishedAndRotated(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	alice, _, err := client.Create(ctx, client.Config{Store: st, Passphrase: passphrase, Now: clk.now},
		client.CreateOptions{Server: srv.URL, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	bob, _ := register(t, srv, "bob")
	at := alice.TransportForTest()
	counts, err := at.KeyCounts(ctx)
	if err != nil || counts.OneTime != 100 || counts.KEMOneTime != 100 {
		t.Fatalf("after registration: %+v %v", counts, err)
	}

	// Others use up 80 one-time keys of each kind: Alice tops up. One
	// requester takes at most httpapi.OneTimeBurst of them (spec/api.md
	// §6.3), so Bob and 15 others fetch 5 bundles each.
	bt := bob.TransportForTest()
	fetchers := []*transport.Client{bt}
	for i := range 15 {
		req, _, err := parleytest.Registration(fmt.Sprint("fetcher", i), 0)
		if err != nil {
			t.Fatal(err)
		}
		base := transport.New(srv.URL, nil)
		creds, err := base.Register(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		fetchers = append(fetchers, base.As(creds))
	}
	var first []byte
	for i := range 80 {
		bs, err := fetchers[i/httpapi.OneTimeBurst].Bundles(ctx, "alice", 0)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = bs.Bundles[0]
		}
	}
	if counts, _ = at.KeyCounts(ctx); counts.OneTime != 20 {
		t.Fatalf("after 80 fetches: %+v", counts)
	}
	if err := alice.MaintainPreKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if counts, _ = at.KeyCounts(ctx); counts.OneTime != 120 || counts.KEMOneTime != 120 {
		t.Fatalf("after topping up: %+v", counts)
	}

	// Bob starts a session on the first signed prekey; a week later Alice
	// rotates before she reads it, and still can.
	if signedID(t, first) != 1 {
		t.Fatalf("first bundle's signed prekey is %d", signedID(t, first))
	}
	bob.send("alice", "sent before the rotation")
	clk.add(8 * 24 * time.Hour)
	if err := alice.MaintainPreKeys(ctx); err != nil {
		t.Fatal(err)
	}
	bs, _ := bt.Bundles(ctx, "alice", 0)
	if id := signedID(t, bs.Bundles[0]); id != 2 {
		t.Fatalf("after a week the signed prekey is %d, want 2", id)
	}
	if err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _ := alice.Messages(ctx, "bob", 0)
	if len(ms) != 1 || ms[0].Text != "sent before the rotation" {
		t.Fatalf("alice reads %+v", ms)
	}
	// A replaced key is kept 30 days after its replacement, then deleted.
	clk.add(29 * 24 * time.Hour)
	if err := alice.MaintainPreKeys(ctx); err != nil { // rotates to 3
		t.Fatal(err)
	}
	if ids, _ := alice.SignedPreKeyIDsForTest(ctx); len(ids) != 3 {
		t.Fatalf("signed prekeys held: %v, want 1, 2 and 3", ids)
	}
	clk.add(2 * 24 * time.Hour) // 31 days after 1 was replaced
	if err := alice.MaintainPreKeys(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing rotated (3 is two days old), so nothing was retired yet.
	if ids, _ := alice.SignedPreKeyIDsForTest(ctx); len(ids) != 3 {
		t.Fatalf("signed prekeys held: %v", ids)
	}
	clk.add(6 * 24 * time.Hour)
	if err := alice.MaintainPreKeys(ctx); err != nil { // rotates to 4, retires 1
		t.Fatal(err)
	}
	ids, _ := alice.SignedPreKeyIDsForTest(ctx)
	if len(ids) != 3 || ids[0] != "0000000002" || ids[2] != "0000000004" {
		t.Fatalf("signed prekeys held: %v, want 2, 3 and 4", ids)
	}
}

// TestTypingStartsNoSession: a typing indicator to someone with whom no
// session exists is dropped rather than using up one of their one-time
// prekeys; once a message has started the session, typing goes through.
func TestTypingStartsNoSession(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	bt := bob.TransportForTest()
	before, err := bt.KeyCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SendTyping(ctx, "bob", true); err != nil {
		t.Fatalf("typing without a session: %v", err)
	}
	if after, _ := bt.KeyCounts(ctx); after != before {
		t.Fatalf("prekey counts %+v before typing, %+v after", before, after)
	}
	bob.run()
	alice.send("bob", "hello")
	bob.waitMessage("hello")
	// Typing from a message request is not shown (spec/client.md §11.8).
	if err := bob.Accept(ctx, client.Direct("alice")); err != nil {
		t.Fatal(err)
	}
	if err := alice.SendTyping(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(func(e client.Event) bool {
		ty, ok := e.(*client.TypingEvent)
		return ok && ty.From == "alice" && ty.Started
	})
}

// TestBaseBundleAfterPreKeyShareSpent: once a requester has spent its
// share of a target's one-time prekeys (spec/api.md §6.3), it gets base
// bundles (signed and last-resort prekeys only). A stranger who spends
// the share on purpose and then sends must still reach the target: the
// session a base bundle starts decrypts, both ways, and so does a second
// one started from a base bundle by the same account's new device.
func TestBaseBundleAfterPreKeyShareSpent(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	bt := bob.TransportForTest()
	for range httpapi.OneTimeBurst {
		if _, err := bt.Bundles(ctx, "alice", 0); err != nil {
			t.Fatal(err)
		}
	}
	bs, err := bt.Bundles(ctx, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	if pb, err := pqxdh.ParseBundle(bs.Bundles[0]); err != nil || pb.HasOneTimePreKey {
		t.Fatalf("after the share: a bundle with a one-time prekey (%v)", err)
	}

	bob.send("alice", "on a base bundle")
	if err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := alice.transcript("bob"); len(got) != 1 || got[0] != "bob: on a base bundle" {
		t.Fatalf("alice reads %q", got)
	}
	alice.send("bob", "read you")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bob.transcript("alice"); len(got) != 2 || got[1] != "alice: read you" {
		t.Fatalf("bob reads %q", got)
	}

	tablet := link(t, srv, bob, "bob-tablet")
	tablet.send("alice", "from the tablet")
	if err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := alice.transcript("bob"); len(got) != 3 || got[2] != "bob: from the tablet" {
		t.Fatalf("alice reads %q", got)
	}
}
