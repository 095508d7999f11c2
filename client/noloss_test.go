package client_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/parley-chat/parley/client"
)

// syncAll syncs each device once, in order.
func syncAll(t *testing.T, ds ...*device) {
	t.Helper()
	for _, d := range ds {
		if err := d.Sync(context.Background()); err != nil {
			t.Fatalf("%s.%d syncs: %v", d.Username(), d.DeviceID(), err)
		}
	}
}

// failures counts the decryption-failure notes in d's conversation with peer.
func failures(t *testing.T, d *device, peer string) int {
	t.Helper()
	ms, err := d.Messages(context.Background(), peer, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if m.Kind == client.KindDecryptionFailed {
			n++
		}
	}
	return n
}

// queued sends n numbered texts from d to peer, returning their lines as
// transcript shows them.
func queued(d *device, peer, prefix string, n int) []string {
	var out []string
	for i := range n {
		text := fmt.Sprintf("%s %d", prefix, i+1)
		d.send(peer, text)
		out = append(out, d.Username()+": "+text)
	}
	return out
}

// hasAll reports whether got contains every line of want exactly once.
func hasAll(got, want []string) bool {
	for _, w := range want {
		n := 0
		for _, g := range got {
			if g == w {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	return true
}

// TestRemovedDevicesQueuedMessagesAreRead is the README walkthrough's
// loss: Bob's laptop writes while Alice is offline, Bob removes the
// laptop, and Alice writes before she has read what it sent. The
// server's stale_devices answer must not cost her those messages.
func TestRemovedDevicesQueuedMessagesAreRead(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	laptop := link(t, srv, bob, "bob-laptop")
	// Sessions both ways, so the laptop's next messages are ratchet
	// messages (not prekey messages, which need no stored session).
	laptop.send("alice", "hello from the laptop")
	syncAll(t, alice)
	alice.send("bob", "hi both")
	syncAll(t, bob, laptop)

	want := queued(laptop, "alice", "queued", 5)
	if err := bob.RemoveDevice(ctx, laptop.DeviceID()); err != nil {
		t.Fatal(err)
	}
	alice.send("bob", "I write first") // stale_devices: the laptop is extra
	syncAll(t, alice)
	if got := alice.transcript("bob"); !hasAll(got, want) {
		t.Errorf("alice sees %q, want each of %q once", got, want)
	}
	if n := failures(t, alice, "bob"); n != 0 {
		t.Errorf("alice has %d decryption-failure notes", n)
	}
}

// TestRecoveredAccountsQueuedMessagesAreRead: Bob's old phone writes,
// then he recovers the account on a new one (a new identity key, the old
// device removed); Alice writes to the new phone before she reads the
// old one's messages.
func TestRecoveredAccountsQueuedMessagesAreRead(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, recovery := register(t, srv, "bob")
	bob.send("alice", "hello")
	syncAll(t, alice)
	alice.send("bob", "hi")
	syncAll(t, bob)

	want := queued(bob, "alice", "queued", 5)
	bob.Close()
	bob2 := newDevice(t)
	c, _, err := client.Recover(ctx, config(t, bob2.path, bob2), srv.URL, "bob", recovery, "bob-new-phone")
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	bob2.Client = c
	t.Cleanup(func() { c.Close() })

	alice.send("bob", "to the new phone")
	syncAll(t, alice, bob2)
	if got := alice.transcript("bob"); !hasAll(got, want) {
		t.Errorf("alice sees %q, want each of %q once", got, want)
	}
	if n := failures(t, alice, "bob"); n != 0 {
		t.Errorf("alice has %d decryption-failure notes", n)
	}
	if got := bob2.transcript("alice"); !slices.Contains(got, "alice: to the new phone") {
		t.Errorf("bob's new phone sees %q", got)
	}
}

// TestRemovedOwnDevicesTranscriptsAreRead: Alice's laptop sends to Bob
// while her phone is offline, then the phone removes the laptop; the
// phone still shows what the laptop sent (its sync transcripts).
func TestRemovedOwnDevicesTranscriptsAreRead(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	register(t, srv, "bob")
	laptop := link(t, srv, alice, "alice-laptop")
	laptop.send("bob", "first")
	syncAll(t, alice)
	alice.send("bob", "second")
	syncAll(t, laptop)

	want := queued(laptop, "bob", "queued", 5)
	if err := alice.RemoveDevice(ctx, laptop.DeviceID()); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice)
	if got := alice.transcript("bob"); !hasAll(got, want) {
		t.Errorf("alice's phone sees %q, want each of %q once", got, want)
	}
}
