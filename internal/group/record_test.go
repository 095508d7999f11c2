package group

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
	"github.com/parley-chat/parley/internal/wire"
)

// sampleRecords returns a record of every kind, signed, in a valid chain
// (create, add, promote, info, settings, link, join, demote, remove,
// leave), and the world that signed them.
func sampleRecords(t testing.TB) (*world, [][]byte) {
	w := newWorld(t, "alice", "bob", "carol", "dave")
	g := w.newGroup("alice", "bob")
	lk, err := DeriveLink(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	g.do(KindAdd, "alice", func(r *Record) { r.Members = w.members("carol") })
	g.do(KindPromote, "alice", func(r *Record) { r.Target = "bob" })
	g.do(KindInfo, "bob", func(r *Record) {
		r.Info = &Info{Title: "Team ✓", Description: "", Avatar: []byte("pointer")}
	})
	g.do(KindSettings, "alice", func(r *Record) { r.Settings = &Settings{InfoAdminsOnly: true} })
	g.do(KindLink, "alice", func(r *Record) { r.Link = lk.Link(true) })
	g.do(KindJoin, "dave", func(r *Record) {
		r.Proof = JoinProof(lk.ProofKey, testGroup, "dave", w.u("dave").key.Public())
	})
	g.do(KindLink, "bob", nil) // revokes
	g.do(KindDemote, "alice", func(r *Record) { r.Target = "bob" })
	g.do(KindRemove, "alice", func(r *Record) { r.Target = "carol" })
	g.do(KindLeave, "dave", nil)
	return w, g.log.Chain()
}

// TestRoundTrip: every kind parses to the record signed, re-encodes to
// the same bytes, and no strict prefix or longer input parses.
func TestRoundTrip(t *testing.T) {
	_, recs := sampleRecords(t)
	kinds := map[Kind]bool{}
	for _, b := range recs {
		r, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		kinds[r.Kind] = true
		if !bytes.Equal(r.Encoded(), b) || r.Hash() != Hash(b) {
			t.Fatalf("%s: encoding or hash differs", r.Kind)
		}
		if !bytes.Equal(append(r.appendBody(nil), r.Signature...), b) {
			t.Fatalf("%s: re-encoding differs", r.Kind)
		}
		c := r.clone()
		if !reflect.DeepEqual(c, r) {
			t.Fatalf("%s: clone differs", r.Kind)
		}
		fuzztest.RefusesEveryPrefix(t, b, func(p []byte) error { _, err := Parse(p); return err })
		if _, err := Parse(append(bytes.Clone(b), 0)); err == nil {
			t.Fatalf("%s: a trailing byte parses", r.Kind)
		}
	}
	if len(kinds) != int(maxKind) {
		t.Fatalf("samples cover %d kinds, want %d", len(kinds), maxKind)
	}
}

// TestSignNormalizes: Sign sorts members, keeps only their username and
// key, and adds a creator or joiner missing from Members.
func TestSignNormalizes(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol")
	in := []Member{w.u("carol").member(), {Username: "bob", Identity: w.u("bob").key.Public(), Admin: true, Since: 9}}
	r := &Record{Group: testGroup, Version: 1, Kind: KindCreate, Signer: "alice", Members: in,
		Info: &Info{Title: "T"}, Settings: &Settings{}}
	b := w.sign("alice", r)
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p.Members); strings.Join(got, ",") != "alice,bob,carol" || p.Members[1].Admin || p.Members[1].Since != 0 {
		t.Fatalf("members %+v", p.Members)
	}
	if in[1].Admin != true || len(in) != 2 {
		t.Fatal("Sign changed the caller's slice")
	}
	// A create that lists another key for its signer is refused.
	r2 := &Record{Group: testGroup, Version: 1, Kind: KindCreate, Signer: "alice", Members: w.members("alice"),
		Info: &Info{Title: "T"}, Settings: &Settings{}}
	if _, err := r2.Sign(w.u("bob").key, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("create signed by another key than listed: %v", err)
	}
}

