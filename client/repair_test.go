package client_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
)

// reopen closes d's client and opens its store again, after edit (if not
// nil) has changed the raw store.
func reopen(t *testing.T, d *device, edit func(client.Tx) error) {
	t.Helper()
	ctx := context.Background()
	d.Close()
	if edit != nil {
		st, err := sqlitestore.Open(ctx, d.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Update(ctx, edit); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	c, err := client.Open(ctx, config(t, d.path, d))
	if err != nil {
		t.Fatal(err)
	}
	d.Client = c
}

func TestUndecryptableMessageIsReportedAndSessionRepaired(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	sync := func(ds ...*device) {
		t.Helper()
		for _, d := range ds {
			if err := d.Sync(ctx); err != nil {
				t.Fatalf("%s syncs: %v", d.Username(), err)
			}
		}
	}
	alice.send("bob", "one")
	sync(bob)
	bob.send("alice", "r1")
	sync(alice, bob) // Alice's session is confirmed; Bob gets her receipt

	// Bob's session with Alice is lost (say, a restore that predates it).
	reopen(t, bob, func(tx client.Tx) error {
		var keys []string
		tx.Scan("session", "alice/", func(k string, _ []byte) error { keys = append(keys, k); return nil })
		if len(keys) != 1 {
			t.Fatalf("bob has %d sessions with alice", len(keys))
		}
		return tx.Delete("session", keys[0])
	})
	alice.send("bob", "lost")
	sync(bob)
	bob.waitEvent(func(e client.Event) bool { f, ok := e.(*client.DecryptionFailureEvent); return ok && f.Peer == "alice" })
	ms, _ := bob.Messages(ctx, "alice", 0)
	last := ms[len(ms)-1]
	if last.Kind != client.KindDecryptionFailed || last.From != "alice" {
		t.Fatalf("bob's last message is %+v, want a decryption-failure note", last)
	}

	// Bob's device started a fresh session; once Alice has it, messages flow.
	sync(alice)
	alice.send("bob", "after reset")
	sync(bob)
	if got := bob.transcript("alice"); got[len(got)-1] != "alice: after reset" {
		t.Fatalf("bob sees %q", got)
	}
	bob.send("alice", "r2")
	sync(alice)
	if got := alice.transcript("bob"); got[len(got)-1] != "bob: r2" {
		t.Fatalf("alice sees %q", got)
	}
}
