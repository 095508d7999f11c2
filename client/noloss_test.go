package client_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/parleytest"
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
	ms, err := d.Messages(context.Background(), client.Direct(peer), 0)
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

// dropSessions reopens d with its sessions with peer deleted (say, a
// restore from a backup that predates them).
func dropSessions(t *testing.T, d *device, peer string) {
	t.Helper()
	reopen(t, d, func(tx client.Tx) error {
		var keys []string
		tx.Scan("session", peer+"/", func(k string, _ []byte) error { keys = append(keys, k); return nil })
		if len(keys) == 0 {
			t.Fatalf("%s has no sessions with %s", d.Username(), peer)
		}
		for _, k := range keys {
			if err := tx.Delete("session", k); err != nil {
				return err
			}
		}
		return nil
	})
}

// converse makes alice and bob exchange a message each way, so each has
// a confirmed session with the other.
func converse(t *testing.T, alice, bob *device) {
	t.Helper()
	alice.send("bob", "one")
	syncAll(t, bob)
	bob.send("alice", "r1")
	syncAll(t, alice, bob)
}

// TestUndecryptableMessageIsResent: a message Bob's device cannot
// decrypt is sent again by Alice's device when it asks, and then shown
// once, in place of the "could not be decrypted" note.
func TestUndecryptableMessageIsResent(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	converse(t, alice, bob)
	dropSessions(t, bob, "alice")

	m := alice.send("bob", "lost at first")
	syncAll(t, bob)
	if n := failures(t, bob, "alice"); n != 1 {
		t.Fatalf("bob has %d decryption-failure notes, want 1", n)
	}
	syncAll(t, alice) // the decryption error: Alice resends
	syncAll(t, bob)
	e := bob.waitEvent(func(e client.Event) bool {
		me, ok := e.(*client.MessageEvent)
		return ok && me.Message.ID == m.ID
	}).(*client.MessageEvent)
	if !e.Resent {
		t.Error("the resent message's event does not say it replaces a note")
	}
	if n := failures(t, bob, "alice"); n != 0 {
		t.Errorf("bob still has %d decryption-failure notes", n)
	}
	want := []string{"alice: one", "bob: r1", "alice: lost at first"}
	if got := bob.transcript("alice"); !slices.Equal(got, want) {
		t.Errorf("bob sees %q, want %q", got, want)
	}
	convs, _ := bob.Conversations(ctx)
	if len(convs) != 1 || convs[0].Unread != 2 {
		t.Errorf("bob's conversations: %+v, want alice with 2 unread", convs)
	}
	syncAll(t, alice)
	alice.waitStatus("bob", m.ID, client.StatusDelivered)

	// Both sessions work again, both ways.
	alice.send("bob", "after")
	bob.send("alice", "r2")
	syncAll(t, alice, bob)
	want = append(want, "alice: after", "bob: r2")
	for _, c := range []struct {
		d    *device
		peer string
	}{{alice, "bob"}, {bob, "alice"}} {
		if got := c.d.transcript(c.peer); !slices.Equal(got, want) || failures(t, c.d, c.peer) != 0 {
			t.Errorf("%s sees %q, want %q and no failure notes", c.d.Username(), got, want)
		}
	}
}

// fakeClock is a Config.Now that the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// registerWithClock is register with the clock now.
func registerWithClock(t *testing.T, srv *parleytest.Server, name string, now func() time.Time) *device {
	t.Helper()
	d := newDevice(t)
	cfg := config(t, d.path, d)
	cfg.Now = now
	c, _, err := client.Create(context.Background(), cfg, client.CreateOptions{Server: srv.URL, Username: name})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	d.Client = c
	t.Cleanup(func() { c.Close() })
	return d
}

// TestUnresendableMessageIsReportedUndelivered: when the sender no longer
// keeps a message that a device could not decrypt, the sender sees it
// could not be delivered: a status, a note and an event.
func TestUnresendableMessageIsReportedUndelivered(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	alice := registerWithClock(t, srv, "alice", clock.now)
	bob, _ := register(t, srv, "bob")
	converse(t, alice, bob)
	dropSessions(t, bob, "alice")

	m := alice.send("bob", "too late")
	clock.add(25 * time.Hour)
	syncAll(t, alice) // the outbox lets the message go: nobody asked for it
	syncAll(t, bob)
	syncAll(t, alice)
	e := alice.waitEvent(func(e client.Event) bool { _, ok := e.(*client.UndeliveredEvent); return ok }).(*client.UndeliveredEvent)
	if e.Conversation != "bob" || e.ID != m.ID || e.Device != bob.DeviceID() || e.OwnDevice {
		t.Errorf("event %+v, want message %s to bob's device %d", e, m.ID, bob.DeviceID())
	}
	alice.waitStatus("bob", m.ID, client.StatusUndelivered)
	ms, _ := alice.Messages(ctx, "bob", 0)
	if last := ms[len(ms)-1]; last.Kind != client.KindUndelivered {
		t.Errorf("alice's last message is %+v, want a note that it was not delivered", last)
	}
	if client.StatusUndelivered.String() != "could not be delivered" {
		t.Errorf("the status reads %q", client.StatusUndelivered)
	}
}

