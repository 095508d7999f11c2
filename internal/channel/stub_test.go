package channel

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// stubOf returns the stub of an encoded record.
func stubOf(t testing.TB, b []byte) []byte {
	t.Helper()
	r, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return r.StubEncoded()
}

// TestStubCarriesAuthority is the takedown attack (spec/protocol.md
// §10.7): an operator takes down a remove_admin and a delete. A follower
// that never held them applies their stubs, and the admin is still
// removed and the post still deleted.
func TestStubCarriesAuthority(t *testing.T) {
	admin := newIdentity(t, 7)
	c := newChain(t, newKey(t, 1))
	c.add(nil, &Record{Kind: KindAddAdmin, Admin: ptr(admin.Public()), AdminName: "ann"})
	c.add(&admin, &Record{Kind: KindPost, ID: [IDSize]byte{3}, Text: "x"})
	remove := c.add(nil, &Record{Kind: KindRemoveAdmin, Admin: ptr(admin.Public())})
	del := c.add(nil, &Record{Kind: KindDelete, ID: [IDSize]byte{4}, Target: &[IDSize]byte{3}})
	late := c.sign(&admin, &Record{Kind: KindPost, ID: [IDSize]byte{5}, Text: "still here"})

	s, _ := NewState(pub(c.owner))
	var seqd []Sequenced
	for i, b := range c.recs {
		var r *Record
		var err error
		if bytes.Equal(b, remove) || bytes.Equal(b, del) {
			r, err = s.ApplyStub(stubOf(t, b))
		} else {
			r, err = s.Apply(b)
		}
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		seqd = append(seqd, Sequenced{Seq: uint64(i + 1), Record: r})
	}
	if s.IsAdmin(*ptr(admin.Public())) {
		t.Fatal("a taken-down remove_admin left the admin in place")
	}
	if _, err := s.Apply(late); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("the removed admin's later record: %v", err)
	}
	if posts := Fold(seqd); len(posts) != 0 {
		t.Fatalf("a taken-down delete brought the post back: %+v", posts[0])
	}
}

// TestStubAltered: a stub whose content digest or any authority byte was
// altered does not apply, and leaves the State as it was.
func TestStubAltered(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	c.add(nil, &Record{Kind: KindPost, ID: [IDSize]byte{3}, Text: "x"})
	stub := stubOf(t, c.recs[1])
	for i := range len(stub) - ed25519.SignatureSize {
		m := bytes.Clone(stub)
		m[i] ^= 1
		s, _ := NewState(pub(c.owner))
		if _, err := s.Apply(c.recs[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApplyStub(m); err == nil {
			t.Fatalf("byte %d altered applies", i)
		} else if i >= len(stub)-ed25519.SignatureSize-HashSize && !errors.Is(err, ErrSignature) {
			t.Fatalf("content digest altered at byte %d: %v, want ErrSignature", i, err)
		}
		if s.Position() != 1 {
			t.Fatal("a refused stub moved the state")
		}
	}
	// A post's stub folds to a placeholder, an edit's marks the version removed.
	c.add(nil, &Record{Kind: KindEdit, ID: [IDSize]byte{4}, Target: &[IDSize]byte{3}, Text: "y"})
	st, _ := NewState(pub(c.owner))
	r0, _ := st.Apply(c.recs[0])
	r1, _ := st.Apply(c.recs[1])
	r2, err := st.ApplyStub(stubOf(t, c.recs[2]))
	if err != nil {
		t.Fatal(err)
	}
	p := Fold([]Sequenced{{Seq: 1, Record: r0}, {Seq: 2, Record: r1}, {Seq: 3, Record: r2}})
	if len(p) != 1 || !p[0].Removed || p[0].Text != "" || len(p[0].Edits) != 1 || p[0].Edits[0] != "x" {
		t.Fatalf("a stub edit folds to %+v", p)
	}
}

// FuzzParseStub: parsing arbitrary bytes as a stub never panics, what
// parses re-encodes to the same bytes, and only the genuine stub of the
// next record applies.
func FuzzParseStub(f *testing.F) {
	recs := sampleRecords(f)
	for _, b := range recs {
		f.Add(stubOf(f, b))
	}
	owner := pub(newKey(f, 1))
	s, _ := NewState(owner)
	if _, err := s.Apply(recs[0]); err != nil {
		f.Fatal(err)
	}
	next := stubOf(f, recs[1])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseStub(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.StubEncoded(), b) || !bytes.Equal(r.Encoded(), b) {
			t.Fatalf("parse/encode of %x differs", b)
		}
		pos, head := s.Position(), s.HeadHash()
		if _, err := s.ApplyStub(b); err != nil {
			if s.Position() != pos || s.HeadHash() != head {
				t.Fatalf("refused stub moved the state: %v", err)
			}
			return
		}
		if !bytes.Equal(b, next) {
			t.Fatalf("a stub other than the next one applied: %x", b)
		}
		s, _ = NewState(owner) // back to one record applied
		if _, err := s.Apply(recs[0]); err != nil {
			t.Fatal(err)
		}
	})
}

// TestVersion2Refused: a record or stub of format version 2 does not parse.
func TestVersion2Refused(t *testing.T) {
	c := newChain(t, newKey(t, 1))
	for _, b := range [][]byte{bytes.Clone(c.recs[0]), stubOf(t, c.recs[0])} {
		b[0] = 2
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("version 2 record: %v", err)
		}
		if _, err := ParseStub(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("version 2 stub: %v", err)
		}
	}
}
