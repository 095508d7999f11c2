package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
)

// TestGroupEditReactDeleteTimer: in a group of three accounts, two of
// them with two devices, an edit, reactions from two members, a delete
// for everyone and a chat timer reach every device; a member may not edit
// another's message, the group's admin included.
func TestGroupEditReactDeleteTimer(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	alice2 := link(t, srv, alice, "alice-laptop")
	bob, _ := register(t, srv, "bob")
	bob2 := link(t, srv, bob, "bob-laptop")
	carol, _ := register(t, srv, "carol")
	all := []*device{alice, alice2, bob, bob2, carol}

	g, err := alice.CreateGroup(ctx, "Trip", "@bob", "@carol")
	if err != nil {
		t.Fatal(err)
	}
	conv := g.Conversation
	syncRounds(t, 2, all...)

	m, err := bob2.Send(ctx, conv, "we leave at 7")
	if err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, all...)
	if _, err := bob.Edit(ctx, conv, m.ID, "we leave at 8"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, all...)
	for _, d := range all {
		got := d.message(conv, m.ID)
		if got.Text != "we leave at 8" || !got.Edited || len(got.Edits) != 1 || got.Edits[0].Text != "we leave at 7" {
			t.Fatalf("%s.%d: %+v, want the edit with the earlier text kept", d.Username(), d.DeviceID(), got)
		}
	}
	// The admin may not edit a member's message.
	if _, err := alice.Edit(ctx, conv, m.ID, "we leave at 9"); !errors.Is(err, client.ErrNotAuthor) {
		t.Fatalf("the admin edits bob's message: %v, want ErrNotAuthor", err)
	}

	if _, err := carol.React(ctx, conv, m.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice2.React(ctx, conv, m.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, all...)
	for _, d := range all {
		rc := d.message(conv, m.ID).ReactionCounts()
		if len(rc) != 1 || rc[0] != (client.ReactionCount{Emoji: "👍", Count: 2}) {
			t.Fatalf("%s.%d: reactions %+v, want 👍 2", d.Username(), d.DeviceID(), rc)
		}
	}
	// Carol withdraws hers.
	if _, err := carol.React(ctx, conv, m.ID, ""); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, all...)
	for _, d := range all {
		if r := d.message(conv, m.ID).Reactions; len(r) != 1 || r["alice"] != "👍" {
			t.Fatalf("%s.%d: reactions %v after carol withdrew hers", d.Username(), d.DeviceID(), r)
		}
	}

	if err := bob.DeleteForEveryone(ctx, conv, m.ID); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, all...)
	for _, d := range all {
		if got := d.message(conv, m.ID); got.Kind != client.KindDeleted || got.Text != "" || got.Reactions != nil {
			t.Fatalf("%s.%d: deleted message shows %+v", d.Username(), d.DeviceID(), got)
		}
	}

	// A timer set by a member who is not an admin reaches everyone.
	if err := carol.SetTimer(ctx, conv, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, all...)
	for _, d := range all {
		if got, err := d.ChatTimer(ctx, conv); err != nil || got != 5*time.Minute {
			t.Fatalf("%s.%d: timer %v (%v), want 5 min", d.Username(), d.DeviceID(), got, err)
		}
		if notes := d.notes(conv, client.KindTimerChanged); len(notes) != 1 {
			t.Fatalf("%s.%d: timer lines %q, want one", d.Username(), d.DeviceID(), notes)
		}
	}
	later, err := alice.Send(ctx, conv, "this one goes")
	if err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, all...)
	for _, d := range all {
		if got := d.message(conv, later.ID); got.Timer != 5*time.Minute {
			t.Fatalf("%s.%d: message timer %v, want 5 min", d.Username(), d.DeviceID(), got.Timer)
		}
	}
}
