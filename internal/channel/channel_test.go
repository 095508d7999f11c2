package channel

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/protocoltest"
)

func newKey(t testing.TB, seed uint64) ed25519.PrivateKey {
	t.Helper()
	s := make([]byte, ed25519.SeedSize)
	protocoltest.Rand(seed).Read(s)
	return ed25519.NewKeyFromSeed(s)
}

func newIdentity(t testing.TB, seed uint64) keys.PrivateKey {
	t.Helper()
	k, err := keys.GeneratePrivateKey(protocoltest.Rand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// chain signs records one after the other, as a publisher does, and
// keeps them: the real chain of a test.
type chain struct {
	t     testing.TB
	owner ed25519.PrivateKey
	pos   uint64
	prev  [HashSize]byte
	recs  [][]byte
	rand  uint64
}

func newChain(t testing.TB, owner ed25519.PrivateKey) *chain {
	c := &chain{t: t, owner: owner}
	c.add(nil, &Record{Kind: KindProfile, Title: "News", About: "Daily"})
	return c
}

// sign signs r at the next position without adding it to the chain; by
// is the admin who signs, nil for the owner key.
func (c *chain) sign(by *keys.PrivateKey, r *Record) []byte {
	c.t.Helper()
	return c.signAt(by, r, c.pos+1, c.prev)
}

func (c *chain) signAt(by *keys.PrivateKey, r *Record, pos uint64, prev [HashSize]byte) []byte {
	c.t.Helper()
	r.Channel, r.Position = pub(c.owner), pos
	r.Prev = nil
	if pos > 1 {
		r.Prev = &prev
	}
	if r.ID == ([IDSize]byte{}) {
		c.rand++
		r.ID = [IDSize]byte{byte(c.rand), byte(c.rand >> 8), 0xee}
	}
	var (
		b   []byte
		err error
	)
	if by == nil {
		b, err = r.Sign(c.owner)
	} else {
		c.rand++
		b, err = r.SignAdmin(*by, protocoltest.Rand(c.rand))
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *chain) add(by *keys.PrivateKey, r *Record) []byte {
	c.t.Helper()
	b := c.sign(by, r)
	c.pos, c.prev = r.Position, Hash(b)
	c.recs = append(c.recs, b)
	return b
}

func (c *chain) state() *State {
	c.t.Helper()
	s, err := NewState(pub(c.owner))
	if err != nil {
		c.t.Fatal(err)
	}
	for i, b := range c.recs {
		if _, err := s.Apply(b); err != nil {
			c.t.Fatalf("record at %d: %v", i+1, err)
		}
	}
	return s
}

func sampleRecords(t testing.TB) [][]byte {
	owner := newKey(t, 1)
	bob := newIdentity(t, 2)
	c := newChain(t, owner)
	img := (&Media{SHA256: [32]byte{1}, Size: 10, ContentType: "image/png", Width: 1, Height: 1}).Marshal()
	vid := (&Media{SHA256: [32]byte{2}, Size: 99, ContentType: "video/mp4", DurationMS: 3000, Poster: &[32]byte{1}}).Marshal()
	post := &Record{Kind: KindPost, ID: [IDSize]byte{7}, Time: 1795737600000, Text: "**hello** [world](https://example.org)", Media: [][]byte{img, vid}}
	c.add(nil, post)
	c.add(nil, &Record{Kind: KindAddAdmin, Admin: ptr(bob.Public()), AdminName: "bob"})
	c.add(&bob, &Record{Kind: KindEdit, Target: &post.ID, Time: 2, Text: "fixed"})
	c.add(&bob, &Record{Kind: KindPin, Target: &post.ID, Time: 4})
	c.add(nil, &Record{Kind: KindUnpin, Target: &post.ID, Time: 5})
	c.add(&bob, &Record{Kind: KindProfile, Time: 6, Title: "News", About: "Daily", Avatar: img})
	c.add(nil, &Record{Kind: KindRemoveAdmin, Admin: ptr(bob.Public())})
	c.add(nil, &Record{Kind: KindDelete, Target: &post.ID, Time: 3})
	return c.recs
}

func ptr[T any](v T) *T { return &v }

// TestSignVerify: every kind, signed by the owner or an admin, parses,
// applies and re-encodes to the same bytes; every single-bit change and
// every strict prefix is refused, and leaves the State where it was.
func TestSignVerify(t *testing.T) {
	recs := sampleRecords(t)
	s, _ := NewState(pub(newKey(t, 1)))
	for i, b := range recs {
		for bit := range len(b) * 8 {
			m := bytes.Clone(b)
			m[bit/8] ^= 1 << (bit % 8)
			if _, err := s.Apply(m); err == nil {
				t.Fatalf("record %d: bit %d flipped applies", i+1, bit)
			}
		}
		for n := range len(b) {
			if _, err := s.Apply(b[:n]); err == nil {
				t.Fatalf("record %d: prefix %d applies", i+1, n)
			}
		}
		if s.Position() != uint64(i) {
			t.Fatalf("a refused record moved the state to %d", s.Position())
		}
		got, err := s.Apply(b)
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		if !bytes.Equal(got.Encoded(), b) || !bytes.Equal(append(got.seal(), got.Signature...), b) {
			t.Errorf("record %d: re-encoding differs", i+1)
		}
	}
	if s.Position() != uint64(len(recs)) || s.HeadHash() != Hash(recs[len(recs)-1]) {
		t.Fatalf("head %d", s.Position())
	}
}

// TestVersion1Refused: the old format (version byte 1) does not parse.
func TestVersion1Refused(t *testing.T) {
	b := bytes.Clone(sampleRecords(t)[0])
	b[0] = 1
	if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version 1: %v", err)
	}
}

func TestOtherKeyOrChannel(t *testing.T) {
	k, other := newKey(t, 1), newKey(t, 2)
	c := newChain(t, k)
	forged := &Record{Kind: KindPost, Channel: pub(k), Position: 2, Prev: &c.prev, Text: "x"}
	b, _ := forged.Sign(other) // claims k's channel, signed by another key
	s := c.state()
	if _, err := s.Apply(b); !errors.Is(err, ErrSignature) {
		t.Fatalf("signed by another key: %v", err)
	}
	if _, err := s.Apply(newChain(t, other).recs[0]); !errors.Is(err, ErrWrongChannel) {
		t.Fatalf("another channel's record: %v", err)
	}
}

// TestAttackReplayUnderNewSeq: a validly signed old record served again
// (as the server would under a new Seq) is a replay; the chain does not
// move.
func TestAttackReplayUnderNewSeq(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	c.add(nil, &Record{Kind: KindPost, Text: "a"})
	c.add(nil, &Record{Kind: KindPost, Text: "b"})
	s := c.state()
	for i, old := range c.recs {
		if _, err := s.Apply(old); !errors.Is(err, ErrReplay) {
			t.Fatalf("record %d again: %v, want ErrReplay", i+1, err)
		}
		if _, err := s.Conflict(old); !errors.Is(err, ErrReplay) {
			t.Fatalf("conflict of record %d: %v", i+1, err)
		}
	}
	if s.Position() != 3 {
		t.Fatalf("head moved to %d", s.Position())
	}
}

// TestAttackReorderAndGap: records served out of order or with one
// missing are refused as a gap until the missing one comes; a record at
// the right position that does not name the head is refused.
func TestAttackReorderAndGap(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	r2 := c.add(nil, &Record{Kind: KindPost, Text: "a"})
	r3 := c.add(nil, &Record{Kind: KindPost, Text: "b"})
	s, _ := NewState(pub(c.owner))
	s.Apply(c.recs[0])
	if _, err := s.Apply(r3); !errors.Is(err, ErrGap) {
		t.Fatalf("3 before 2: %v, want ErrGap", err)
	}
	if _, err := s.Apply(r2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(r3); err != nil {
		t.Fatal(err)
	}
	// A record for position 4 that names position 2 as its prev.
	wrongPrev := c.signAt(nil, &Record{Kind: KindPost, Text: "c"}, 4, Hash(r2))
	if _, err := s.Apply(wrongPrev); !errors.Is(err, ErrPrev) {
		t.Fatalf("wrong prev: %v, want ErrPrev", err)
	}
	// An owner-signed record for position 2 that is not the one there.
	other := c.signAt(nil, &Record{Kind: KindPost, Text: "other"}, 2, Hash(c.recs[0]))
	if _, err := s.Apply(other); !errors.Is(err, ErrReorder) {
		t.Fatalf("other record at 2: %v, want ErrReorder", err)
	}
}

func fold(t *testing.T, recs [][]byte, seqs []uint64) []*Post {
	t.Helper()
	var sq []Sequenced
	for i, b := range recs {
		r, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		sq = append(sq, Sequenced{Seq: seqs[i], Record: r})
	}
	return Fold(sq)
}

// TestAttackDeletedPostServedAgain: a deleted post re-served under a new
// Seq is refused by the State, and even folded it cannot come back.
func TestAttackDeletedPostServedAgain(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	post := c.add(nil, &Record{Kind: KindPost, ID: [IDSize]byte{1}, Text: "regret"})
	c.add(nil, &Record{Kind: KindDelete, Target: &[IDSize]byte{1}})
	s := c.state()
	if _, err := s.Apply(post); !errors.Is(err, ErrReplay) {
		t.Fatalf("deleted post again: %v", err)
	}
	if posts := fold(t, append(c.recs, post), []uint64{1, 2, 3, 99}); len(posts) != 0 {
		t.Fatalf("a deleted post came back: %q", posts[0].Text)
	}
	// Nor can an edit or pin signed after the deletion revive it.
	c.add(nil, &Record{Kind: KindPin, Target: &[IDSize]byte{1}})
	c.add(nil, &Record{Kind: KindEdit, Target: &[IDSize]byte{1}, Text: "back"})
	if posts := fold(t, c.recs, []uint64{1, 2, 3, 4, 5}); len(posts) != 0 {
		t.Fatalf("a deleted post came back: %q", posts[0].Text)
	}
}

// TestAttackEditReappliedOutOfOrder: an edit corrected by a later edit,
// served again with a newer Seq, is refused, and the fold follows the
// signed positions, not the Seq.
func TestAttackEditReappliedOutOfOrder(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	id := [IDSize]byte{1}
	c.add(nil, &Record{Kind: KindPost, ID: id, Text: "v1"})
	wrong := c.add(nil, &Record{Kind: KindEdit, Target: &id, Text: "wrong"})
	c.add(nil, &Record{Kind: KindEdit, Target: &id, Text: "right"})
	if _, err := c.state().Apply(wrong); !errors.Is(err, ErrReplay) {
		t.Fatalf("old edit again: %v", err)
	}
	// The server swaps the Seqs of the two edits.
	posts := fold(t, c.recs, []uint64{1, 2, 9, 5})
	if len(posts) != 1 || posts[0].Text != "right" || len(posts[0].Edits) != 2 || posts[0].Edits[1] != "wrong" {
		t.Fatalf("folded: %+v", posts)
	}
}

// TestAttackPinReplay: an old pin served again after an unpin is refused,
// and does not pin.
func TestAttackPinReplay(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	id := [IDSize]byte{1}
	c.add(nil, &Record{Kind: KindPost, ID: id, Text: "x"})
	pin := c.add(nil, &Record{Kind: KindPin, Target: &id})
	unpin := c.add(nil, &Record{Kind: KindUnpin, Target: &id})
	s := c.state()
	for _, b := range [][]byte{pin, unpin} {
		if _, err := s.Apply(b); !errors.Is(err, ErrReplay) {
			t.Fatalf("pin/unpin again: %v", err)
		}
	}
	if posts := fold(t, append(c.recs, pin), []uint64{1, 2, 3, 4, 10}); posts[0].Pinned {
		t.Fatal("a replayed pin pinned the post")
	}
}

// TestAttackAdminChangesSigners: an admin's AddAdmin or RemoveAdmin is
// refused, even of himself or of a fellow admin: only the owner key
// changes who signs.
func TestAttackAdminChangesSigners(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	bob, carol, mallory := newIdentity(t, 2), newIdentity(t, 3), newIdentity(t, 4)
	c.add(nil, &Record{Kind: KindAddAdmin, Admin: ptr(bob.Public()), AdminName: "bob"})
	c.add(nil, &Record{Kind: KindAddAdmin, Admin: ptr(carol.Public()), AdminName: "carol"})
	s := c.state()
	for _, r := range []*Record{
		{Kind: KindAddAdmin, Admin: ptr(mallory.Public()), AdminName: "mallory"},
		{Kind: KindRemoveAdmin, Admin: ptr(carol.Public())},
		{Kind: KindRemoveAdmin, Admin: ptr(bob.Public())},
	} {
		if _, err := s.Apply(c.sign(&bob, r)); !errors.Is(err, ErrAuthority) {
			t.Fatalf("admin's kind %d: %v, want ErrAuthority", r.Kind, err)
		}
	}
	if _, err := s.Apply(c.sign(&mallory, &Record{Kind: KindPost, Text: "hi"})); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("a stranger's post: %v", err)
	}
	if got := s.Admins(); len(got) != 2 || got[bob.Public()] != "bob" {
		t.Fatalf("admins: %v", got)
	}
	// The owner can remove an admin.
	if _, err := s.Apply(c.add(nil, &Record{Kind: KindRemoveAdmin, Admin: ptr(carol.Public())})); err != nil {
		t.Fatal(err)
	}
}

// TestAttackRemovedAdminBackdates: after the owner removes an admin, the
// admin's records are refused whatever their time field says.
func TestAttackRemovedAdminBackdates(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	bob := newIdentity(t, 2)
	c.add(nil, &Record{Kind: KindAddAdmin, Admin: ptr(bob.Public()), AdminName: "bob"})
	c.add(&bob, &Record{Kind: KindPost, Time: 100, Text: "as admin"})
	c.add(nil, &Record{Kind: KindRemoveAdmin, Admin: ptr(bob.Public()), Time: 200})
	s := c.state()
	for _, tm := range []int64{0, 150, 300} {
		if _, err := s.Apply(c.sign(&bob, &Record{Kind: KindPost, Time: tm, Text: "still here"})); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("removed admin, time %d: %v", tm, err)
		}
	}
	if s.IsAdmin(bob.Public()) || s.Position() != 4 {
		t.Fatalf("state moved")
	}
}

// TestAttackForkByFormerAdmin: a removed admin signs a competitor for the
// position of his own removal (where he could still sign). A follower
// with the real record sees a fork with the evidence; his record for the
// position after the removal is no fork but unauthorised.
func TestAttackForkByFormerAdmin(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	bob := newIdentity(t, 2)
	c.add(nil, &Record{Kind: KindAddAdmin, Admin: ptr(bob.Public()), AdminName: "bob"})
	c.add(&bob, &Record{Kind: KindPost, Text: "as admin"})
	prev := c.prev
	removal := c.add(nil, &Record{Kind: KindRemoveAdmin, Admin: ptr(bob.Public())})
	c.add(nil, &Record{Kind: KindPost, Text: "after"})
	fake := c.signAt(&bob, &Record{Kind: KindPost, Text: "I am still here"}, 4, prev)

	s := c.state()
	if _, err := s.Apply(fake); !errors.Is(err, ErrReorder) {
		t.Fatalf("competitor: %v, want ErrReorder", err)
	}
	_, err := s.Conflict(fake)
	var fe *ForkError
	if !errors.As(err, &fe) || !errors.Is(err, ErrFork) || fe.Position != 4 || !bytes.Equal(fe.Record, fake) {
		t.Fatalf("conflict: %v", err)
	}
	after := c.signAt(&bob, &Record{Kind: KindPost, Text: "later"}, 5, Hash(removal))
	if _, err := s.Conflict(after); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("record after the removal: %v", err)
	}

	// A follower catching up who was served the fake branch: it applies
	// (nothing shows it is fake yet); the real removal then shows the fork.
	f, _ := NewState(pub(c.owner))
	for _, b := range c.recs[:3] {
		f.Apply(b)
	}
	if _, err := f.Apply(fake); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Apply(removal); !errors.Is(err, ErrReorder) {
		t.Fatalf("real removal on the fake branch: %v", err)
	}
	if _, err := f.Conflict(removal); !errors.As(err, &fe) || fe.Position != 4 {
		t.Fatalf("fork not seen: %v", err)
	}
	// And the real record after the removal, whose prev is not the fake.
	if _, err := f.Apply(c.recs[4]); !errors.Is(err, ErrPrev) {
		t.Fatalf("real record 5: %v", err)
	}
	if _, err := f.Conflict(c.recs[4]); !errors.As(err, &fe) || fe.Position != 4 {
		t.Fatalf("fork by prev not seen: %v", err)
	}
	// A forged competitor is no fork.
	forged := bytes.Clone(removal)
	forged[len(forged)-1] ^= 1
	if _, err := f.Conflict(forged); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged competitor: %v", err)
	}
}