// TestStrayDecryptionErrorChangesNothing: a decryption error that names
// another device, or a message this device never sent, changes nothing.
func TestStrayDecryptionErrorChangesNothing(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	converse(t, alice, bob)
	m := alice.send("bob", "kept")
	syncAll(t, bob, alice)
	before, _ := alice.Messages(ctx, "bob", 0)
	for _, e := range []struct {
		id     client.MessageID
		device uint32
	}{{m.ID, alice.DeviceID() + 1}, {client.MessageID{1, 2, 3}, alice.DeviceID()}} {
		if err := bob.SendDecryptionErrorForTest(ctx, "alice", e.id, e.device); err != nil {
			t.Fatal(err)
		}
	}
	syncAll(t, alice)
	after, _ := alice.Messages(ctx, "bob", 0)
	if !slices.EqualFunc(before, after, func(a, b client.Message) bool { return a.ID == b.ID && a.Status == b.Status }) {
		t.Errorf("alice's messages changed:\n%+v\n%+v", before, after)
	}
	alice.mu.Lock()
	for _, e := range alice.events {
		if u, ok := e.(*client.UndeliveredEvent); ok {
			t.Errorf("alice reports %+v", u)
		}
	}
	alice.mu.Unlock()
}

// archived counts the receive-only session records in d's store (it
// reopens d, without its test clock).
func archived(t *testing.T, d *device) int {
	t.Helper()
	n := 0
	reopen(t, d, func(tx client.Tx) error {
		return tx.Scan("archive", "", func(string, []byte) error { n++; return nil })
	})
	return n
}

// TestArchivedSessionsAreKeptForTheirBound: the sessions of a removed
// device stay while the queue may still hold its messages, and for 7
// days, and go at the first drained queue after that.
func TestArchivedSessionsAreKeptForTheirBound(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	alice := registerWithClock(t, srv, "alice", clock.now)
	bob, _ := register(t, srv, "bob")
	laptop := link(t, srv, bob, "bob-laptop")
	laptop.send("alice", "hello from the laptop")
	syncAll(t, alice)
	alice.send("bob", "hi both")
	syncAll(t, bob, laptop)
	if err := bob.RemoveDevice(ctx, laptop.DeviceID()); err != nil {
		t.Fatal(err)
	}
	alice.send("bob", "I write first") // archives the laptop's sessions
	syncAll(t, alice)                  // drained, but not 7 days yet
	clock.add(6 * 24 * time.Hour)
	syncAll(t, alice)
	if n := archived(t, alice); n != 1 {
		t.Fatalf("after 6 days alice keeps %d archive records, want 1", n)
	}
	alice.Client.Close()
	cfg := config(t, alice.path, alice)
	cfg.Now = clock.now
	c, err := client.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	alice.Client = c
	clock.add(2 * 24 * time.Hour)
	syncAll(t, alice)
	if n := archived(t, alice); n != 0 {
		t.Errorf("after 8 days and a drained queue alice keeps %d archive records, want 0", n)
	}
}

// TestUndecryptableTranscriptIsResent: a sync transcript the laptop
// cannot decrypt is sent again by the phone, so the laptop shows what
// the phone sent.
func TestUndecryptableTranscriptIsResent(t *testing.T) {
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	laptop := link(t, srv, alice, "alice-laptop")
	converse(t, alice, bob)
	syncAll(t, laptop)
	laptop.send("bob", "from the laptop")
	syncAll(t, alice) // sessions both ways between the phone and the laptop
	dropSessions(t, laptop, "alice")

	alice.send("bob", "from the phone")
	syncAll(t, laptop, alice, laptop)
	want := []string{"alice: one", "bob: r1", "alice: from the laptop", "alice: from the phone"}
	if got := laptop.transcript("bob"); !slices.Equal(got, want) {
		t.Errorf("the laptop sees %q, want %q", got, want)
	}
}

// TestStrangersDecryptionErrorForAnotherConversation: a stranger who
// learnt the ID of a message Alice sent to Carol (a shared device, a
// leaked log) and sends Alice a decryption-error content naming it gets
// nothing: no copy of Carol's message is re-sent to the stranger, and
// neither Carol's conversation nor the stranger's is marked or noted.
func TestStrangersDecryptionErrorForAnotherConversation(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	carol, _ := register(t, srv, "carol")
	mallory, _ := register(t, srv, "mallory")
	secret := alice.send("carol", "for carol only")
	syncAll(t, carol, alice) // alice has carol's delivery receipt
	before, _ := alice.Messages(ctx, "carol", 0)
	for range 3 {
		if err := mallory.SendDecryptionErrorForTest(ctx, "alice", secret.ID, alice.DeviceID()); err != nil {
			t.Fatal(err)
		}
	}
	syncAll(t, alice, mallory, carol)
	after, _ := alice.Messages(ctx, "carol", 0)
	if !slices.EqualFunc(before, after, func(a, b client.Message) bool { return a.ID == b.ID && a.Status == b.Status }) {
		t.Errorf("alice's conversation with carol changed:\n%+v\n%+v", before, after)
	}
	if got := alice.transcript("mallory"); len(got) != 0 {
		t.Errorf("alice's conversation with mallory: %q", got)
	}
	if got := mallory.transcript("alice"); len(got) != 0 {
		t.Errorf("mallory got from alice: %q", got)
	}
	if got := carol.transcript("alice"); len(got) != 1 {
		t.Errorf("carol's conversation: %q", got)
	}
	alice.mu.Lock()
	for _, e := range alice.events {
		if u, ok := e.(*client.UndeliveredEvent); ok {
			t.Errorf("alice reports %+v", u)
		}
	}
	alice.mu.Unlock()
}
