package client_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
	"github.com/parley-chat/parley/parleytest"
)

// skewClock is a test skewClock that can be moved forward.
type skewClock struct{ offset atomic.Int64 }

func (c *skewClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *skewClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// registerClocked is register with the device's skewClock taken from clk.
func registerClocked(t *testing.T, srv *parleytest.Server, name string, clk *skewClock) *device {
	t.Helper()
	d := newDevice(t)
	st, err := sqlitestore.Open(context.Background(), d.path)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := client.Create(context.Background(), client.Config{Store: st, Passphrase: passphrase, Events: d.record, Now: clk.now},
		client.CreateOptions{Server: srv.URL, Username: name, DeviceName: name + "-phone"})
	if err != nil {
		t.Fatal(err)
	}
	d.Client = c
	t.Cleanup(func() { c.Close() })
	return d
}

// message is d's copy of the message id of conv; it fails the test if
// there is none.
func (d *device) message(conv client.ConversationID, id client.MessageID) client.Message {
	d.t.Helper()
	m, err := d.Message(context.Background(), conv, id)
	if err != nil {
		d.t.Fatalf("%s.%d: message %s: %v", d.Username(), d.DeviceID(), id, err)
	}
	return m
}

// waitChanged waits until d's copy of message id of conv passes ok.
func (d *device) waitChanged(conv client.ConversationID, id client.MessageID, what string, ok func(client.Message) bool) client.Message {
	d.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		m, err := d.Message(context.Background(), conv, id)
		if err != nil && !errors.Is(err, client.ErrNoSuchMessage) {
			d.t.Fatal(err)
		}
		if ok(m) {
			return m
		}
		select {
		case <-d.signal:
		case <-deadline:
			d.t.Fatalf("%s.%d: message %s: never %s (now %+v)", d.Username(), d.DeviceID(), id, what, m)
		}
	}
}

func TestEditReactDeleteOnEveryDevice(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice2 := link(t, srv, alice, "alice-laptop")
	bob2 := link(t, srv, bob, "bob-laptop")
	for _, d := range []*device{alice, alice2, bob, bob2} {
		d.run()
	}
	all := []*device{alice, alice2, bob, bob2}
	convOf := func(d *device) client.ConversationID {
		if d.Username() == "alice" {
			return client.Direct("bob")
		}
		return client.Direct("alice")
	}

	// Both directions: each author edits its own message.
	for _, tc := range []struct{ author, other *device }{{alice, bob}, {bob2, alice2}} {
		m, err := tc.author.Send(ctx, convOf(tc.author), "see you at 5")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range all {
			d.waitChanged(convOf(d), m.ID, "arrived", func(m client.Message) bool { return m.Text == "see you at 5" })
		}
		if _, err := tc.author.Edit(ctx, convOf(tc.author), m.ID, "see you at 6"); err != nil {
			t.Fatal(err)
		}
		for _, d := range all {
			got := d.waitChanged(convOf(d), m.ID, "edited", func(m client.Message) bool { return m.Text == "see you at 6" })
			if !got.Edited || len(got.Edits) != 1 || got.Edits[0].Text != "see you at 5" {
				t.Fatalf("%s.%d: edited message %+v, want the earlier text kept", d.Username(), d.DeviceID(), got)
			}
		}
		// The other side may not edit it.
		if _, err := tc.other.Edit(ctx, convOf(tc.other), m.ID, "forged"); !errors.Is(err, client.ErrNotAuthor) {
			t.Fatalf("editing the peer's message: %v, want ErrNotAuthor", err)
		}
		// Reactions: one per account, changeable, counted.
		if _, err := tc.other.React(ctx, convOf(tc.other), m.ID, "👍"); err != nil {
			t.Fatal(err)
		}
		if _, err := tc.author.React(ctx, convOf(tc.author), m.ID, "👍"); err != nil {
			t.Fatal(err)
		}
		for _, d := range all {
			d.waitChanged(convOf(d), m.ID, "reacted to twice", func(m client.Message) bool {
				rc := m.ReactionCounts()
				return len(rc) == 1 && rc[0] == client.ReactionCount{Emoji: "👍", Count: 2}
			})
		}
		if _, err := tc.other.React(ctx, convOf(tc.other), m.ID, "❤️"); err != nil {
			t.Fatal(err)
		}
		for _, d := range all {
			d.waitChanged(convOf(d), m.ID, "given a changed reaction", func(m client.Message) bool {
				return m.Reactions[tc.other.Username()] == "❤️" && m.Reactions[tc.author.Username()] == "👍" && len(m.Reactions) == 2
			})
		}
		if _, err := tc.other.React(ctx, convOf(tc.other), m.ID, "hello"); !errors.Is(err, client.ErrBadEmoji) {
			t.Fatalf("a word as a reaction: %v", err)
		}
		// Delete for everyone: a note stays, nothing of the text.
		if err := tc.author.DeleteForEveryone(ctx, convOf(tc.author), m.ID); err != nil {
			t.Fatal(err)
		}
		for _, d := range all {
			got := d.waitChanged(convOf(d), m.ID, "deleted", func(m client.Message) bool { return m.Kind == client.KindDeleted })
			if got.Text != "" || got.Edits != nil || got.Reactions != nil || got.Attachment != nil {
				t.Fatalf("%s.%d: deleted message keeps %+v", d.Username(), d.DeviceID(), got)
			}
		}
	}
}

