package session_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/ratchet"
	"github.com/parley-chat/parley/internal/session"
	"github.com/parley-chat/parley/internal/wire"
)

func parties(t *testing.T, seed uint64, withOPK bool) (*protocoltest.Party, *protocoltest.Party) {
	t.Helper()
	r := protocoltest.Rand(seed)
	a, err := protocoltest.NewParty(r, withOPK)
	if err != nil {
		t.Fatal(err)
	}
	b, err := protocoltest.NewParty(r, withOPK)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestHandshakeWithAndWithoutOneTimePreKey(t *testing.T) {
	for _, withOPK := range []bool{true, false} {
		a, b := parties(t, 1, withOPK)
		s, err := session.Initiate(a.Identity, nil, b.Bundle(), nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.Encrypt([]byte("first"))
		if err != nil {
			t.Fatal(err)
		}
		if typ, _ := wire.PeekType(m); typ != wire.TypePreKey {
			t.Fatalf("first message type %d, want prekey", typ)
		}
		resp, err := session.Respond(b.Identity, b.Store, nil, nil, m, nil)
		if err != nil {
			t.Fatalf("withOPK=%v: %v", withOPK, err)
		}
		if string(resp.Plaintext) != "first" || resp.Identity != a.Identity.Public() {
			t.Fatalf("got %q from %x", resp.Plaintext, resp.Identity)
		}
		if withOPK && len(b.Store.OneTime) != 0 {
			t.Fatal("one-time prekey not consumed")
		}
		if len(b.Store.KEM) != 1 {
			t.Fatal("last-resort KEM prekey was consumed")
		}
	}
}

func TestBadSignatureRefused(t *testing.T) {
	a, b := parties(t, 2, true)
	other, err := keys.GenerateIdentityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	good := b.Bundle()
	w, err := wire.ParsePreKeyBundle(good)
	if err != nil {
		t.Fatal(err)
	}
	// Every single-bit flip of either signature is refused.
	for _, sig := range [][]byte{w.SignedPreKeySig, w.KEMPreKeySig} {
		for i := range len(sig) * 8 {
			orig := bytes.Clone(sig)
			sig[i/8] ^= 1 << (i % 8)
			if _, err := session.Initiate(a.Identity, nil, w.Marshal(), nil); !errors.Is(err, pqxdh.ErrBadSignature) {
				t.Fatalf("flipped signature bit %d: got %v, want ErrBadSignature", i, err)
			}
			copy(sig, orig)
		}
	}
	// A signed prekey signed by another identity is refused.
	forged, err := pqxdh.GenerateSignedPreKey(other, 9, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := pqxdh.MakeBundle(b.Identity.Public(), 1, &forged, &b.KEM, b.OPK)
	if _, err := session.Initiate(a.Identity, nil, bad, nil); !errors.Is(err, pqxdh.ErrBadSignature) {
		t.Fatalf("foreign signed prekey: got %v", err)
	}
	if _, err := session.Initiate(a.Identity, nil, good, nil); err != nil {
		t.Fatalf("good bundle refused: %v", err)
	}
}

func TestChangedIdentityRefusedUnlessAccepted(t *testing.T) {
	a, b := parties(t, 3, false)
	known := b.Identity.Public()
	// Bob re-installs: a new identity key with new prekeys.
	_, b2 := parties(t, 4, false)
	if _, err := session.Initiate(a.Identity, &known, b2.Bundle(), nil); !errors.Is(err, session.ErrUntrustedIdentity) {
		t.Fatalf("changed identity: got %v, want ErrUntrustedIdentity", err)
	}
	if _, err := session.Initiate(a.Identity, &known, b.Bundle(), nil); err != nil {
		t.Fatalf("known identity refused: %v", err)
	}
	accepted := b2.Identity.Public()
	if _, err := session.Initiate(a.Identity, &accepted, b2.Bundle(), nil); err != nil {
		t.Fatalf("accepted identity refused: %v", err)
	}
	// The responder refuses an initiator it does not trust, and consumes
	// nothing.
	s, err := session.Initiate(a.Identity, nil, b.Bundle(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Encrypt([]byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	distrust := func(keys.PublicKey) bool { return false }
	if _, err := session.Respond(b.Identity, b.Store, nil, distrust, m, nil); !errors.Is(err, session.ErrUntrustedIdentity) {
		t.Fatalf("got %v, want ErrUntrustedIdentity", err)
	}
}

func TestOneTimePreKeyNeverUsedTwice(t *testing.T) {
	a, b := parties(t, 5, true)
	bundle := b.Bundle()
	// Two initiators fetch the same bundle (a server that hands out a
	// one-time prekey twice, or a replay): only the first session is built.
	c, _ := parties(t, 6, false)
	var msgs [][]byte
	for _, who := range []keys.IdentityKeyPair{a.Identity, c.Identity} {
		s, err := session.Initiate(who, nil, bundle, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.Encrypt([]byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if _, err := session.Respond(b.Identity, b.Store, nil, nil, msgs[0], nil); err != nil {
		t.Fatal(err)
	}
	if _, err := session.Respond(b.Identity, b.Store, nil, nil, msgs[1], nil); !errors.Is(err, session.ErrUnknownPreKey) {
		t.Fatalf("second use of a one-time prekey: got %v, want ErrUnknownPreKey", err)
	}
	// Replaying the first prekey message without the session also fails.
	if _, err := session.Respond(b.Identity, b.Store, nil, nil, msgs[0], nil); !errors.Is(err, session.ErrUnknownPreKey) {
		t.Fatalf("replayed prekey message: got %v", err)
	}
}

func TestRepeatedPrekeyHeaderUsesExistingSession(t *testing.T) {
	a, b := parties(t, 7, false)
	s, err := session.Initiate(a.Identity, nil, b.Bundle(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m1, _ := s.Encrypt([]byte("one"))
	m2, _ := s.Encrypt([]byte("two"))
	r1, err := session.Respond(b.Identity, b.Store, nil, nil, m1, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := session.Respond(b.Identity, b.Store, r1.Session, nil, m2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Session != r1.Session || string(r2.Plaintext) != "two" {
		t.Fatal("second prekey message did not reuse the session")
	}
	// A replay of the first message against the existing session fails
	// and changes nothing.
	before := r1.Session.Marshal()
	if _, err := session.Respond(b.Identity, b.Store, r1.Session, nil, m1, nil); !errors.Is(err, ratchet.ErrDecrypt) {
		t.Fatalf("replay: got %v, want ErrDecrypt", err)
	}
	if !bytes.Equal(before, r1.Session.Marshal()) {
		t.Fatal("replay changed the session")
	}
}

func TestForgedPrekeyMessageConsumesNothing(t *testing.T) {
	a, b := parties(t, 8, true)
	s, err := session.Initiate(a.Identity, nil, b.Bundle(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := s.Encrypt([]byte("hello"))
	// Flip a bit in the KEM ciphertext, then in the inner message's MAC.
	for _, off := range []int{200, len(m) - 1} {
		forged := bytes.Clone(m)
		forged[off] ^= 0x01
		if _, err := session.Respond(b.Identity, b.Store, nil, nil, forged, nil); !errors.Is(err, ratchet.ErrDecrypt) {
			t.Fatalf("forged at %d: got %v, want ErrDecrypt", off, err)
		}
		if len(b.Store.OneTime) != 1 {
			t.Fatal("a forged prekey message consumed the one-time prekey")
		}
	}
	for n := range len(m) {
		if _, err := session.Respond(b.Identity, b.Store, nil, nil, m[:n], nil); err == nil {
			t.Fatalf("prefix of %d bytes accepted", n)
		}
	}
	if _, err := session.Respond(b.Identity, b.Store, nil, nil, m, nil); err != nil {
		t.Fatal(err)
	}
}
