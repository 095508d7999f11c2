package client_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// conversation is d's summary of conv; it fails the test if there is none.
func (d *device) conversation(conv client.ConversationID) client.Conversation {
	d.t.Helper()
	cs, err := d.Conversations(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	for _, c := range cs {
		if c.ID == conv {
			return c
		}
	}
	d.t.Fatalf("%s.%d has no conversation %s", d.Username(), d.DeviceID(), conv)
	return client.Conversation{}
}

// hasConversation reports whether d lists conv.
func (d *device) hasConversation(conv client.ConversationID) bool {
	d.t.Helper()
	cs, err := d.Conversations(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return slices.ContainsFunc(cs, func(c client.Conversation) bool { return c.ID == conv })
}

// status is the status of d's message id in conv.
func (d *device) status(conv client.ConversationID, id client.MessageID) client.MessageStatus {
	d.t.Helper()
	return d.message(conv, id).Status
}

// TestBlockDropsBeforeDecryption: once Bob blocks Alice, her messages,
// typing and receipts reach neither of his devices, his sessions with her
// are not touched (their sealed records stay byte for byte), she gets no
// delivery receipt, and he cannot write to her; after he unblocks her,
// new messages arrive and the blocked ones stay gone.
func TestBlockDropsBeforeDecryption(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	bob2 := link(t, srv, bob, "bob-laptop")
	bob.send("alice", "hi alice")
	syncAll(t, alice, bob2)
	alice.send("bob", "hi bob")
	syncAll(t, bob, bob2)

	if err := bob.Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob2)
	for _, d := range []*device{bob, bob2} {
		if b, err := d.IsBlocked(ctx, "alice"); err != nil || !b {
			t.Fatalf("%s.%d: blocked %v (%v)", d.Username(), d.DeviceID(), b, err)
		}
		if got := d.conversation(client.Direct("alice")); !got.Blocked {
			t.Fatalf("%s.%d: the chat is not marked blocked: %+v", d.Username(), d.DeviceID(), got)
		}
	}
	// Blocking changed Bob's profile key: Alice, who had the old one,
	// cannot read the profile he sets now.
	if _, err := bob.SetProfile(ctx, client.ProfileChange{Name: ptr("Bob, after the block")}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob2)
	if p, err := alice.RefreshProfile(ctx, "bob"); err == nil && p.Name == "Bob, after the block" {
		t.Fatal("the blocked account reads the profile set after the block")
	}
	sessionsBefore := [][][]byte{rawValues(t, bob.path, "session"), rawValues(t, bob2.path, "session")}

	spam := alice.send("bob", "are you there?")
	if err := alice.SendTyping(ctx, client.Direct("bob"), true); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, bob2)
	for i, d := range []*device{bob, bob2} {
		if _, err := d.Message(ctx, client.Direct("alice"), spam.ID); !errors.Is(err, client.ErrNoSuchMessage) {
			t.Fatalf("%s.%d shows a blocked account's message: %v", d.Username(), d.DeviceID(), err)
		}
		after := rawValues(t, d.path, "session")
		if len(after) != len(sessionsBefore[i]) {
			t.Fatalf("%s.%d: %d sessions, %d before", d.Username(), d.DeviceID(), len(after), len(sessionsBefore[i]))
		}
		for j := range after {
			if !bytes.Equal(after[j], sessionsBefore[i][j]) {
				t.Fatalf("%s.%d: a session changed while Alice was blocked", d.Username(), d.DeviceID())
			}
		}
	}
	syncAll(t, alice)
	if st := alice.status(client.Direct("bob"), spam.ID); st != client.StatusSent {
		t.Fatalf("alice's message to the account that blocked her is %v, want Sent (no delivery receipt)", st)
	}
	if _, err := bob.Send(ctx, client.Direct("alice"), "hello?"); !errors.Is(err, client.ErrBlocked) {
		t.Fatalf("writing to a blocked account: %v, want ErrBlocked", err)
	}
	if _, err := bob2.React(ctx, client.Direct("alice"), spam.ID, "👍"); !errors.Is(err, client.ErrBlocked) {
		t.Fatalf("reacting in a blocked chat: %v, want ErrBlocked", err)
	}

	if err := bob2.Unblock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	if b, _ := bob.IsBlocked(ctx, "alice"); b {
		t.Fatal("the unblock did not reach bob's phone")
	}
	back := alice.send("bob", "back again")
	syncAll(t, bob, bob2)
	for _, d := range []*device{bob, bob2} {
		if got := d.message(client.Direct("alice"), back.ID); got.Text != "back again" {
			t.Fatalf("%s.%d: %+v after the unblock", d.Username(), d.DeviceID(), got)
		}
		if _, err := d.Message(ctx, client.Direct("alice"), spam.ID); !errors.Is(err, client.ErrNoSuchMessage) {
			t.Fatalf("%s.%d: the blocked message came back: %v", d.Username(), d.DeviceID(), err)
		}
	}
	// A device linked later has the block list and the known accounts.
	if err := bob.Block(ctx, "mallory"); err != nil && !errors.Is(err, client.ErrBlockNotSynced) {
		t.Fatal(err)
	}
	bob3 := link(t, srv, bob, "bob-tablet")
	if b, _ := bob3.IsBlocked(ctx, "mallory"); !b {
		t.Fatal("the linked device does not have the block list")
	}
	if _, err := bob.Send(ctx, client.Direct("alice"), "ok"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob3)
	if got := bob3.conversation(client.Direct("alice")); got.Request {
		t.Fatal("the linked device shows a known account's chat as a request")
	}
}