func TestForgedEditIsRefused(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	alice.run()
	m := alice.send("bob", "the meeting is on Monday")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Bob, as a forger, sends an edit of Alice's message to Alice: her
	// message, in her chat with him, is not his to edit.
	var editID client.MessageID
	editID[0] = 1
	if err := bob.SendActionForTest(ctx, "alice", editID, m.ID, time.Now(), "the meeting is cancelled", ""); err != nil {
		t.Fatal(err)
	}
	// Carol sends Alice an edit of the same ID: it lands in Carol's chat,
	// where there is no such message, and changes nothing of Bob's chat.
	editID[0] = 2
	if err := carol.SendActionForTest(ctx, "alice", editID, m.ID, time.Now(), "cancelled", ""); err != nil {
		t.Fatal(err)
	}
	carol.send("alice", "after the forgeries")
	alice.waitMessage("after the forgeries")
	if got := alice.message(client.Direct("bob"), m.ID); got.Text != "the meeting is on Monday" || got.Edited {
		t.Fatalf("forged edit applied: %+v", got)
	}
	// An edit dated 25 hours after the message is out of the window.
	editID[0] = 3
	late := m.Time.Add(client.EditWindow + time.Hour)
	if err := alice.SendActionForTest(ctx, "bob", editID, m.ID, late, "late edit", ""); err != nil {
		t.Fatal(err)
	}
	alice.send("bob", "marker")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bob.message(client.Direct("alice"), m.ID); got.Text != "the meeting is on Monday" {
		t.Fatalf("edit outside the window applied: %+v", got)
	}
}