// TestTargets: an edit, deletion or pin must name an earlier post, and a
// record ID is used once.
func TestTargets(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	id := [IDSize]byte{1}
	c.add(nil, &Record{Kind: KindPost, ID: id, Text: "x"})
	edit := c.add(nil, &Record{Kind: KindEdit, Target: &id, Text: "y"})
	s := c.state()
	er, _ := Parse(edit)
	for _, r := range []*Record{
		{Kind: KindDelete, Target: &[IDSize]byte{9}},
		{Kind: KindPin, Target: &er.ID}, // an edit is no post
		{Kind: KindPost, ID: id, Text: "same id"},
	} {
		if _, err := s.Apply(c.sign(nil, r)); !errors.Is(err, ErrTarget) {
			t.Fatalf("kind %d: %v, want ErrTarget", r.Kind, err)
		}
	}
}

// TestResume: a State resumed from a head (as the server keeps it)
// checks the next record's position, prev and signer.
func TestResume(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	bob := newIdentity(t, 2)
	c.add(nil, &Record{Kind: KindAddAdmin, Admin: ptr(bob.Public()), AdminName: "bob"})
	s, err := Resume(Head{Genesis: pub(c.owner), Position: 2, Hash: c.prev, Admins: map[keys.PublicKey]string{bob.Public(): "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(c.sign(&bob, &Record{Kind: KindPost, Text: "x"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(c.recs[1]); !errors.Is(err, ErrReplay) {
		t.Fatalf("the head again: %v", err)
	}
	stale := c.signAt(nil, &Record{Kind: KindPost, Text: "y"}, 2, Hash(c.recs[0]))
	if _, err := s.Apply(stale); !errors.Is(err, ErrReorder) {
		t.Fatalf("stale: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	g := pub(newKey(t, 1))
	prev := &[HashSize]byte{}
	bob := newIdentity(t, 2)
	bad := []*Record{
		{Channel: g, Position: 2, Prev: prev, Kind: KindEdit, Text: "no target"},
		{Channel: g, Position: 2, Prev: prev, Kind: KindPost, Target: &[IDSize]byte{}},
		{Channel: g, Position: 2, Prev: prev, Kind: KindProfile},
		{Channel: g, Position: 2, Prev: prev, Kind: 0},
		{Channel: g, Position: 2, Prev: prev, Kind: 6},
		{Channel: g[:5], Position: 2, Prev: prev, Kind: KindPost},
		{Channel: g, Position: 2, Prev: prev, Kind: KindPost, Media: make([][]byte, MaxMedia+1)},
		{Channel: g, Position: 0, Kind: KindProfile, Title: "x"},
		{Channel: g, Position: 1, Prev: prev, Kind: KindProfile, Title: "x"},
		{Channel: g, Position: 2, Kind: KindPost},
		{Channel: g, Position: 1, Kind: KindPost},
		{Channel: g, Position: 2, Prev: prev, Kind: KindAddAdmin},
		{Channel: g, Position: 2, Prev: prev, Kind: KindAddAdmin, Admin: ptr(bob.Public())},
		{Channel: g, Position: 2, Prev: prev, Kind: KindRemoveAdmin, Admin: ptr(bob.Public()), AdminName: "x"},
	}
	for i, r := range bad {
		if _, err := r.Sign(newKey(t, 1)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d: %v", i, err)
		}
	}
}

func TestFold(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	post := func(id byte, text string) {
		c.add(nil, &Record{Kind: KindPost, ID: [IDSize]byte{id}, Text: text, Time: int64(id)})
	}
	post(1, "a")
	post(2, "b")
	post(3, "c")
	c.add(nil, &Record{Kind: KindEdit, Target: &[IDSize]byte{1}, Text: "a2", Time: 4})
	c.add(nil, &Record{Kind: KindDelete, Target: &[IDSize]byte{2}})
	c.add(nil, &Record{Kind: KindPin, Target: &[IDSize]byte{1}})
	posts := fold(t, c.recs, []uint64{1, 2, 3, 4, 5, 6, 7})
	if len(posts) != 2 || posts[0].Text != "c" || posts[1].Text != "a2" || !posts[1].Pinned ||
		len(posts[1].Edits) != 1 || posts[1].Edits[0] != "a" || posts[1].Edited != 4 {
		t.Fatalf("folded: %+v %+v", posts[0], posts[1])
	}
}

func TestMediaRoundTrip(t *testing.T) {
	poster := [32]byte{9}
	for _, m := range []*Media{
		{SHA256: [32]byte{1}, Size: 1234, ContentType: "image/jpeg", Width: 640, Height: 480},
		{SHA256: [32]byte{2}, Size: 1 << 30, ContentType: "video/mp4", Width: 1280, Height: 720, DurationMS: 15000, Poster: &poster},
	} {
		b := m.Marshal()
		got, err := ParseMedia(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatal("re-encoding differs")
		}
	}
	bad := (&Media{ContentType: "video/mp4; codecs=avc1"}).Marshal() // parameters are not allowed
	if _, err := ParseMedia(bad); err == nil {
		t.Fatal("content type with parameters accepted")
	}
}

// FuzzParse: parsing arbitrary bytes never panics, and what parses
// re-encodes to the same bytes. (A strict prefix can parse as another
// record with a garbage signature; Apply refuses every prefix, see
// TestSignVerify and FuzzApply.)
func FuzzParse(f *testing.F) {
	for _, b := range sampleRecords(f) {
		f.Add(b)
	}
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encoded(), b) || !bytes.Equal(append(r.seal(), r.Signature...), b) {
			t.Fatalf("parse/encode of %x differs", b)
		}
	})
}

// FuzzApply: applying arbitrary bytes to a State that holds a real chain
// never panics; a refused record leaves the State as it was, and only the
// genuine next record (never a variant) moves it on.
func FuzzApply(f *testing.F) {
	recs := sampleRecords(f)
	owner := pub(newKey(f, 1))
	for _, b := range recs {
		f.Add(b)
	}
	addVectorSeeds(f)
	half := len(recs) / 2
	next := recs[half]
	build := func(t testing.TB) *State {
		s, _ := NewState(owner)
		for _, r := range recs[:half] {
			if _, err := s.Apply(r); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	s := build(f) // made once: a refused record must leave it unchanged
	f.Fuzz(func(t *testing.T, b []byte) {
		pos, head := s.Position(), s.HeadHash()
		r, err := s.Apply(b)
		if err != nil {
			if s.Position() != pos || s.HeadHash() != head {
				t.Fatalf("refused record moved the state: %v", err)
			}
			if _, cerr := s.Conflict(b); errors.Is(cerr, ErrFork) {
				t.Fatalf("fuzzed bytes are a valid fork: %x", b)
			}
			return
		}
		if !bytes.Equal(b, next) || r.Position != pos+1 {
			t.Fatalf("a record other than the next one applied: %x", b)
		}
		s = build(t)
	})
}

func FuzzParseMedia(f *testing.F) {
	f.Add((&Media{SHA256: [32]byte{1}, Size: 5, ContentType: "image/png"}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMedia(b)
		if err == nil && !bytes.Equal(m.Marshal(), b) {
			t.Fatalf("parse/marshal of %x differs", b)
		}
	})
}

func TestNotice(t *testing.T) {
	op, other := newKey(t, 10), newKey(t, 11)
	g := pub(newKey(t, 1))
	n := &Notice{Channel: g, Position: 5, RecordID: [IDSize]byte{1}, Hash: [HashSize]byte{2}, Reason: "copyright notice", Time: 1795737600000}
	b, err := n.Sign(op)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyNotice(pub(op), g, b)
	if err != nil || got.Position != 5 || got.Reason != n.Reason || got.Hash != n.Hash || got.RecordID != n.RecordID {
		t.Fatalf("verify: %+v, %v", got, err)
	}
	if _, err := VerifyNotice(pub(other), g, b); !errors.Is(err, ErrSignature) {
		t.Fatalf("another operator key: %v", err)
	}
	if _, err := VerifyNotice(pub(op), pub(other), b); !errors.Is(err, ErrWrongChannel) {
		t.Fatalf("another channel: %v", err)
	}
	for i := range len(b) * 8 {
		m := bytes.Clone(b)
		m[i/8] ^= 1 << (i % 8)
		if _, err := VerifyNotice(pub(op), g, m); err == nil {
			t.Fatalf("bit %d flipped verifies", i)
		}
	}
	for i := range len(b) {
		if _, err := VerifyNotice(pub(op), g, b[:i]); err == nil {
			t.Fatalf("prefix %d verifies", i)
		}
	}
	// A notice stands in for its record in the chain.
	c := newChain(t, newKey(t, 1))
	down := c.add(nil, &Record{Kind: KindPost, ID: [IDSize]byte{3}, Text: "x"})
	c.add(nil, &Record{Kind: KindEdit, Target: &[IDSize]byte{3}, Text: "y"})
	s, _ := NewState(pub(c.owner))
	s.Apply(c.recs[0])
	downRec, _ := Parse(down)
	if _, err := s.ApplyStub(downRec.StubEncoded()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(c.recs[2]); err != nil {
		t.Fatalf("record after a takedown: %v", err)
	}
	if _, err := s.Verify(down); err != nil {
		t.Fatalf("restored record: %v", err)
	}
	if _, err := s.Verify(c.recs[2]); err != nil {
		t.Fatal(err)
	}
	s2, _ := NewState(pub(c.owner))
	s2.Apply(c.recs[0])
	forged := downRec.StubEncoded()
	forged[len(forged)-ed25519.SignatureSize-1] ^= 1 // another content digest
	if _, err := s2.ApplyStub(forged); !errors.Is(err, ErrSignature) {
		t.Fatalf("a stub with another content digest: %v", err)
	}
	if s2.Position() != 1 {
		t.Fatal("a refused stub moved the state")
	}
}

func FuzzParseNotice(f *testing.F) {
	op := newKey(f, 10)
	n := &Notice{Channel: pub(newKey(f, 1)), Position: 5, Hash: [HashSize]byte{2}, Reason: "r", Time: 1}
	b, _ := n.Sign(op)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNotice(b)
		if err != nil {
			return
		}
		if !bytes.Equal(append(n.appendBody(nil), n.Signature...), b) {
			t.Fatalf("parse/encode of %x differs", b)
		}
	})
}

// addVectorSeeds adds every record of spec/vectors/parley-channel.txt to
// a fuzz target's seeds.
func addVectorSeeds(f *testing.F) {
	secs, err := kat.Load(vectorFile)
	if err != nil {
		f.Fatal(err)
	}
	for _, sec := range secs {
		for _, k := range sec.Keys {
			if strings.HasPrefix(k, "record_") || k == "last" {
				f.Add(sec.MustHex(f, k))
			}
		}
	}
}
