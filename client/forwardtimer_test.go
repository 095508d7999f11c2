package client_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
	"github.com/parley-chat/parley/parleytest"
)

// linkClocked is link with the new device's clock taken from clk.
func linkClocked(t *testing.T, srv *parleytest.Server, from *device, name string, clk *skewClock) *device {
	t.Helper()
	d := newDevice(t)
	st, err := sqlitestore.Open(context.Background(), d.path)
	if err != nil {
		t.Fatal(err)
	}
	return linkDevice(t, srv, from, name, d, client.Config{Store: st, Passphrase: passphrase, Events: d.record, Now: clk.now})
}

// TestForwardAndTimerOnEveryDevice: two accounts with two devices each.
// A forwarded file reaches a third account marked forwarded and opens
// there, and the forwarder's other device has it too. A timer set on
// one side's second device holds on all four; a message read on the
// recipient's phone is erased from both of the recipient's devices once
// its time has run from the read, and from both of the sender's from the
// send; the other side turns the timer off again.
func TestForwardAndTimerOnEveryDevice(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	var aClk, bClk skewClock
	alice := registerClocked(t, srv, "alice", &aClk)
	alice2 := linkClocked(t, srv, alice, "alice-laptop", &aClk)
	bob := registerClocked(t, srv, "bob", &bClk)
	bob2 := linkClocked(t, srv, bob, "bob-laptop", &bClk)
	carol, _ := register(t, srv, "carol")
	all := []*device{alice, alice2, bob, bob2}
	bob.send("alice", "hi")
	syncAll(t, all...)

	clip := bytes.Repeat([]byte("clip "), 3000)
	m := alice.sendFile("bob", "clip.mp4", clip, "look")
	syncAll(t, bob, bob2)
	fw, err := bob.Forward(ctx, client.Direct("alice"), m.ID, client.Direct("carol"))
	if err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol, bob2)
	got := carol.message(client.Direct("bob"), fw.ID)
	if !got.Forwarded || got.Text != "look" || got.Attachment == nil {
		t.Fatalf("carol's forwarded message: %+v", got)
	}
	if data, err := carol.download(got); err != nil || !bytes.Equal(data, clip) {
		t.Fatalf("the forwarded file on carol's side: %d bytes, %v", len(data), err)
	}
	if own := bob2.message(client.Direct("carol"), fw.ID); !own.Forwarded || !own.Outgoing {
		t.Fatalf("bob's laptop's copy of what he forwarded: %+v", own)
	}

	if err := bob2.SetTimer(ctx, client.Direct("alice"), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	syncAll(t, all...)
	for _, d := range all {
		peer := "bob"
		if d.Username() == "bob" {
			peer = "alice"
		}
		if got, err := d.ChatTimer(ctx, client.Direct(peer)); err != nil || got != 30*time.Second {
			t.Fatalf("%s.%d: timer %v (%v), want 30 s", d.Username(), d.DeviceID(), got, err)
		}
	}
	gone := alice2.send("bob", "this goes in 30 s")
	syncAll(t, all...)
	if err := bob.MarkRead(ctx, client.Direct("alice")); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob2)
	bClk.advance(31 * time.Second)
	aClk.advance(31 * time.Second)
	for _, d := range all {
		peer := "bob"
		if d.Username() == "bob" {
			peer = "alice"
		}
		if _, err := d.EraseExpired(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Message(ctx, client.Direct(peer), gone.ID); !errors.Is(err, client.ErrNoSuchMessage) {
			t.Fatalf("%s.%d still holds the expired message: %v", d.Username(), d.DeviceID(), err)
		}
		assertNoText(t, d, "this goes in 30 s")
	}

	if err := alice.SetTimer(ctx, client.Direct("bob"), 0); err != nil {
		t.Fatal(err)
	}
	syncAll(t, all...)
	stays := alice.send("bob", "this one stays")
	syncAll(t, all...)
	if err := bob2.MarkRead(ctx, client.Direct("alice")); err != nil {
		t.Fatal(err)
	}
	bClk.advance(time.Hour)
	for _, d := range []*device{bob, bob2} {
		if _, err := d.EraseExpired(ctx); err != nil {
			t.Fatal(err)
		}
		if got := d.message(client.Direct("alice"), stays.ID); got.Timer != 0 || got.Text != "this one stays" {
			t.Fatalf("%s.%d: %+v after the timer was turned off", d.Username(), d.DeviceID(), got)
		}
	}
}
