package group

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestCreate: the creator is an admin since version 1, every listed
// member a member since 1, and the creator is added if not listed.
func TestCreate(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol")
	st, err := NewState(w.create("alice", "carol", "bob"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ID() != testGroup || st.Version() != 1 || st.Info().Title != "Team" || st.Link() != nil {
		t.Fatalf("state %+v", st)
	}
	if got := strings.Join(names(st.Members()), ","); got != "alice,bob,carol" {
		t.Fatalf("members %s", got)
	}
	a, _ := st.Member("alice")
	b, _ := st.Member("bob")
	if !a.Admin || a.AdminSince != 1 || a.Since != 1 || b.Admin || b.Since != 1 || b.Identity != w.u("bob").key.Public() {
		t.Fatalf("alice %+v, bob %+v", a, b)
	}
	if !st.IsAdmin("alice") || st.IsAdmin("bob") || st.IsAdmin("zed") {
		t.Fatal("IsAdmin")
	}

	// Signed by a key that is not the one listed for the creator.
	r := &Record{Group: testGroup, Version: 1, Kind: KindCreate, Signer: "alice",
		Members: w.members("alice", "bob"), Info: &Info{Title: "T"}, Settings: &Settings{}}
	body := r.appendBody(nil)
	sig, _ := w.u("bob").key.Sign(signedMessage(body), nil)
	if _, err := NewState(append(body, sig...), Options{}); !errors.Is(err, ErrSignature) {
		t.Fatalf("create under another key: %v", err)
	}
	// Too many members for the group's limit.
	if _, err := NewState(w.create("alice", "bob", "carol"), Options{MaxMembers: 2}); !errors.Is(err, ErrLimit) {
		t.Fatalf("create over the limit: %v", err)
	}
	// A group starts with a create.
	l, _ := NewLog(w.create("alice", "bob"), Options{})
	leave := w.next(l.State(), KindLeave, "bob", nil)
	if _, err := NewLog(leave, Options{}); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("log from a leave: %v", err)
	}
	// A second create for the group.
	refuseBytes(t, l, ErrNotAllowed, w.create("bob", "alice"))
}

// TestAdd: admins add; a non-admin, a stranger or a removed member may
// not; a member is not added twice; the group's limit holds.
func TestAdd(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave", "erin")
	l, err := NewLog(w.create("alice", "bob"), Options{MaxMembers: 4})
	if err != nil {
		t.Fatal(err)
	}
	g := &group{world: w, log: l}
	add := func(names ...string) func(*Record) { return func(r *Record) { r.Members = w.members(names...) } }
	g.refuse(ErrNotAllowed, KindAdd, "bob", add("carol"))
	g.refuse(ErrNotAllowed, KindAdd, "carol", add("dave"))
	g.refuse(ErrNotAllowed, KindAdd, "alice", add("bob", "carol"))
	g.refuse(ErrLimit, KindAdd, "alice", add("carol", "dave", "erin"))
	g.do(KindAdd, "alice", add("carol", "dave"))
	c, _ := g.log.State().Member("carol")
	if c.Since != 2 || c.Admin || c.Identity != w.u("carol").key.Public() {
		t.Fatalf("carol %+v", c)
	}
	g.refuse(ErrLimit, KindAdd, "alice", add("erin"))
	g.do(KindRemove, "alice", func(r *Record) { r.Target = "dave" })
	g.refuse(ErrNotAllowed, KindInfo, "dave", func(r *Record) { r.Info = &Info{Title: "dave was here"} })
	g.refuse(ErrNotAllowed, KindLeave, "dave", nil)
	// Re-added, he acts again, a member since the new version.
	g.do(KindAdd, "alice", add("dave"))
	g.do(KindInfo, "dave", func(r *Record) { r.Info = &Info{Title: "dave is back"} })
	if d, _ := g.log.State().Member("dave"); d.Since != 4 {
		t.Fatalf("dave %+v", d)
	}
}

// TestSignatures: a forged signature, and a record signed by a key that is
// not the signer's in the parent state, are refused.
func TestSignatures(t *testing.T) {
	w := newWorld(t, "alice", "bob", "mallory")
	g := w.newGroup("alice", "bob")
	b := g.next(g.log.State(), KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: "x"} })
	forged := bytes.Clone(b)
	forged[len(forged)-1] ^= 1
	g.refuseBytes(ErrSignature, forged)
	// bob's record signed with mallory's key.
	r := g.log.State().Next(KindInfo, "bob")
	r.Info = &Info{Title: "x"}
	g.refuseBytes(ErrSignature, w.sign("mallory", r))
	// A stranger names himself: not a member.
	g.refuse(ErrNotAllowed, KindInfo, "mallory", func(r *Record) { r.Info = &Info{Title: "x"} })
	if _, err := g.log.Add(b); err != nil {
		t.Fatal(err)
	}
}

