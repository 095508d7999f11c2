package session_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/session"
	"github.com/parley-chat/parley/internal/wire"
)

var update = flag.Bool("update", false, "rewrite Parley's vectors in spec/vectors")

const (
	pqxdhVectors   = "../../spec/vectors/parley-pqxdh.txt"
	ratchetVectors = "../../spec/vectors/parley-ratchet.txt"
	vectorsHeader  = `Parley's own deterministic vectors, made from seeded randomness
(ChaCha8 seeded with the little-endian seed). Regenerate with: go generate ./spec/vectors
Each section says what must happen (expect); the tests also regenerate
every section from its seed and require identical bytes.`
)

// vectorTime is the clock every ratchet vector is decrypted at.
var vectorTime = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

// genPQXDH makes one PQXDH vector: Bob's private prekeys, his bundle, and
// Alice's first prekey message.
func genPQXDH(name string, seed uint64, withOPK bool, expect string) (*kat.Section, error) {
	r := protocoltest.Rand(seed)
	a, err := protocoltest.NewParty(r, false)
	if err != nil {
		return nil, err
	}
	b, err := protocoltest.NewParty(r, withOPK)
	if err != nil {
		return nil, err
	}
	s := &kat.Section{Name: name}
	s.Set("seed", strconv.FormatUint(seed, 10))
	s.Set("expect", expect)
	s.SetHex("alice_identity_private", a.Identity.Private.Bytes())
	s.SetHex("bob_identity_private", b.Identity.Private.Bytes())
	s.SetHex("bob_signed_prekey_private", b.SPK.Private.Bytes())
	s.SetHex("bob_kem_prekey_seed", b.KEM.Private.Seed())
	if withOPK {
		s.SetHex("bob_one_time_prekey_private", b.OPK.Private.Bytes())
	}
	bundle := b.Bundle()
	if expect == "bad signature" {
		w, _ := wire.ParsePreKeyBundle(bundle)
		w.SignedPreKeySig[5] ^= 0x40
		bundle = w.Marshal()
	}
	s.SetHex("bundle", bundle)
	sess, err := session.InitiateWith(a.Identity, nil, bundle, r, kat.Encapsulator(r))
	if expect == "bad signature" {
		if !errors.Is(err, pqxdh.ErrBadSignature) {
			return nil, fmt.Errorf("%s: bad bundle gave %v", name, err)
		}
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	msg, err := sess.Encrypt([]byte("PQXDH vector " + name))
	if err != nil {
		return nil, err
	}
	s.SetHex("plaintext", []byte("PQXDH vector "+name))
	s.SetHex("prekey_message", msg)
	// The session keys, as the responder derives them.
	sk, err := respondKeys(s)
	if err != nil {
		return nil, err
	}
	s.SetHex("root_key", sk.RootKey[:])
	s.SetHex("chain_key", sk.ChainKey[:])
	return s, nil
}

// respondKeys runs PQXDH §3.4 from the section's private keys and message.
func respondKeys(s *kat.Section) (pqxdh.SessionKeys, error) {
	var sk pqxdh.SessionKeys
	get := func(k string) []byte { b, _ := s.Hex(k); return b }
	ik, err := keys.NewPrivateKey(get("bob_identity_private"))
	if err != nil {
		return sk, err
	}
	spk, err := keys.NewPrivateKey(get("bob_signed_prekey_private"))
	if err != nil {
		return sk, err
	}
	kem, err := keys.NewKEMPrivateKey(get("bob_kem_prekey_seed"))
	if err != nil {
		return sk, err
	}
	rk := pqxdh.ResponderKeys{Identity: keys.IdentityKeyPair{Private: ik}, SignedPreKey: spk, KEMPreKey: kem}
	if b, err := s.Hex("bob_one_time_prekey_private"); err == nil {
		opk, err := keys.NewPrivateKey(b)
		if err != nil {
			return sk, err
		}
		rk.OneTimePreKey = &opk
	}
	m, err := wire.ParsePreKeyMessage(get("prekey_message"))
	if err != nil {
		return sk, err
	}
	if m.HasOneTimePreKey != (rk.OneTimePreKey != nil) {
		return sk, errors.New("one-time prekey use does not match the vector")
	}
	theirs, err := keys.DecodePublicKey(m.IdentityKey)
	if err != nil {
		return sk, err
	}
	base, err := keys.DecodePublicKey(m.BaseKey)
	if err != nil {
		return sk, err
	}
	return pqxdh.Respond(&rk, theirs, base, m.KEMCiphertext)
}

func genPQXDHVectors() ([]*kat.Section, error) {
	var secs []*kat.Section
	for _, c := range []struct {
		name    string
		seed    uint64
		withOPK bool
		expect  string
	}{
		{"pqxdh-one-time-prekey", 101, true, "ok"},
		{"pqxdh-no-one-time-prekey", 102, false, "ok"},
		{"pqxdh-bad-signed-prekey-signature", 103, true, "bad signature"},
	} {
		s, err := genPQXDH(c.name, c.seed, c.withOPK, c.expect)
		if err != nil {
			return nil, err
		}
		secs = append(secs, s)
	}
	return secs, nil
}

func checkPQXDHVector(t *testing.T, s *kat.Section) {
	expect, _ := s.Get("expect")
	alicePriv, err := s.Hex("alice_identity_private")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := keys.NewPrivateKey(alicePriv)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := s.Hex("bundle")
	if err != nil {
		t.Fatal(err)
	}
	_, err = session.Initiate(keys.IdentityKeyPair{Private: alice}, nil, bundle, nil)
	switch expect {
	case "bad signature":
		if !errors.Is(err, pqxdh.ErrBadSignature) {
			t.Fatalf("got %v, want ErrBadSignature", err)
		}
		return
	case "ok":
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown expect %q", expect)
	}
	sk, err := respondKeys(s)
	if err != nil {
		t.Fatal(err)
	}
	for k, got := range map[string][]byte{"root_key": sk.RootKey[:], "chain_key": sk.ChainKey[:]} {
		want, err := s.Hex(k)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s = %x, want %x", k, got, want)
		}
	}
	// The responder's side of the session decrypts Alice's first message.
	ik, _ := keys.NewPrivateKey(s.MustHex(t, "bob_identity_private"))
	spk, _ := keys.NewPrivateKey(s.MustHex(t, "bob_signed_prekey_private"))
	kem, _ := keys.NewKEMPrivateKey(s.MustHex(t, "bob_kem_prekey_seed"))
	store := protocoltest.NewMemStore()
	store.Signed[1] = spk
	store.KEM[1] = pqxdh.KEMPreKey{ID: 1, Private: kem, LastResort: true}
	if b, err := s.Hex("bob_one_time_prekey_private"); err == nil {
		opk, _ := keys.NewPrivateKey(b)
		store.OneTime[1] = opk
	}
	resp, err := session.Respond(keys.IdentityKeyPair{Private: ik}, store, nil, nil, s.MustHex(t, "prekey_message"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := s.MustHex(t, "plaintext"); !bytes.Equal(resp.Plaintext, want) {
		t.Fatalf("plaintext %q, want %q", resp.Plaintext, want)
	}
}

func TestPQXDHVectors(t *testing.T) {
	runVectors(t, pqxdhVectors, genPQXDHVectors, checkPQXDHVector)
}

func TestRatchetVectors(t *testing.T) {
	runVectors(t, ratchetVectors, genRatchetVectors, checkRatchetVector)
}

// runVectors rewrites the file with -update; otherwise it checks that the
// file matches a fresh generation and that every section does what its
// expect line says.
func runVectors(t *testing.T, path string, gen func() ([]*kat.Section, error), check func(*testing.T, *kat.Section)) {
	fresh, err := gen()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		var b bytes.Buffer
		if err := kat.Write(&b, vectorsHeader, fresh); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	secs, err := kat.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != len(fresh) {
		t.Fatalf("%s has %d sections, the generator makes %d", path, len(secs), len(fresh))
	}
	for i, s := range secs {
		t.Run(s.Name, func(t *testing.T) {
			for _, k := range fresh[i].Keys {
				got, _ := s.Get(k)
				if norm(got) != norm(fresh[i].Values[k]) {
					t.Fatalf("%s differs from a fresh generation: the protocol's bytes changed", k)
				}
			}
			check(t, s)
		})
	}
}

func norm(v string) string { return strings.Join(strings.Fields(v), "") }