// TestBlockedGroupMember: a blocked member's group messages are dropped,
// but the group's changes the member makes still apply, so the member
// list stays the same on every device: a removal the blocked admin makes
// is seen, and the removed member is not sent to.
func TestBlockedGroupMember(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	all := []*device{alice, bob, carol}
	g, err := alice.CreateGroup(ctx, "Club", "@bob", "@carol")
	if err != nil {
		t.Fatal(err)
	}
	conv := g.Conversation
	syncRounds(t, 2, all...)
	if err := bob.Block(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	m, err := alice.Send(ctx, conv, "admin speaking")
	if err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, all...)
	if _, err := bob.Message(ctx, conv, m.ID); !errors.Is(err, client.ErrNoSuchMessage) {
		t.Fatalf("bob shows the blocked admin's group message: %v", err)
	}
	if got := carol.message(conv, m.ID); got.Text != "admin speaking" {
		t.Fatalf("carol: %+v", got)
	}
	if err := alice.RemoveMember(ctx, conv, "carol"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, all...)
	if got := members(t, bob, conv); !slices.Equal(got, []string{"alice*", "bob"}) {
		t.Fatalf("bob's members after the blocked admin removed carol: %v", got)
	}
	sent, err := bob.Send(ctx, conv, "still here")
	if err != nil {
		t.Fatal(err)
	}
	if sent.Recipients != 1 {
		t.Fatalf("bob's message went to %d accounts, want 1 (alice; carol was removed)", sent.Recipients)
	}
}