// TestPlace: a record replayed at a later version, one with a wrong prev
// and a version skip are refused by State.Verify and by the Log.
func TestPlace(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	g := w.newGroup("alice", "bob")
	st1 := g.log.State()
	old := g.do(KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "one"} })
	g.do(KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "two"} })
	st := g.log.State()
	oldRec, _ := Parse(old)
	if err := st.Verify(oldRec); !errors.Is(err, ErrStale) {
		t.Fatalf("old record on a later state: %v", err)
	}
	if res, err := g.log.Add(old); err != nil || !res.Duplicate || !res.Canonical || res.HeadChanged {
		t.Fatalf("replayed record: %+v, %v", res, err)
	}
	// The same change signed again for a later version, with the old prev.
	again := g.next(st1, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "one"}; r.Version = 3 })
	againRec, _ := Parse(again)
	if err := st.Verify(againRec); !errors.Is(err, ErrStale) {
		t.Fatalf("version 3 on version 3: %v", err)
	}
	g.refuseBytes(ErrUnknownParent, again) // its prev is version 1, it says 3
	// A wrong prev at the next version.
	wrong := g.next(st, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "x"}; r.Prev[0] ^= 1 })
	wrongRec, _ := Parse(wrong)
	if err := st.Verify(wrongRec); !errors.Is(err, ErrUnknownParent) {
		t.Fatalf("wrong prev: %v", err)
	}
	if res, err := g.log.Add(wrong); err != nil || !res.Pending || res.Canonical {
		t.Fatalf("unknown parent: %+v, %v", res, err)
	}
	// A version skip on the head.
	skip := g.next(st, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "x"}; r.Version++ })
	skipRec, _ := Parse(skip)
	if err := st.Verify(skipRec); !errors.Is(err, ErrUnknownParent) {
		t.Fatalf("version skip: %v", err)
	}
	g.refuseBytes(ErrUnknownParent, skip)
	// Another group's record.
	other := g.next(st, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "x"}; r.Group[0] ^= 1 })
	g.refuseBytes(ErrMalformed, other)
}

// TestRemove: an admin removes a member or an admin he outranks, never
// one who outranks him, nor himself, nor a stranger.
func TestRemove(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave")
	g := w.newGroup("alice", "bob", "carol", "dave")
	target := func(n string) func(*Record) { return func(r *Record) { r.Target = n } }
	g.do(KindPromote, "alice", target("bob"))   // bob: admin since 2
	g.do(KindPromote, "alice", target("carol")) // carol: admin since 3
	g.refuse(ErrNotAllowed, KindRemove, "dave", target("carol"))
	g.refuse(ErrNotAllowed, KindRemove, "bob", target("alice"))
	g.refuse(ErrNotAllowed, KindRemove, "carol", target("bob"))
	g.refuse(ErrNotAllowed, KindRemove, "bob", target("bob"))
	g.refuse(ErrNotAllowed, KindRemove, "bob", target("erin"))
	g.do(KindRemove, "bob", target("carol"))
	g.do(KindRemove, "bob", target("dave"))
	if got := strings.Join(names(g.log.State().Members()), ","); got != "alice,bob" {
		t.Fatalf("members %s", got)
	}
	g.refuse(ErrNotAllowed, KindRemove, "carol", target("bob"))
	g.do(KindRemove, "alice", target("bob"))
}