// TestMalformed: what Sign refuses to sign, by kind and field.
func TestMalformed(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	st, err := NewState(w.create("alice", "bob"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", MaxTitle+1)
	cases := []struct {
		name string
		kind Kind
		fill func(*Record)
		want error
	}{
		{"kind 0", 0, nil, ErrMalformed},
		{"kind 11", 11, nil, ErrMalformed},
		{"signer not normal", KindLeave, func(r *Record) { r.Signer = "Bob" }, ErrMalformed},
		{"signer with @", KindLeave, func(r *Record) { r.Signer = "@bob" }, ErrMalformed},
		{"negative time", KindLeave, func(r *Record) { r.Time = -1 }, ErrMalformed},
		{"version 1 not create", KindLeave, func(r *Record) { r.Version = 1; r.Prev = [32]byte{} }, ErrMalformed},
		{"leave with target", KindLeave, func(r *Record) { r.Target = "alice" }, ErrMalformed},
		{"remove without target", KindRemove, nil, ErrMalformed},
		{"remove target not normal", KindRemove, func(r *Record) { r.Target = "Alice" }, ErrMalformed},
		{"add without members", KindAdd, nil, ErrMalformed},
		{"add twice the same", KindAdd, func(r *Record) { r.Members = w.members("bob", "bob") }, ErrMalformed},
		{"add bad username", KindAdd, func(r *Record) { r.Members = []Member{{Username: "9lives"}} }, ErrMalformed},
		{"add reserved username", KindAdd, func(r *Record) { r.Members = []Member{{Username: "admin"}} }, ErrMalformed},
		{"add with info", KindAdd, func(r *Record) { r.Members = w.members("bob"); r.Info = &Info{Title: "x"} }, ErrMalformed},
		{"info without info", KindInfo, nil, ErrMalformed},
		{"info blank title", KindInfo, func(r *Record) { r.Info = &Info{Title: " \t"} }, ErrMalformed},
		{"info long title", KindInfo, func(r *Record) { r.Info = &Info{Title: long} }, ErrMalformed},
		{"info bad utf-8", KindInfo, func(r *Record) { r.Info = &Info{Title: "a\xff"} }, ErrMalformed},
		{"info long description", KindInfo, func(r *Record) {
			r.Info = &Info{Title: "a", Description: strings.Repeat("d", MaxDescription+1)}
		}, ErrMalformed},
		{"info long avatar", KindInfo, func(r *Record) { r.Info = &Info{Title: "a", Avatar: make([]byte, MaxAvatar+1)} }, ErrMalformed},
		{"settings without settings", KindSettings, nil, ErrMalformed},
		{"link on info", KindInfo, func(r *Record) { r.Info = &Info{Title: "a"}; r.Link = &Link{} }, ErrMalformed},
		{"join without proof", KindJoin, nil, ErrMalformed},
		{"proof on leave", KindLeave, func(r *Record) { r.Proof = make([]byte, 32) }, ErrMalformed},
		{"join short proof", KindJoin, func(r *Record) { r.Proof = make([]byte, 31) }, ErrMalformed},
		{"join listing another", KindJoin, func(r *Record) { r.Members = w.members("bob", "alice"); r.Proof = make([]byte, 32) }, ErrMalformed},
		{"add 1001", KindAdd, func(r *Record) {
			for i := range MaxRecordUsers + 1 {
				r.Members = append(r.Members, Member{Username: fmt.Sprintf("u%04d", i)})
			}
		}, ErrLimit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := st.Next(c.kind, "alice")
			if c.fill != nil {
				c.fill(r)
			}
			if _, err := r.Sign(w.u("alice").key, nil); !errors.Is(err, c.want) {
				t.Fatalf("Sign: %v, want %v", err, c.want)
			}
			if err := st.Allowed(r); !errors.Is(err, c.want) {
				t.Fatalf("Allowed: %v, want %v", err, c.want)
			}
		})
	}
}

// TestNonCanonical: bytes that encode a valid record's fields but not
// canonically, or that carry more, are refused by Parse.
func TestNonCanonical(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	genesis := w.create("alice", "bob")
	r, err := Parse(genesis)
	if err != nil {
		t.Fatal(err)
	}
	body := r.appendBody(nil)
	sig := r.Signature
	field := func(e *wire.Encoder) []byte { return e.B }
	mutate := map[string][]byte{}
	// An unknown field (13) after the last.
	e := wire.Encoder{B: bytes.Clone(body)}
	e.Uint(13, 1)
	mutate["unknown field"] = append(field(&e), sig...)
	// The time field written twice.
	e = wire.Encoder{B: bytes.Clone(body)}
	e.Uint(fTime, 1)
	mutate["duplicate field"] = append(field(&e), sig...)
	// The group and version fields swapped.
	var ge, ve wire.Encoder
	ge.Bytes(fGroup, testGroup[:])
	ve.Uint(fVersion, 1)
	swapped := append([]byte{Version, recordType}, ve.B...)
	swapped = append(swapped, ge.B...)
	swapped = append(swapped, body[2+len(ge.B)+len(ve.B):]...)
	mutate["fields out of order"] = append(swapped, sig...)
	// A non-minimal varint for the version.
	nm := append([]byte{Version, recordType}, ge.B...)
	nm = append(nm, byte(fVersion<<3), 0x81, 0x00)
	nm = append(nm, body[2+len(ge.B)+len(ve.B):]...)
	mutate["non-minimal varint"] = append(nm, sig...)
	// Unsorted members.
	u := r.clone()
	u.Members[0], u.Members[1] = u.Members[1], u.Members[0]
	mutate["unsorted members"] = append(u.appendBody(nil), sig...)
	// An empty avatar field.
	ie := wire.Encoder{}
	ie.Bytes(fInfoTitle, []byte("Team"))
	ie.Bytes(fInfoDesc, []byte("the team"))
	ie.Bytes(fInfoAvatar, nil)
	old := wire.Encoder{}
	old.Bytes(fInfo, ie.B[:len(ie.B)-2])
	full := wire.Encoder{}
	full.Bytes(fInfo, ie.B)
	mutate["empty avatar"] = append(bytes.Replace(body, old.B, full.B, 1), sig...)
	// Another header.
	mutate["version 2"] = append([]byte{2}, genesis[1:]...)
	mutate["type 6"] = append([]byte{Version, 6}, genesis[2:]...)
	mutate["too large"] = make([]byte, MaxRecord+1)
	for name, b := range mutate {
		if bytes.Equal(b, genesis) {
			t.Fatalf("%s: no change", name)
		}
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: parsed", name)
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLimit) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// 1001 members in one record: refused while decoding.
	big := r.clone()
	for i := range MaxRecordUsers {
		big.Members = append(big.Members, Member{Username: fmt.Sprintf("u%04d", i)})
	}
	if _, err := Parse(append(big.appendBody(nil), sig...)); !errors.Is(err, ErrLimit) {
		t.Fatalf("1002 members: %v", err)
	}
}

// TestBitFlips: no single-bit change of a record is both well formed and
// validly signed.
func TestBitFlips(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	genesis := w.create("alice", "bob")
	st, _ := NewState(genesis, Options{})
	rec := w.next(st, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "New"} })
	for i := range len(rec) * 8 {
		m := bytes.Clone(rec)
		m[i/8] ^= 1 << (i % 8)
		r, err := Parse(m)
		if err != nil {
			continue
		}
		if err := st.Verify(r); err == nil {
			t.Fatalf("bit %d flipped verifies", i)
		}
	}
	for i := range len(genesis) * 8 {
		m := bytes.Clone(genesis)
		m[i/8] ^= 1 << (i % 8)
		if _, err := NewState(m, Options{}); err == nil {
			t.Fatalf("genesis bit %d flipped verifies", i)
		}
	}
}
