package client_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/internal/group"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

// The attacks of Rösler, Mainka and Schwenk, "More is Less: On the
// End-to-End Security of Group Chats in Signal, WhatsApp, and Threema"
// (2018), each against Parley's groups, each failing for the attacker.
// The server is the attacker where the paper's is; a member or an
// outsider where the paper's is. Where the target app of the paper showed
// the attacker's change, Parley's user is told it was refused.

// attackGroup is alice (admin), bob and carol in a group, every device
// in step, and mallory, an account outside it.
type attackGroup struct {
	alice, bob, carol, mallory *device
	conv                       client.ConversationID
}

func newAttackGroup(t *testing.T) *attackGroup {
	t.Helper()
	ctx := context.Background()
	srv := start(t)
	a := &attackGroup{}
	a.alice, _ = register(t, srv, "alice")
	a.bob, _ = register(t, srv, "bob")
	a.carol, _ = register(t, srv, "carol")
	a.mallory, _ = register(t, srv, "mallory")
	g, err := a.alice.CreateGroup(ctx, "Board", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	a.conv = g.Conversation
	// Everyone sends once, so every member holds every sender key.
	for _, d := range []*device{a.alice, a.bob, a.carol} {
		syncAll(t, d)
		if _, err := d.Send(ctx, a.conv, "hello from "+d.Username()); err != nil {
			t.Fatal(err)
		}
	}
	syncRounds(t, 2, a.alice, a.bob, a.carol)
	return a
}

// rawFrames reads what the server holds for d's device without
// processing or acknowledging it: what a hostile server could replay,
// reorder or hand to someone else.
func rawFrames(t *testing.T, d *device) []*api.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	sock, err := d.TransportForTest().Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	var out []*api.Frame
	for {
		f, err := sock.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch f.Type {
		case api.FrameQueueEmpty:
			return out
		case api.FrameDeliver:
			out = append(out, f)
		}
	}
}

// groupFrames keeps the sender-key envelopes of frames.
func groupFrames(frames []*api.Frame) []*api.Frame {
	return slices.DeleteFunc(frames, func(f *api.Frame) bool { return f.EnvType != uint8(wire.TypeSenderKey) })
}