// TestPromoteDemote: admins promote members (admin since that version)
// and demote admins they outrank.
func TestPromoteDemote(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol")
	g := w.newGroup("alice", "bob", "carol")
	target := func(n string) func(*Record) { return func(r *Record) { r.Target = n } }
	g.refuse(ErrNotAllowed, KindPromote, "bob", target("carol"))
	g.refuse(ErrNotAllowed, KindPromote, "alice", target("alice"))
	g.refuse(ErrNotAllowed, KindPromote, "alice", target("zed"))
	g.do(KindPromote, "alice", target("bob"))
	if b, _ := g.log.State().Member("bob"); !b.Admin || b.AdminSince != 2 || b.Since != 1 {
		t.Fatalf("bob %+v", b)
	}
	g.do(KindPromote, "bob", target("carol"))
	g.refuse(ErrNotAllowed, KindDemote, "bob", target("alice"))
	g.refuse(ErrNotAllowed, KindDemote, "carol", target("bob"))
	g.refuse(ErrNotAllowed, KindDemote, "bob", target("bob"))
	g.do(KindDemote, "bob", target("carol"))
	g.refuse(ErrNotAllowed, KindDemote, "bob", target("carol"))
	if c, _ := g.log.State().Member("carol"); c.Admin || c.AdminSince != 0 {
		t.Fatalf("carol %+v", c)
	}
	g.refuse(ErrNotAllowed, KindSettings, "carol", func(r *Record) { r.Settings = &Settings{} })
	g.do(KindDemote, "alice", target("bob"))
}

// TestRank: lower AdminSince outranks; on a tie the earlier Since, then
// the lower username; an admin outranks every non-admin.
func TestRank(t *testing.T) {
	cases := []struct {
		a, b Member
		want bool
	}{
		{Member{Username: "zed", Admin: true, AdminSince: 2, Since: 9}, Member{Username: "amy", Admin: true, AdminSince: 3, Since: 1}, true},
		{Member{Username: "zed", Admin: true, AdminSince: 3, Since: 1}, Member{Username: "amy", Admin: true, AdminSince: 3, Since: 2}, true},
		{Member{Username: "amy", Admin: true, AdminSince: 3, Since: 1}, Member{Username: "zed", Admin: true, AdminSince: 3, Since: 1}, true},
		{Member{Username: "zed", Admin: true, AdminSince: 90, Since: 90}, Member{Username: "amy", Since: 1}, true},
		{Member{Username: "zed", Since: 1}, Member{Username: "amy", Since: 2}, true},
		{Member{Username: "amy", Since: 2}, Member{Username: "bob", Since: 2}, true},
	}
	for i, c := range cases {
		if outranks(c.a, c.b) != c.want || outranks(c.b, c.a) == c.want {
			t.Errorf("case %d: %+v vs %+v", i, c.a, c.b)
		}
	}
}

// TestLeave: the signer leaves; when the last admin leaves, the member with
// the lowest (Since, username) becomes an admin at that version.
func TestLeave(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave")
	g := w.newGroup("alice", "dave", "carol")
	g.do(KindAdd, "alice", func(r *Record) { r.Members = w.members("bob") }) // bob: since 2
	g.do(KindLeave, "alice", nil)                                            // version 3
	st := g.log.State()
	if got := names(st.Admins()); !slices.Equal(got, []string{"carol"}) {
		t.Fatalf("admins after the last admin left: %v", got)
	}
	if c, _ := st.Member("carol"); c.AdminSince != 3 || c.Since != 1 {
		t.Fatalf("carol %+v", c)
	}
	g.refuse(ErrNotAllowed, KindLeave, "alice", nil)
	g.do(KindPromote, "carol", func(r *Record) { r.Target = "dave" })
	g.do(KindLeave, "carol", nil) // dave is still an admin: nobody is promoted
	if got := names(g.log.State().Admins()); !slices.Equal(got, []string{"dave"}) {
		t.Fatalf("admins: %v", got)
	}
	g.do(KindLeave, "dave", nil)
	if b, _ := g.log.State().Member("bob"); !b.Admin || b.AdminSince != 6 {
		t.Fatalf("bob %+v", b)
	}
	g.do(KindLeave, "bob", nil)
	if g.log.State().Len() != 0 {
		t.Fatal("members left")
	}
	g.refuse(ErrNotAllowed, KindAdd, "alice", func(r *Record) { r.Members = w.members("alice") })
}

