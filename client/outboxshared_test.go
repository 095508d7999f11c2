package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
)

// outboxKeys counts d's outbox entries: per-account records ("m/") and
// shared bodies ("b/"), read from d's store file beside d.
func outboxKeys(t *testing.T, d *device) (records, bodies int) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, d.path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.View(ctx, func(tx client.Tx) error {
		return tx.Scan("outbox", "", func(k string, _ []byte) error {
			switch {
			case strings.HasPrefix(k, "m/"):
				records++
			case strings.HasPrefix(k, "b/"):
				bodies++
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return records, bodies
}

// TestSharedOutboxBodyIsResent: a group change sent to three members at
// once is kept in the outbox once, with a record per member; a member
// that cannot decrypt it asks, and is sent it again from that one copy,
// and then shows the change.
func TestSharedOutboxBodyIsResent(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	dave, _ := register(t, srv, "dave")
	g, err := alice.CreateGroup(ctx, "Before", "bob", "carol", "dave")
	if err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, carol, dave)
	converse(t, alice, carol) // a confirmed session both ways
	records0, bodies0 := outboxKeys(t, alice)
	dropSessions(t, carol, "alice")

	if err := alice.RenameGroup(ctx, g.Conversation, "After"); err != nil {
		t.Fatal(err)
	}
	records, bodies := outboxKeys(t, alice)
	if records-records0 != 3 || bodies-bodies0 != 1 {
		t.Fatalf("the rename added %d outbox records and %d bodies; want 3 and 1", records-records0, bodies-bodies0)
	}
	syncAll(t, bob, dave, carol) // carol cannot decrypt it and says so
	syncAll(t, alice)            // alice resends it from the shared body
	syncAll(t, carol)
	for _, d := range []*device{bob, carol, dave} {
		got, err := d.Group(ctx, g.Conversation)
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != "After" {
			t.Fatalf("%s sees the group as %q", d.Username(), got.Title)
		}
	}
}

// TestSharedOutboxBodyLeavesWithItsRecords: once a day has passed, the
// records of a group change kept for three members leave the outbox, and
// the one body they shared with the last of them.
func TestSharedOutboxBodyLeavesWithItsRecords(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	alice := registerWithClock(t, srv, "alice", clock.now)
	for _, n := range []string{"bob", "carol", "dave"} {
		register(t, srv, n)
	}
	g, err := alice.CreateGroup(ctx, "Before", "bob", "carol", "dave")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.RenameGroup(ctx, g.Conversation, "After"); err != nil {
		t.Fatal(err)
	}
	if records, bodies := outboxKeys(t, alice); records < 6 || bodies != 2 {
		t.Fatalf("kept %d records and %d bodies; want the creation's and the rename's for three members", records, bodies)
	}
	clock.add(25 * time.Hour)
	syncAll(t, alice) // the outbox lets them go
	if records, bodies := outboxKeys(t, alice); records != 0 || bodies != 0 {
		t.Fatalf("after a day: %d records and %d bodies left", records, bodies)
	}
}