func (a *attackGroup) head(t *testing.T, d *device) *group.State {
	t.Helper()
	s, err := d.GroupStateForTest(context.Background(), a.conv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// refused waits for d's note that a change from "from" was refused.
func refused(t *testing.T, d *device, conv client.ConversationID, from string) string {
	t.Helper()
	e := d.waitEvent(func(e client.Event) bool {
		r, ok := e.(*client.GroupRefusedEvent)
		return ok && r.From == from && r.Conversation == conv
	}).(*client.GroupRefusedEvent)
	if notes := d.notes(conv, client.KindGroupRefused); len(notes) == 0 {
		t.Fatalf("%s was not told in the conversation", d.Username())
	}
	return e.Reason
}

// Paper §IV-B (WhatsApp): the server adds a member. Parley's server signs
// nothing, so what it (or mallory, an account it works with) can send is
// a record signed by a key the group does not trust, or with no right.
func TestGroupAttackOutsiderAddsMember(t *testing.T) {
	ctx := context.Background()
	a := newAttackGroup(t)
	s := a.head(t, a.bob)
	id, _ := a.conv.Group()
	mkAdd := func(signer string) *group.Record {
		r := s.Next(group.KindAdd, signer)
		r.Time = time.Now().UnixMilli()
		r.Members = []group.Member{{Username: "mallory", Identity: mustIdentity(t, a.mallory)}}
		return r
	}
	// Signed by mallory, a stranger to the group.
	b, err := a.mallory.SignGroupRecordForTest(mkAdd("mallory"))
	if err != nil {
		t.Fatal(err)
	}
	// Claiming to be alice's, signed by mallory.
	forged, err := a.mallory.SignGroupRecordForTest(mkAdd("alice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range [][]byte{b, forged} {
		if err := a.mallory.SendGroupRecordsForTest(ctx, "bob", client.GroupID(id), [][]byte{rec}); err != nil {
			t.Fatal(err)
		}
	}
	syncAll(t, a.bob)
	if r := refused(t, a.bob, a.conv, "mallory"); !strings.Contains(r, "not allowed") {
		t.Fatalf("the stranger's add was refused for %q", r)
	}
	if r := refused(t, a.bob, a.conv, "mallory"); !strings.Contains(r, "signature") {
		t.Fatalf("the forged add was refused for %q", r)
	}
	if got := members(t, a.bob, a.conv); slices.Contains(got, "mallory") {
		t.Fatalf("mallory is a member for bob: %v", got)
	}
	// Bob's next message reaches no one it should not.
	if _, err := a.bob.Send(ctx, a.conv, "board only"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a.mallory)
	if slices.Contains(a.mallory.groupTexts(a.conv), "bob: board only") {
		t.Fatal("mallory reads the group")
	}
}

// Paper §IV-A (Signal 2018: no group management at all): a member who is
// not an admin adds someone.
func TestGroupAttackNonAdminAddsMember(t *testing.T) {
	ctx := context.Background()
	a := newAttackGroup(t)
	if err := a.bob.AddMembers(ctx, a.conv, "mallory"); !errors.Is(err, client.ErrGroupNotAllowed) {
		t.Fatalf("bob's client let him add: %v", err)
	}
	r := a.head(t, a.bob).Next(group.KindAdd, "bob")
	r.Time = time.Now().UnixMilli()
	r.Members = []group.Member{{Username: "mallory", Identity: mustIdentity(t, a.mallory)}}
	b, err := a.bob.SignGroupRecordForTest(r)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := a.conv.Group()
	for _, to := range []string{"alice", "carol"} {
		if err := a.bob.SendGroupRecordsForTest(ctx, to, client.GroupID(id), [][]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	syncAll(t, a.alice, a.carol)
	for _, d := range []*device{a.alice, a.carol} {
		if reason := refused(t, d, a.conv, "bob"); !strings.Contains(reason, "not allowed") {
			t.Fatalf("%s refused it for %q", d.Username(), reason)
		}
		if got := members(t, d, a.conv); slices.Contains(got, "mallory") {
			t.Fatalf("mallory is a member for %s", d.Username())
		}
	}
	sameHead(t, a.conv, a.alice, a.bob, a.carol)
}

// Paper §IV-C (Threema, WhatsApp): a removed member keeps reading. Carol
// is removed; she gets every envelope the server holds for bob after
// that, and reads none of them.
func TestGroupAttackRemovedMemberReads(t *testing.T) {
	ctx := context.Background()
	a := newAttackGroup(t)
	if err := a.alice.RemoveMember(ctx, a.conv, "carol"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a.bob, a.carol)
	if lines := a.carol.notes(a.conv, client.KindGroupChange); lines[len(lines)-1] != "alice removed you" {
		t.Fatalf("carol's last line: %q", lines[len(lines)-1])
	}
	for _, d := range []*device{a.alice, a.bob} {
		if _, err := d.Send(ctx, a.conv, "after carol left, from "+d.Username()); err != nil {
			t.Fatal(err)
		}
	}
	frames := groupFrames(rawFrames(t, a.bob))
	frames = append(frames, groupFrames(rawFrames(t, a.alice))...)
	if len(frames) != 2 {
		t.Fatalf("%d sender-key envelopes held, want 2", len(frames))
	}
	for _, f := range frames {
		if err := a.carol.HandleForTest(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range a.carol.groupTexts(a.conv) {
		if strings.Contains(m, "after carol left") {
			t.Fatalf("carol read %q after her removal", m)
		}
	}
	if _, err := a.carol.Send(ctx, a.conv, "still here"); !errors.Is(err, client.ErrNotGroupMember) {
		t.Fatalf("carol sends after removal: %v", err)
	}
	syncAll(t, a.bob)
	if got := a.bob.groupTexts(a.conv); len(got) != 5 {
		t.Fatalf("bob shows %q", got)
	}
}

// Paper §V (all three apps: no ordering, no replay protection across
// devices): the server replays, reorders and withholds. A replay is not
// shown twice, a late message takes its place, and a gap is told.
func TestGroupAttackReplayReorderWithhold(t *testing.T) {
	ctx := context.Background()
	a := newAttackGroup(t)
	for _, text := range []string{"one", "two", "three"} {
		if _, err := a.alice.Send(ctx, a.conv, text); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	frames := groupFrames(rawFrames(t, a.bob))
	if len(frames) != 3 {
		t.Fatalf("%d envelopes held for bob, want 3", len(frames))
	}
	one, two, three := frames[0], frames[1], frames[2]
	replay := *one
	replay.ClientID = []byte("0123456789abcdef") // the server stamps a new ID on an old content
	replay.Seq = three.Seq + 100
	for _, f := range []*api.Frame{three, one, one, &replay} {
		if err := a.bob.HandleForTest(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	gap := a.bob.waitEvent(func(e client.Event) bool { _, ok := e.(*client.GroupGapEvent); return ok }).(*client.GroupGapEvent)
	if gap.From != "alice" || gap.Missing != 2 {
		t.Fatalf("gap %+v, want 2 missing from alice", gap)
	}
	if n := len(a.bob.notes(a.conv, client.KindGap)); n != 1 {
		t.Fatalf("%d gap notes", n)
	}
	if err := a.bob.HandleForTest(ctx, two); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a.bob) // the server's own copies, again
	want := []string{"alice: hello from alice", "bob: hello from bob", "carol: hello from carol", "alice: one", "alice: two", "alice: three"}
	if got := a.bob.groupTexts(a.conv); !slices.Equal(got, want) {
		t.Fatalf("bob shows %q, want %q", got, want)
	}
}

// Paper §IV-D (Signal, WhatsApp: the sender of a group message is the
// server's word): one member poses as another. The server relabels
// carol's envelope as bob's; carol signs a record as alice.
func TestGroupAttackForgedSender(t *testing.T) {
	ctx := context.Background()
	a := newAttackGroup(t)
	if _, err := a.carol.Send(ctx, a.conv, "pay mallory"); err != nil {
		t.Fatal(err)
	}
	frames := groupFrames(rawFrames(t, a.alice))
	if len(frames) != 1 {
		t.Fatalf("%d envelopes", len(frames))
	}
	posed := *frames[0]
	posed.Sender, posed.ClientID = "bob", []byte("fedcba9876543210")
	if err := a.alice.HandleForTest(ctx, &posed); err != nil {
		t.Fatal(err)
	}
	if got := a.alice.groupTexts(a.conv); slices.Contains(got, "bob: pay mallory") {
		t.Fatal("alice shows carol's message as bob's")
	}
	syncAll(t, a.alice)
	if got := a.alice.groupTexts(a.conv); !slices.Contains(got, "carol: pay mallory") || slices.Contains(got, "bob: pay mallory") {
		t.Fatalf("alice shows %q", got)
	}

	r := a.head(t, a.carol).Next(group.KindRemove, "alice")
	r.Time = time.Now().UnixMilli()
	r.Target = "bob"
	b, err := a.carol.SignGroupRecordForTest(r)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := a.conv.Group()
	if err := a.carol.SendGroupRecordsForTest(ctx, "bob", client.GroupID(id), [][]byte{b}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a.bob)
	if reason := refused(t, a.bob, a.conv, "carol"); !strings.Contains(reason, "signature") {
		t.Fatalf("refused for %q", reason)
	}
	if got := members(t, a.bob, a.conv); !slices.Contains(got, "bob") {
		t.Fatalf("bob removed by a forged record: %v", got)
	}
}

func mustIdentity(t *testing.T, d *device) keys.PublicKey {
	t.Helper()
	return d.IdentityKeyForTest()
}