// TestMessageRequest: a first message from a stranger is a request on
// every device of the recipient: delivery receipts go back, read receipts
// do not until it is accepted; accepting on one device holds on the
// other; a deleted request is gone from both and comes back as a new one.
func TestMessageRequest(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	bob, _ := register(t, srv, "bob")
	bob2 := link(t, srv, bob, "bob-laptop")
	carol, _ := register(t, srv, "carol")
	dave, _ := register(t, srv, "dave")

	hi := carol.send("bob", "hi, we met at the conference")
	syncAll(t, bob, bob2)
	for _, d := range []*device{bob, bob2} {
		if got := d.conversation(client.Direct("carol")); !got.Request {
			t.Fatalf("%s.%d: a stranger's first message is not a request: %+v", d.Username(), d.DeviceID(), got)
		}
	}
	if err := bob.MarkRead(ctx, client.Direct("carol")); err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol)
	if st := carol.status(client.Direct("bob"), hi.ID); st != client.StatusDelivered {
		t.Fatalf("carol's request is %v after bob read it, want Delivered (no read receipt before accepting)", st)
	}
	syncAll(t, bob2) // the read sync
	if err := bob2.Accept(ctx, client.Direct("carol")); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, carol)
	if st := carol.status(client.Direct("bob"), hi.ID); st != client.StatusRead {
		t.Fatalf("carol's request is %v after bob accepted it, want Read (what he read, she may now know)", st)
	}
	if bob.conversation(client.Direct("carol")).Request {
		t.Fatal("accepted on the laptop, still a request on the phone")
	}
	again := carol.send("bob", "so, lunch?")
	syncAll(t, bob)
	if err := bob.MarkRead(ctx, client.Direct("carol")); err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol)
	if st := carol.status(client.Direct("bob"), again.ID); st != client.StatusRead {
		t.Fatalf("after the accept, carol's message is %v, want Read", st)
	}

	// Writing back accepts, too.
	dave.send("bob", "hello from dave")
	syncAll(t, bob, bob2)
	if !bob.conversation(client.Direct("dave")).Request {
		t.Fatal("dave's first message is not a request")
	}
	if err := bob.DeleteChat(ctx, client.Direct("dave")); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob2)
	for _, d := range []*device{bob, bob2} {
		if d.hasConversation(client.Direct("dave")) {
			t.Fatalf("%s.%d still lists the deleted request", d.Username(), d.DeviceID())
		}
	}
	assertNoText(t, bob2, "hello from dave")
	dave.send("bob", "hello again")
	syncAll(t, bob)
	if got := bob.conversation(client.Direct("dave")); !got.Request {
		t.Fatalf("a message after the deleted request: %+v, want a new request", got)
	}
	if err := bob.MarkRead(ctx, client.Direct("dave")); err != nil {
		t.Fatal(err)
	}
	bob.send("dave", "hi dave")
	if bob.conversation(client.Direct("dave")).Request {
		t.Fatal("writing back did not accept the request")
	}
	syncAll(t, dave)
	if ms, _ := dave.Messages(ctx, client.Direct("bob"), 0); len(ms) == 0 || ms[len(ms)-2].Text != "hello again" || ms[len(ms)-2].Status != client.StatusRead {
		t.Fatalf("after bob wrote back, dave's messages %+v: want \"hello again\" read", ms)
	}
	syncAll(t, bob2)
	if bob2.conversation(client.Direct("dave")).Request {
		t.Fatal("the reply from the phone did not accept the request on the laptop")
	}
}

// TestReportAndBlock: "report and block" puts a report naming the
// account in the operator's queue, blocks the account and deletes the
// chat; the report holds nothing of the messages.
func TestReportAndBlock(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "operator-secret"})
	ctx := context.Background()
	bob, _ := register(t, srv, "bob")
	spammer, _ := register(t, srv, "spammer")
	spammer.send("bob", "cheap watches at example dot com")
	syncAll(t, bob)
	if err := bob.ReportAndBlock(ctx, "spammer", "bogus", ""); err == nil {
		t.Fatal("a report with an unknown category was taken")
	}
	if b, _ := bob.IsBlocked(ctx, "spammer"); b {
		t.Fatal("a refused report blocked the account")
	}
	if err := bob.ReportAndBlock(ctx, "spammer", "spam", "sent me ads"); err != nil {
		t.Fatal(err)
	}
	if b, _ := bob.IsBlocked(ctx, "spammer"); !b {
		t.Fatal("not blocked after report and block")
	}
	if bob.hasConversation(client.Direct("spammer")) {
		t.Fatal("the chat is still listed")
	}
	reps, err := transport.New(srv.URL, nil).Admin("operator-secret", "ops").Reports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Account != "spammer" || reps[0].Reporter != "bob" || reps[0].Category != "spam" ||
		reps[0].Note != "sent me ads" || reps[0].Channel != "" {
		t.Fatalf("the operator's queue: %+v", reps)
	}
	if err := bob.ReportAndBlock(ctx, "nobody-here", "spam", ""); err == nil {
		t.Fatal("a report of an account that does not exist was taken")
	}
	if err := bob.ReportAndBlock(ctx, "bob", "spam", ""); !errors.Is(err, client.ErrSelf) {
		t.Fatalf("reporting oneself: %v", err)
	}
}