// TestInfoSettingsLink: any member sets the info unless InfoAdminsOnly;
// only admins change settings and the link.
func TestInfoSettingsLink(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	g := w.newGroup("alice", "bob")
	info := func(title string) func(*Record) {
		return func(r *Record) { r.Info = &Info{Title: title, Avatar: []byte{1, 2}} }
	}
	g.do(KindInfo, "bob", info("bob's"))
	if i := g.log.State().Info(); i.Title != "bob's" || !bytes.Equal(i.Avatar, []byte{1, 2}) || i.Description != "" {
		t.Fatalf("info %+v", i)
	}
	g.refuse(ErrNotAllowed, KindSettings, "bob", func(r *Record) { r.Settings = &Settings{} })
	g.refuse(ErrNotAllowed, KindLink, "bob", func(r *Record) { r.Link = &Link{Direct: true} })
	g.refuse(ErrNotAllowed, KindLink, "bob", nil)
	g.do(KindSettings, "alice", func(r *Record) { r.Settings = &Settings{InfoAdminsOnly: true, SendAdminsOnly: true} })
	if s := g.log.State().Settings(); !s.InfoAdminsOnly || !s.SendAdminsOnly {
		t.Fatalf("settings %+v", s)
	}
	g.refuse(ErrNotAllowed, KindInfo, "bob", info("bob again"))
	g.do(KindInfo, "alice", info("alice's"))
	g.do(KindLink, "alice", func(r *Record) { r.Link = &Link{ProofKey: [32]byte{1}} })
	if l := g.log.State().Link(); l == nil || l.Direct || l.ProofKey != [32]byte{1} {
		t.Fatalf("link %+v", l)
	}
	g.do(KindLink, "alice", nil)
	if g.log.State().Link() != nil {
		t.Fatal("link not revoked")
	}
}

