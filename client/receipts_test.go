package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
)

// TestGroupReceiptsCoalesced: a caught-up member that gets five messages
// of a group from one sender in a burst answers them with at most two
// delivery receipts (one per second of the burst, spec/client.md §10.4),
// not five, and the sender sees every one delivered.
func TestGroupReceiptsCoalesced(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	reqs := &requestLog{}
	bob := registerWith(t, srv, "bob", reqs)
	g, err := alice.CreateGroup(ctx, "Burst", "bob")
	if err != nil {
		t.Fatal(err)
	}
	bob.run()
	if _, err := alice.Send(ctx, g.Conversation, "warm-up"); err != nil {
		t.Fatal(err)
	}
	bob.waitMessage("warm-up")
	deliveredAll(t, alice, g.Conversation, 1)
	reqs.reset()
	for i := range 5 {
		if _, err := alice.Send(ctx, g.Conversation, fmt.Sprintf("burst %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		bob.waitMessage(fmt.Sprintf("burst %d", i))
	}
	deliveredAll(t, alice, g.Conversation, 6)
	if _, single := reqs.sends(); single < 1 || single > 2 {
		t.Fatalf("bob sent %d 1:1 sends for five group messages; want one or two receipts", single)
	}
}

// deliveredAll syncs d until n of its messages in conv count a delivery
// receipt from every recipient.
func deliveredAll(t *testing.T, d *device, conv client.ConversationID, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		syncAll(t, d)
		ms, err := d.Messages(context.Background(), conv, 0)
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, m := range ms {
			if m.Outgoing && m.Kind == client.KindText && m.DeliveredTo() == m.Recipients {
				done++
			}
		}
		if done >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages delivered to every member", done, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
