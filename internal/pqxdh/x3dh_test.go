package pqxdh

import (
	"bytes"
	"testing"

	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/keys"
)

// signalX3DHInfo is the info string of Signal's classic X3DH, used only to
// reproduce Signal's published session vector with Parley's KDF code.
const signalX3DHInfo = "WhisperText"

func loadKeyPair(t *testing.T, s *kat.Section, name string) (keys.PrivateKey, keys.PublicKey) {
	t.Helper()
	privB, pubB := s.MustHex(t, name+"_priv"), s.MustHex(t, name+"_pub")
	priv, err := keys.NewPrivateKey(privB)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keys.DecodePublicKey(pubB)
	if err != nil {
		t.Fatal(err)
	}
	if priv.Public() != pub {
		t.Fatalf("%s: private key does not match public key", name)
	}
	return priv, pub
}

// TestSignalX3DHVector reproduces libsignal's classic X3DH session vector:
// with the KEM share omitted, Parley's DH and KDF code gives Signal's chain
// key as Alice (her first receiving chain) and as Bob (his first sending
// chain), and both derive the same root key.
func TestSignalX3DHVector(t *testing.T) {
	v := kat.Open(t, "../../spec/vectors/signal-x3dh.txt", "x3dh-session")
	if otp, _ := v.Get("one_time_prekey"); otp != "none" {
		t.Fatalf("vector has a one-time prekey %q; the test expects none", otp)
	}
	want := v.MustHex(t, "expected_chain_key")
	bobIK, bobIKPub := loadKeyPair(t, v, "bob_identity")
	bobSPK, bobSPKPub := loadKeyPair(t, v, "bob_signed_prekey")
	aliceIK, aliceIKPub := loadKeyPair(t, v, "alice_identity")
	aliceEK, aliceEKPub := loadKeyPair(t, v, "alice_base")
	// bob_ephemeral is Bob's first ratchet key in Signal's test; it takes no
	// part in the derivation. (Its published private half does not produce
	// its published public half, so it is not loaded as a pair.)

	aliceDHs, err := initiatorDHs(aliceIK, aliceEK, bobIKPub, bobSPKPub, nil)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := kdf(signalX3DHInfo, aliceDHs, nil)
	if err != nil {
		t.Fatal(err)
	}
	bobDHs, err := responderDHs(bobIK, bobSPK, nil, aliceIKPub, aliceEKPub)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := kdf(signalX3DHInfo, bobDHs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(alice.ChainKey[:], want) {
		t.Errorf("Alice's receiving chain key %x, want %x", alice.ChainKey, want)
	}
	if !bytes.Equal(bob.ChainKey[:], want) {
		t.Errorf("Bob's sending chain key %x, want %x", bob.ChainKey, want)
	}
	if alice.RootKey != bob.RootKey {
		t.Error("Alice and Bob derived different root keys")
	}
}

func TestInfoIsParleys(t *testing.T) {
	if len(Info) < 8 || Info == signalX3DHInfo {
		t.Fatalf("Info %q must be Parley's own string of at least 8 bytes", Info)
	}
}