// TestJoin: a stranger joins with a direct link's proof; not with a
// revoked, replaced or approval link, a wrong proof, a proof for another
// name or key, nor as a member.
func TestJoin(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "mallory")
	g := w.newGroup("alice", "bob")
	lk, _ := DeriveLink(bytes.Repeat([]byte{1}, 32))
	lk2, _ := DeriveLink(bytes.Repeat([]byte{2}, 32))
	proof := func(k LinkKeys, name, key string) func(*Record) {
		return func(r *Record) { r.Proof = JoinProof(k.ProofKey, testGroup, name, w.u(key).key.Public()) }
	}
	g.refuse(ErrNotAllowed, KindJoin, "carol", proof(lk, "carol", "carol")) // no link yet
	g.do(KindLink, "alice", func(r *Record) { r.Link = lk.Link(false) })
	g.refuse(ErrNotAllowed, KindJoin, "carol", proof(lk, "carol", "carol")) // approval link
	g.do(KindLink, "alice", func(r *Record) { r.Link = lk.Link(true) })
	g.refuse(ErrNotAllowed, KindJoin, "carol", proof(lk2, "carol", "carol"))
	g.refuse(ErrNotAllowed, KindJoin, "carol", proof(lk, "mallory", "carol"))
	g.refuse(ErrNotAllowed, KindJoin, "carol", proof(lk, "carol", "mallory"))
	g.refuse(ErrNotAllowed, KindJoin, "carol", func(r *Record) { r.Proof = make([]byte, 32) })
	g.refuse(ErrNotAllowed, KindJoin, "bob", proof(lk, "bob", "bob"))
	// A join listing carol's key, signed by mallory's.
	r := g.log.State().Next(KindJoin, "carol")
	r.Members = w.members("carol")
	proof(lk, "carol", "carol")(r)
	body := r.appendBody(nil)
	sig, _ := w.u("mallory").key.Sign(signedMessage(body), nil)
	g.refuseBytes(ErrSignature, append(body, sig...))

	g.do(KindJoin, "carol", proof(lk, "carol", "carol"))
	c, _ := g.log.State().Member("carol")
	if c.Since != 4 || c.Admin || c.Identity != w.u("carol").key.Public() {
		t.Fatalf("carol %+v", c)
	}
	g.do(KindLink, "alice", func(r *Record) { r.Link = lk2.Link(true) }) // replaced
	g.refuse(ErrNotAllowed, KindJoin, "mallory", proof(lk, "mallory", "mallory"))
	g.do(KindLink, "alice", nil) // revoked
	g.refuse(ErrNotAllowed, KindJoin, "mallory", proof(lk2, "mallory", "mallory"))
	// The group's limit holds for joins.
	l, _ := NewLog(w.create("alice", "bob"), Options{MaxMembers: 2})
	g2 := &group{world: w, log: l}
	g2.do(KindLink, "alice", func(r *Record) { r.Link = lk.Link(true) })
	g2.refuse(ErrLimit, KindJoin, "carol", proof(lk, "carol", "carol"))
}

// TestAllowedBeforeSigning: Allowed takes an unsigned record with unsorted
// members and says what Add would; Rebase carries a change to a new head.
func TestAllowedBeforeSigning(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave")
	g := w.newGroup("alice", "bob")
	st := g.log.State()
	r := st.Next(KindAdd, "alice")
	r.Members = []Member{w.u("dave").member(), w.u("carol").member()}
	if err := st.Allowed(r); err != nil {
		t.Fatal(err)
	}
	if r.Members[0].Username != "dave" {
		t.Fatal("Allowed changed the record")
	}
	if err := st.Verify(r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Verify of an unsigned record: %v", err)
	}
	r.Signer = "bob"
	if err := st.Allowed(r); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("bob adds: %v", err)
	}
	r.Signer = "alice"
	g.do(KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: "moved on"} })
	if err := g.log.State().Allowed(r); !errors.Is(err, ErrStale) {
		t.Fatalf("on a newer head: %v", err)
	}
	rb := g.log.State().Rebase(r)
	if err := g.log.State().Allowed(rb); err != nil {
		t.Fatal(err)
	}
	b := w.sign("alice", rb)
	next, err := g.log.State().Apply(mustParse(t, b))
	if err != nil || next.Len() != 4 || g.log.State().Len() != 2 {
		t.Fatalf("Apply: %v", err)
	}
}

func mustParse(t testing.TB, b []byte) *Record {
	t.Helper()
	r, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMaxMembersRecord: a create or add of MaxRecordUsers members fits in
// MaxRecord.
func TestMaxMembersRecord(t *testing.T) {
	w := newWorld(t, "alice")
	var ms []Member
	for i := range MaxRecordUsers - 1 {
		ms = append(ms, Member{Username: fmt.Sprintf("user_%026d", i), Identity: [32]byte{0xff}})
	}
	r := &Record{Group: testGroup, Version: 1, Kind: KindCreate, Signer: "alice", Members: ms, Time: 1 << 62,
		Info: &Info{Title: strings.Repeat("t", MaxTitle), Description: strings.Repeat("d", MaxDescription),
			Avatar: make([]byte, MaxAvatar)}, Settings: &Settings{}}
	b := w.sign("alice", r)
	if len(b) > MaxRecord {
		t.Fatalf("%d bytes", len(b))
	}
	st, err := NewState(b, Options{})
	if err != nil || st.Len() != MaxRecordUsers {
		t.Fatalf("%v", err)
	}
}
