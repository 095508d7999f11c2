package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
)

// syncRounds lets every device read its queue, rounds times (a round's
// answers, such as receipts and sender keys, arrive in the next).
func syncRounds(t *testing.T, rounds int, devs ...*device) {
	t.Helper()
	for range rounds {
		syncAll(t, devs...)
	}
}

// notes lists a conversation's notes of kind.
func (d *device) notes(conv client.ConversationID, kind client.MessageKind) []string {
	d.t.Helper()
	ms, err := d.Messages(context.Background(), conv, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if m.Kind == kind {
			out = append(out, m.Text)
		}
	}
	return out
}

func members(t *testing.T, d *device, conv client.ConversationID) []string {
	t.Helper()
	g, err := d.Group(context.Background(), conv)
	if err != nil {
		t.Fatalf("%s: %v", d.Username(), err)
	}
	var out []string
	for _, m := range g.Members {
		s := m.Username
		if m.Admin {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

// sameHead checks that every device holds the group at one version and
// head hash.
func sameHead(t *testing.T, conv client.ConversationID, devs ...*device) {
	t.Helper()
	v0, h0, err := devs[0].GroupHeadForTest(context.Background(), conv)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs[1:] {
		v, h, err := d.GroupHeadForTest(context.Background(), conv)
		if err != nil {
			t.Fatalf("%s.%d: %v", d.Username(), d.DeviceID(), err)
		}
		if v != v0 || h != h0 {
			t.Fatalf("%s.%d holds version %d %x, %s.%d version %d %x", d.Username(), d.DeviceID(), v, h[:4],
				devs[0].Username(), devs[0].DeviceID(), v0, h0[:4])
		}
	}
}

// TestGroupEveryDeviceReads: three accounts, two with two devices; one
// creates the group with another, adds the third; every device sends and
// every device of every member reads every message, its own account's
// included; read receipts count per member.
func TestGroupEveryDeviceReads(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	alice2 := link(t, srv, alice, "alice-laptop")
	bob, _ := register(t, srv, "bob")
	bob2 := link(t, srv, bob, "bob-laptop")
	carol, _ := register(t, srv, "carol")
	all := []*device{alice, alice2, bob, bob2, carol}

	g, err := alice.CreateGroup(ctx, "Family", "@bob")
	if err != nil {
		t.Fatal(err)
	}
	conv := g.Conversation
	syncRounds(t, 1, all...)
	if err := alice.AddMembers(ctx, conv, "carol"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, all...)
	want := []string{"alice*", "bob", "carol"}
	for _, d := range all {
		if got := members(t, d, conv); !slices.Equal(got, want) {
			t.Fatalf("%s.%d: members %v, want %v", d.Username(), d.DeviceID(), got, want)
		}
	}
	if lines := carol.notes(conv, client.KindGroupChange); len(lines) != 2 || lines[1] != "alice added you" {
		t.Fatalf("carol's change lines: %q", lines)
	}

	var sent []client.Message
	for _, d := range all {
		m, err := d.Send(ctx, conv, fmt.Sprintf("hello from %s.%d", d.Username(), d.DeviceID()))
		if err != nil {
			t.Fatalf("%s.%d sends: %v", d.Username(), d.DeviceID(), err)
		}
		if m.Status != client.StatusSent || m.Recipients != 2 {
			t.Fatalf("%s.%d: status %v, recipients %d", d.Username(), d.DeviceID(), m.Status, m.Recipients)
		}
		sent = append(sent, m)
		time.Sleep(2 * time.Millisecond) // distinct send times, so one order everywhere
	}
	syncRounds(t, 2, all...)
	ref := alice.groupTexts(conv)
	if len(ref) != len(all) {
		t.Fatalf("alice.1 shows %d messages: %q", len(ref), ref)
	}
	for _, d := range all[1:] {
		if got := d.groupTexts(conv); !slices.Equal(got, ref) {
			t.Fatalf("%s.%d shows %q, alice.1 %q", d.Username(), d.DeviceID(), got, ref)
		}
	}

	// Read receipts: "read by 1 of 2", then 2 of 2.
	readBy := func() int {
		ms, err := alice.Messages(ctx, conv, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.ID == sent[0].ID {
				return m.ReadBy()
			}
		}
		t.Fatal("alice's message is gone")
		return 0
	}
	if err := bob.MarkRead(ctx, conv); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, alice)
	if n := readBy(); n != 1 {
		t.Fatalf("read by %d of 2 after bob read it, want 1", n)
	}
	if err := carol.MarkRead(ctx, conv); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, alice)
	if n := readBy(); n != 2 {
		t.Fatalf("read by %d of 2 after carol read it, want 2", n)
	}
	syncRounds(t, 1, bob2)
	ms, _ := bob2.Messages(ctx, conv, 0)
	for _, m := range ms {
		if m.Status == client.StatusUnread {
			t.Fatalf("bob's laptop still shows %q unread after bob read it on the phone", m.Text)
		}
	}
}

// TestGroupOfflineMemberCatchesUp: a member offline during three
// changes and fifty messages reaches the same state and history.
func TestGroupOfflineMemberCatchesUp(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	dave, _ := register(t, srv, "dave")
	g, err := alice.CreateGroup(ctx, "Team", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	conv := g.Conversation
	syncRounds(t, 1, bob, carol)
	// carol is offline from here.
	if err := alice.RenameGroup(ctx, conv, "Team 2"); err != nil {
		t.Fatal(err)
	}
	if err := alice.AddMembers(ctx, conv, "dave"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Promote(ctx, conv, "bob"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, bob, dave)
	for i := range 50 {
		from := alice
		if i%2 == 1 {
			from = bob
		}
		if _, err := from.Send(ctx, conv, fmt.Sprintf("message %d", i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			syncRounds(t, 1, alice, bob, dave)
		}
	}
	syncRounds(t, 2, alice, bob, dave, carol)
	sameHead(t, conv, alice, bob, carol, dave)
	if got, want := members(t, carol, conv), []string{"alice*", "bob*", "carol", "dave"}; !slices.Equal(got, want) {
		t.Fatalf("carol sees members %v, want %v", got, want)
	}
	ref := alice.groupTexts(conv)
	if len(ref) != 50 {
		t.Fatalf("alice shows %d messages", len(ref))
	}
	for _, d := range []*device{bob, carol} {
		if got := d.groupTexts(conv); !slices.Equal(got, ref) {
			t.Fatalf("%s's history differs from alice's:\n%q\n%q", d.Username(), got, ref)
		}
	}
	if g, _ := carol.Group(ctx, conv); g.Title != "Team 2" {
		t.Fatalf("carol sees the title %q", g.Title)
	}
	if gaps := carol.notes(conv, client.KindGap); len(gaps) != 0 {
		t.Fatalf("carol was told of gaps that are not there: %q", gaps)
	}
}

// TestGroupConcurrentAdmins: two admins change the group at one version
// without seeing each other's change. Every member converges on one
// chain by the fork rule; the loser's client signs its change again on
// the winner's head, so both changes hold, unless the winner removed
// the loser.
func TestGroupConcurrentAdmins(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	dave, _ := register(t, srv, "dave")
	erin, _ := register(t, srv, "erin")
	g, err := alice.CreateGroup(ctx, "Desk", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	conv := g.Conversation
	if err := alice.Promote(ctx, conv, "bob"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, bob, carol)
	// Concurrent: alice renames, bob adds dave, on the same version.
	if err := alice.RenameGroup(ctx, conv, "News desk"); err != nil {
		t.Fatal(err)
	}
	if err := bob.AddMembers(ctx, conv, "dave"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 3, alice, bob, carol, dave)
	sameHead(t, conv, alice, bob, carol, dave)
	for _, d := range []*device{alice, bob, carol, dave} {
		g, err := d.Group(ctx, conv)
		if err != nil {
			t.Fatal(err)
		}
		if g.Title != "News desk" || !slices.Contains(members(t, d, conv), "dave") {
			t.Fatalf("%s: title %q, members %v: a change was lost", d.Username(), g.Title, members(t, d, conv))
		}
	}

	// Concurrent: alice removes bob while bob adds erin. Alice outranks
	// bob, and her change removes him: his loses and is not made again.
	if err := alice.RemoveMember(ctx, conv, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := bob.AddMembers(ctx, conv, "erin"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 3, alice, bob, carol, dave, erin)
	sameHead(t, conv, alice, bob, carol, dave)
	for _, d := range []*device{alice, carol, dave} {
		if got, want := members(t, d, conv), []string{"alice*", "carol", "dave"}; !slices.Equal(got, want) {
			t.Fatalf("%s sees %v, want %v", d.Username(), got, want)
		}
	}
	// Erin got bob's losing branch, and no one who is in the group tells
	// her what it holds: her device may think her in, but no member
	// takes her messages or gives her a key.
	if _, err := erin.Send(ctx, conv, "erin here"); err != nil && !errors.Is(err, client.ErrNoSuchGroup) && !errors.Is(err, client.ErrNotGroupMember) {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, conv, "without bob"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, alice, carol, dave, erin)
	for _, d := range []*device{alice, carol, dave} {
		if slices.Contains(d.groupTexts(conv), "erin: erin here") {
			t.Fatalf("%s shows the message of erin, who is not a member", d.Username())
		}
	}
	if slices.Contains(erin.groupTexts(conv), "alice: without bob") {
		t.Fatal("erin reads the group")
	}
}

// TestGroupInviteLink: a link that joins directly lets its holder in; a
// revoked link joins no one; a link that needs approval asks the admins.
func TestGroupInviteLink(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	dave, _ := register(t, srv, "dave")
	erin, _ := register(t, srv, "erin")
	g, err := alice.CreateGroup(ctx, "Club", "bob")
	if err != nil {
		t.Fatal(err)
	}
	conv := g.Conversation
	if _, err := bob.GroupInvite(ctx, conv, true); !errors.Is(err, client.ErrNotGroupMember) && !errors.Is(err, client.ErrNoSuchGroup) {
		t.Fatalf("bob has not synced: invite = %v", err)
	}
	syncRounds(t, 1, bob)
	if _, err := bob.GroupInvite(ctx, conv, true); !errors.Is(err, client.ErrGroupNotAllowed) {
		t.Fatalf("a non-admin makes a link: %v", err)
	}
	link, err := alice.GroupInvite(ctx, conv, true)
	if err != nil {
		t.Fatal(err)
	}
	joined, err := dave.JoinGroup(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	if !joined.Member || joined.Title != "Club" {
		t.Fatalf("dave joined: %+v", joined)
	}
	syncRounds(t, 1, alice, bob)
	sameHead(t, conv, alice, bob, dave)
	if got := members(t, bob, conv); !slices.Contains(got, "dave") {
		t.Fatalf("bob sees %v", got)
	}
	if _, err := dave.Send(ctx, conv, "hi all"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, alice, bob)
	if got := bob.groupTexts(conv); !slices.Equal(got, []string{"dave: hi all"}) {
		t.Fatalf("bob shows %q", got)
	}

	if err := alice.RevokeGroupInvite(ctx, conv); err != nil {
		t.Fatal(err)
	}
	if _, err := erin.JoinGroup(ctx, link); !errors.Is(err, client.ErrLinkRevoked) {
		t.Fatalf("a revoked link: %v", err)
	}

	approve, err := alice.GroupInvite(ctx, conv, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := erin.JoinGroup(ctx, approve); !errors.Is(err, client.ErrJoinRequested) {
		t.Fatalf("a link that needs approval: %v", err)
	}
	syncRounds(t, 1, alice)
	alice.waitEvent(func(e client.Event) bool {
		r, ok := e.(*client.JoinRequestEvent)
		return ok && r.From == "erin"
	})
	if err := alice.AddMembers(ctx, conv, "erin"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, erin, bob, dave)
	sameHead(t, conv, alice, bob, dave, erin)
	if got := members(t, erin, conv); !slices.Contains(got, "erin") {
		t.Fatalf("erin sees %v", got)
	}
	// The first link stays dead after another was made.
	if _, err := erin.JoinGroup(ctx, link); !errors.Is(err, client.ErrLinkRevoked) {
		t.Fatalf("the revoked link after a new one: %v", err)
	}
}

// TestGroupLinkedDeviceRepliesTypingMentions: a device linked after the
// group was made gets it in the link message and takes part; replies,
// typing and mentions work in the group.
func TestGroupLinkedDeviceRepliesTypingMentions(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	g, err := alice.CreateGroup(ctx, "Plans", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	conv := g.Conversation
	syncRounds(t, 1, bob, carol)
	first, err := bob.Send(ctx, conv, "lunch, @Carol and @dave?")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.Mentions, []string{"carol"}) {
		t.Fatalf("mentions %q: dave is not a member", first.Mentions)
	}
	syncRounds(t, 1, alice, carol)

	alice2 := link(t, srv, alice, "alice-tablet")
	got, err := alice2.Group(ctx, conv)
	if err != nil {
		t.Fatalf("the linked device lacks the group: %v", err)
	}
	if !got.Member || len(got.Members) != 3 {
		t.Fatalf("the linked device sees %+v", got)
	}
	if _, err := alice2.Reply(ctx, conv, first.ID, "yes from the tablet"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, alice, bob, carol, alice2)
	for _, d := range []*device{alice, bob, carol} {
		ms, err := d.Messages(ctx, conv, 0)
		if err != nil {
			t.Fatal(err)
		}
		var reply *client.Message
		for i := range ms {
			if ms[i].Text == "yes from the tablet" {
				reply = &ms[i]
			}
		}
		if reply == nil || reply.ReplyTo == nil || *reply.ReplyTo != first.ID || reply.From != "alice" {
			t.Fatalf("%s: the tablet's reply is %+v", d.Username(), reply)
		}
	}
	ms, _ := carol.Messages(ctx, conv, 0)
	for _, m := range ms {
		if m.ID == first.ID && !m.MentionsMe {
			t.Fatal("carol is not told she was mentioned")
		}
	}
	// Bob's next message reaches the tablet too: the server tells him of
	// the new device, and he gives it his key.
	if _, err := bob.Send(ctx, conv, "see you there"); err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 1, alice2)
	if texts := alice2.groupTexts(conv); !slices.Contains(texts, "bob: see you there") {
		t.Fatalf("the tablet shows %q", texts)
	}

	// Typing reaches the members online.
	carol.run()
	e := typedTo(t, bob, carol, conv)
	if e.Conversation != conv || e.From != "bob" || !e.Started {
		t.Fatalf("typing event %+v", e)
	}
}

// TestGroupAvatar: the picture goes up encrypted and every member, and
// only members, can open it.
func TestGroupAvatar(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	g, err := alice.CreateGroup(ctx, "Pics", "bob")
	if err != nil {
		t.Fatal(err)
	}
	img := bytes.Repeat([]byte("\x89PNG not really"), 500)
	if err := alice.SetGroupAvatar(ctx, g.Conversation, client.File{Name: "us.png", ContentType: "image/png", Body: bytes.NewReader(img)}, nil); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	info, err := bob.Group(ctx, g.Conversation)
	if err != nil || info.Avatar == nil || info.Avatar.Size != int64(len(img)) {
		t.Fatalf("bob sees the avatar %+v, %v", info.Avatar, err)
	}
	var got bytes.Buffer
	if _, err := bob.GroupAvatar(ctx, g.Conversation, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), img) {
		t.Fatal("the avatar bob opened differs")
	}
	if err := alice.SetGroupAvatar(ctx, g.Conversation, client.File{Name: "x.txt", ContentType: "text/plain", Body: bytes.NewReader(img)}, nil); err == nil {
		t.Fatal("a text file became the avatar")
	}
}

// TestGroupTypingBeforeFirstMessage: typing from a device that never sent
// to the group reaches the members: its sender key goes first.
func TestGroupTypingBeforeFirstMessage(t *testing.T) {
	ctx := context.Background()
	srv := start(t)
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	g, err := alice.CreateGroup(ctx, "Family", "@bob")
	if err != nil {
		t.Fatal(err)
	}
	syncRounds(t, 2, alice, bob)
	alice.run()
	if e := typedTo(t, bob, alice, g.Conversation); e.From != "bob" || !e.Started || e.Conversation != g.Conversation {
		t.Fatalf("typing event %+v", e)
	}
}

// typedTo has from say it is typing in conv, again every half second as
// a typing client does (typing is best effort: the server passes it only
// to devices connected at that moment), until to reports it.
func typedTo(t *testing.T, from, to *device, conv client.ConversationID) *client.TypingEvent {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if err := from.SendTyping(context.Background(), conv, true); err != nil {
			t.Fatal(err)
		}
		until := time.After(500 * time.Millisecond)
		for waiting := true; waiting; {
			to.mu.Lock()
			for i, e := range to.events {
				if te, ok := e.(*client.TypingEvent); ok {
					to.events = to.events[i+1:]
					to.mu.Unlock()
					return te
				}
			}
			to.mu.Unlock()
			select {
			case <-to.signal:
			case <-until:
				waiting = false
			}
		}
	}
	t.Fatalf("%s never saw %s typing", to.Username(), from.Username())
	return nil
}