func TestEditWindowOnTheSendersClock(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	var clk skewClock
	alice := registerClocked(t, srv, "alice", &clk)
	register(t, srv, "bob")
	m := alice.send("bob", "hi")
	clk.advance(client.EditWindow + time.Minute)
	if _, err := alice.Edit(ctx, client.Direct("bob"), m.ID, "hello"); !errors.Is(err, client.ErrEditWindow) {
		t.Fatalf("edit after 24 h: %v, want ErrEditWindow", err)
	}
	if err := alice.DeleteForEveryone(ctx, client.Direct("bob"), m.ID); !errors.Is(err, client.ErrEditWindow) {
		t.Fatalf("delete for everyone after 24 h: %v, want ErrEditWindow", err)
	}
	// Deleting for oneself has no window.
	if err := alice.DeleteForMe(ctx, client.Direct("bob"), m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Message(ctx, client.Direct("bob"), m.ID); !errors.Is(err, client.ErrNoSuchMessage) {
		t.Fatalf("after delete for me: %v", err)
	}
}

func TestActionsBeforeTheirMessage(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice.send("bob", "hello") // sessions both ways
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var id, edit, react client.MessageID
	id[0], edit[0], react[0] = 0xA, 0xB, 0xC
	// Alice's reaction to her message comes first, then her edit, then
	// the message itself.
	if err := alice.SendActionForTest(ctx, "bob", react, id, time.Now(), "", "🎉"); err != nil {
		t.Fatal(err)
	}
	if err := alice.SendActionForTest(ctx, "bob", edit, id, time.Now().Add(time.Second), "second text", ""); err != nil {
		t.Fatal(err)
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Message(ctx, client.Direct("alice"), id); !errors.Is(err, client.ErrNoSuchMessage) {
		t.Fatalf("an action made a message appear: %v", err)
	}
	if err := alice.SendTextWithIDForTest(ctx, "bob", id, "first text"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := bob.message(client.Direct("alice"), id)
	if got.Text != "second text" || !got.Edited || got.Reactions["alice"] != "🎉" {
		t.Fatalf("early edit and reaction not applied: %+v", got)
	}
}

// rawValue reads the sealed value of (bucket, key) straight from the
// SQLite file at path, as another process would.
func rawValues(t *testing.T, path, bucket string) [][]byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT value FROM kv WHERE bucket = ?`, bucket)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// storeFiles is the store's database and log files, concatenated.
func storeFiles(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// sealedCopies returns the sealed values of bucket msg now in the store
// of d that are not in before.
func newValues(before, after [][]byte) [][]byte {
	var out [][]byte
	for _, v := range after {
		if !slices.ContainsFunc(before, func(b []byte) bool { return bytes.Equal(b, v) }) {
			out = append(out, v)
		}
	}
	return out
}

func TestDeletedAndExpiredMessagesLeaveNoTrace(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	var clk skewClock
	alice := registerClocked(t, srv, "alice", &clk)
	bobClk := &skewClock{}
	bob := registerClocked(t, srv, "bob", bobClk)
	alice.send("bob", "hello")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// Delete for everyone: every sealed copy of the message as it was is
	// gone from Bob's files.
	before := rawValues(t, bob.path, "msg")
	m := alice.send("bob", "the safe code is 4711")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	copies := newValues(before, rawValues(t, bob.path, "msg"))
	if len(copies) != 1 {
		t.Fatalf("%d new message records, want 1", len(copies))
	}
	if !bytes.Contains(storeFiles(t, bob.path), copies[0]) {
		t.Fatal("the sealed record is not in the store's files: the check below would prove nothing")
	}
	if err := alice.DeleteForEveryone(ctx, client.Direct("bob"), m.ID); err != nil {
		t.Fatal(err)
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bob.message(client.Direct("alice"), m.ID); got.Kind != client.KindDeleted {
		t.Fatalf("not deleted: %+v", got)
	}
	if bytes.Contains(storeFiles(t, bob.path), copies[0]) {
		t.Fatal("the deleted message's sealed record is still in Bob's store files")
	}
	assertNoText(t, bob, "4711")

	// Disappearing: Alice sets 30 s; Bob reads; 30 s later it is gone.
	if err := alice.SetTimer(ctx, client.Direct("bob"), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := bob.ChatTimer(ctx, client.Direct("alice")); err != nil || d != 30*time.Second {
		t.Fatalf("bob's timer: %v, %v", d, err)
	}
	before = rawValues(t, bob.path, "msg")
	gone := alice.send("bob", "burn after reading: 0815")
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	copies = newValues(before, rawValues(t, bob.path, "msg"))
	got := bob.message(client.Direct("alice"), gone.ID)
	if got.Timer != 30*time.Second || !got.ExpiresAt.IsZero() {
		t.Fatalf("unread message %+v: want a 30 s timer not yet started", got)
	}
	// Unread, it stays however long it waits.
	bobClk.advance(time.Hour)
	if n, err := bob.EraseExpired(ctx); err != nil || n != 0 {
		t.Fatalf("erased %d unread (%v)", n, err)
	}
	if err := bob.MarkRead(ctx, client.Direct("alice")); err != nil {
		t.Fatal(err)
	}
	bobClk.advance(29 * time.Second)
	if n, _ := bob.EraseExpired(ctx); n != 0 {
		t.Fatal("erased before its time")
	}
	bobClk.advance(2 * time.Second)
	if _, err := bob.Message(ctx, client.Direct("alice"), gone.ID); !errors.Is(err, client.ErrNoSuchMessage) {
		t.Fatalf("expired message still shown: %v", err)
	}
	if n, err := bob.EraseExpired(ctx); err != nil || n != 1 {
		t.Fatalf("erased %d (%v), want 1", n, err)
	}
	files := storeFiles(t, bob.path)
	for _, c := range copies {
		if bytes.Contains(files, c) {
			t.Fatal("the expired message's sealed record is still in Bob's store files")
		}
	}
	assertNoText(t, bob, "0815")
	// Alice's own copy counts from when she sent it.
	clk.advance(31 * time.Second)
	if n, err := alice.EraseExpired(ctx); err != nil || n != 1 {
		t.Fatalf("alice erased %d (%v), want 1", n, err)
	}
	assertNoText(t, alice, "0815")
}

// assertNoText checks, through the SDK, that no message of d holds s.
func assertNoText(t *testing.T, d *device, s string) {
	t.Helper()
	convs, err := d.Conversations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range convs {
		ms, err := d.Messages(context.Background(), c.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if bytes.Contains([]byte(m.Text), []byte(s)) {
				t.Fatalf("%s still holds %q: %+v", d.Username(), s, m)
			}
			for _, e := range m.Edits {
				if bytes.Contains([]byte(e.Text), []byte(s)) {
					t.Fatalf("%s still holds %q in an earlier text", d.Username(), s)
				}
			}
		}
	}
}

// TestMalformedActionsChangeNothing: an edit, a delete and a reaction
// that do not decode (no target, no emoji) leave the message as it was;
// each is noted as unreadable, and the session goes on.
func TestMalformedActionsChangeNothing(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	m := alice.send("bob", "the original")
	if _, err := bob.React(ctx, client.Direct("alice"), m.ID, "👍"); err == nil {
		t.Fatal("bob reacted before he had the message")
	}
	syncAll(t, bob)
	if _, err := bob.React(ctx, client.Direct("alice"), m.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	before := bob.message(client.Direct("alice"), m.ID)
	for _, kind := range []uint8{6, 7, 8} { // (a bare kind 9 is valid: the timer off)
		if err := alice.SendKindForTest(ctx, "bob", kind); err != nil {
			t.Fatal(err)
		}
	}
	alice.send("bob", "still talking")
	syncAll(t, bob)
	after := bob.message(client.Direct("alice"), m.ID)
	if after.Text != before.Text || after.Edited || after.Kind != client.KindText || len(after.Reactions) != 1 || after.Reactions["bob"] != "👍" {
		t.Fatalf("malformed actions changed the message: %+v, was %+v", after, before)
	}
	if got := bob.notes(client.Direct("alice"), client.KindDecryptionFailed); len(got) != 3 {
		t.Fatalf("%d notes of unreadable messages, want 3: %q", len(got), got)
	}
	bob.waitMessage("still talking")
}
