package client_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/parley-chat/parley/client"
)

// contact returns d's record of peer (fails the test if there is none).
func contact(t *testing.T, d *device, peer string) client.Contact {
	t.Helper()
	cs, err := d.Contacts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Username == peer {
			return c
		}
	}
	t.Fatalf("%s.%d has no contact %s", d.Username(), d.DeviceID(), peer)
	return client.Contact{}
}

func verifiedElsewhere(d *device, peer string) *client.VerifiedElsewhereEvent {
	return d.waitEvent(func(e client.Event) bool {
		v, ok := e.(*client.VerifiedElsewhereEvent)
		return ok && v.Peer == peer
	}).(*client.VerifiedElsewhereEvent)
}

// TestVerificationSyncsToLinkedDevices: verifying or unverifying a
// contact on one device marks it on the account's other devices, through
// an encrypted sync naming the identity key; a sync naming another key
// than the one a device pinned is refused there, with a note and an
// event, and changes nothing.
func TestVerificationSyncsToLinkedDevices(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, bobRecovery := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	alice.send("bob", "hi bob")
	tablet := link(t, srv, alice, "alice-tablet")
	if c := contact(t, tablet, "bob"); c.Verified {
		t.Fatal("bob is verified on the tablet before anyone verified him")
	}

	if err := alice.Verify(ctx, "bob", nil); err != nil {
		t.Fatal(err)
	}
	if err := tablet.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := verifiedElsewhere(tablet, "bob"); !ev.Verified || ev.Refused || ev.Device != alice.DeviceID() {
		t.Fatalf("event: %+v", ev)
	}
	if c := contact(t, tablet, "bob"); !c.Verified || c.Held {
		t.Fatalf("after the phone verified bob, the tablet has %+v", c)
	}

	// Unverifying on the tablet clears the mark on the phone.
	if err := tablet.Unverify(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := verifiedElsewhere(alice, "bob"); ev.Verified || ev.Refused {
		t.Fatalf("event: %+v", ev)
	}
	if c := contact(t, alice, "bob"); c.Verified {
		t.Fatalf("after the tablet unverified bob, the phone has %+v", c)
	}

	// A contact the tablet has no key for yet: it pins the verified key.
	alice.send("carol", "hi carol")
	if err := alice.Verify(ctx, "carol", nil); err != nil {
		t.Fatal(err)
	}
	if err := tablet.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	verifiedElsewhere(tablet, "carol")
	if c := contact(t, tablet, "carol"); !c.Verified || !bytes.Equal(c.IdentityKey, contact(t, alice, "carol").IdentityKey) {
		t.Fatalf("tablet's carol: %+v", c)
	}
	_ = carol

	// Bob recovers his account: a new identity key. The tablet learns it
	// (it writes to him); the phone has not, and verifies the old key.
	bob.Close()
	bob2 := newDevice(t)
	c, _, err := client.Recover(ctx, config(t, bob2.path, bob2), srv.URL, "bob", bobRecovery, "")
	if err != nil {
		t.Fatal(err)
	}
	bob2.Client = c
	t.Cleanup(func() { c.Close() })
	tablet.send("bob", "is this still you?")
	newKey := contact(t, tablet, "bob").IdentityKey
	if bytes.Equal(newKey, contact(t, alice, "bob").IdentityKey) {
		t.Fatal("the phone already has bob's new key")
	}
	if err := alice.Verify(ctx, "bob", nil); err != nil {
		t.Fatal(err)
	}
	if err := tablet.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := verifiedElsewhere(tablet, "bob"); !ev.Refused {
		t.Fatalf("a sync naming another key was not refused: %+v", ev)
	}
	if c := contact(t, tablet, "bob"); c.Verified || !bytes.Equal(c.IdentityKey, newKey) {
		t.Fatalf("the refused sync changed the tablet's bob: %+v", c)
	}
	ms, err := tablet.Messages(ctx, "bob", 1)
	if err != nil || len(ms) != 1 || ms[0].Kind != client.KindIdentityChanged || !strings.Contains(ms[0].Text, "another safety number") {
		t.Fatalf("no note of the refused sync: %+v %v", ms, err)
	}
}
