package client_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
)

func TestReinstallShowsIdentityChange(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, recovery := register(t, srv, "bob")
	alice.run()
	bob.send("alice", "before")
	alice.waitMessage("before")
	before, _, err := alice.SafetyNumber(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	bobsView, _, _ := bob.SafetyNumber(ctx, "alice")
	if before != bobsView || len(before) != 60 {
		t.Fatalf("safety numbers differ: %q vs %q", before, bobsView)
	}

	// Bob loses his phone and re-installs: a new store, a new identity key.
	bob.Close()
	bob2 := newDevice(t)
	c, _, err := client.Recover(ctx, config(t, bob2.path, bob2), srv.URL, "bob", recovery, "bob-new-phone")
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	bob2.Client = c
	t.Cleanup(func() { c.Close() })
	bob2.run()

	alice.send("bob", "after")
	alice.waitEvent(func(e client.Event) bool {
		ic, ok := e.(*client.IdentityChangedEvent)
		return ok && ic.Peer == "bob" && !ic.Held
	})
	bob2.waitMessage("after")
	ms, _ := alice.Messages(ctx, "bob", 0)
	var warned bool
	for _, m := range ms {
		warned = warned || m.Kind == client.KindIdentityChanged
	}
	if !warned {
		t.Errorf("no identity-change note in the conversation: %+v", ms)
	}
	after, _, _ := alice.SafetyNumber(ctx, "bob")
	if after == before {
		t.Error("the safety number did not change")
	}
}

func TestVerifiedContactBlockedUntilReverified(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, recovery := register(t, srv, "bob")
	alice.send("bob", "hi")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Alice scans Bob's code: it matches.
	_, bobCode, err := bob.SafetyNumber(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Verify(ctx, "bob", bobCode); err != nil {
		t.Fatalf("verify: %v", err)
	}
	bob.Close()
	bob2 := newDevice(t)
	c, _, err := client.Recover(ctx, config(t, bob2.path, bob2), srv.URL, "bob", recovery, "")
	if err != nil {
		t.Fatal(err)
	}
	bob2.Client = c
	t.Cleanup(func() { c.Close() })

	// The old code no longer verifies, and nothing is sent to the new key.
	if _, err := alice.Send(ctx, "bob", "are you still you?"); !errors.Is(err, client.ErrIdentityNotVerified) {
		t.Fatalf("send to a changed verified contact: %v, want ErrIdentityNotVerified", err)
	}
	if _, err := alice.Send(ctx, "bob", "really?"); !errors.Is(err, client.ErrIdentityNotVerified) {
		t.Fatalf("second send: %v, want ErrIdentityNotVerified", err)
	}
	if err := alice.Verify(ctx, "bob", bobCode); !errors.Is(err, client.ErrSafetyNumberMismatch) {
		t.Fatalf("verify with the old code: %v, want mismatch", err)
	}
	cs, _ := alice.Contacts(ctx)
	if len(cs) != 1 || !cs[0].Held || cs[0].Verified {
		t.Fatalf("contacts: %+v", cs)
	}
	_, newCode, err := bob2.SafetyNumber(ctx, "alice")
	if !errors.Is(err, client.ErrUnknownContact) {
		t.Fatalf("bob2 knows alice already? %v", err)
	}
	_ = newCode
	if err := alice.Verify(ctx, "bob", nil); err != nil { // compared by reading the digits
		t.Fatal(err)
	}
	alice.send("bob", "verified again")
	if err := bob2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bob2.transcript("alice"); len(got) != 1 || got[0] != "alice: verified again" {
		t.Fatalf("bob2 sees %q", got)
	}
}

func TestLinkedDeviceReceivesAndRemovedDeviceDoesNot(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice.send("bob", "first")
	bob2 := link(t, srv, bob, "bob-tablet")
	bob2.run()
	alice.send("bob", "second")
	bob2.waitMessage("second")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bob.transcript("alice"); len(got) != 2 {
		t.Fatalf("bob's phone sees %q", got)
	}
	// The tablet learnt Alice's identity from the link, so it shares the
	// phone's safety number.
	n1, _, _ := bob.SafetyNumber(ctx, "alice")
	n2, _, err := bob2.SafetyNumber(ctx, "alice")
	if err != nil || n1 != n2 {
		t.Fatalf("safety numbers %q / %q (%v)", n1, n2, err)
	}

	if err := bob.RemoveDevice(ctx, bob2.DeviceID()); err != nil {
		t.Fatal(err)
	}
	if err := <-bob2.runErr; err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("removed device's Run returned %v, want an authorisation error", err)
	}
	bob2.runErr <- nil // for the cleanup's stop
	alice.send("bob", "third")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bob.transcript("alice"); len(got) != 3 {
		t.Fatalf("bob's phone sees %q", got)
	}
	if err := bob2.Sync(ctx); !isUnauthorized(err) {
		t.Fatalf("removed device syncs: %v", err)
	}
	if got := bob2.transcript("alice"); len(got) != 1 {
		t.Fatalf("removed tablet sees %q, want only \"second\"", got)
	}
}

func isUnauthorized(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == api.CodeUnauthorized
}

func TestWrongPassphrase(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice.send("bob", "keep this")
	alice.Close()
	before, err := os.ReadFile(alice.path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(ctx, alice.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Open(ctx, client.Config{Store: st, Passphrase: []byte("wrong")}); !errors.Is(err, client.ErrWrongPassphrase) {
		t.Fatalf("open with a wrong passphrase: %v", err)
	}
	st.Close()
	after, _ := os.ReadFile(alice.path)
	if !bytes.Equal(before, after) {
		t.Error("a wrong passphrase changed the store file")
	}
	st, _ = sqlitestore.Open(ctx, alice.path)
	c, err := client.Open(ctx, client.Config{Store: st, Passphrase: passphrase})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ms, _ := c.Messages(ctx, "bob", 0)
	if len(ms) != 1 || ms[0].Text != "keep this" {
		t.Fatalf("after reopening: %+v", ms)
	}
	if _, err := c.Send(ctx, "bob", "still works"); err != nil {
		t.Fatal(err)
	}
	_ = bob
}

func TestStoreHoldsNoPlaintext(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	secret := "the eagle lands at dawn"
	alice.send("bob", secret)
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	identity := bob.IdentityKey()
	for _, d := range []*device{alice, bob} {
		d.Close()
		var all []byte
		for _, suffix := range []string{"", "-wal"} {
			b, _ := os.ReadFile(d.path + suffix)
			all = append(all, b...)
		}
		if len(all) == 0 {
			t.Fatal("empty store")
		}
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("%s's store holds the message in plaintext", d.path)
		}
		if bytes.Contains(all, identity[1:]) && d == alice {
			t.Errorf("%s's store holds a contact's key in plaintext", d.path)
		}
	}
}

// TestSendToUnknownUser: nothing is left behind by a message to nobody.
func TestSendToUnknownUser(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	if _, err := alice.Send(ctx, "nobody_here", "hello?"); !errors.Is(err, client.ErrNoSuchUser) {
		t.Fatalf("send to an unknown user: %v", err)
	}
	if convs, _ := alice.Conversations(ctx); len(convs) != 0 {
		t.Fatalf("conversations: %+v", convs)
	}
}
