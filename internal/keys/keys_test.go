package keys_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/keys"
)

// TestSignalX25519Vector reproduces libsignal's X25519 agreement vector.
func TestSignalX25519Vector(t *testing.T) {
	v := kat.Open(t, "../../spec/vectors/signal-x25519.txt", "x25519-agreement")
	get := func(k string) []byte { return v.MustHex(t, k) }
	alice, err := keys.NewPrivateKey(get("alice_priv"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := keys.NewPrivateKey(get("bob_priv"))
	if err != nil {
		t.Fatal(err)
	}
	if pub := alice.Public(); !bytes.Equal(pub[:], get("alice_pub")) {
		t.Errorf("alice public %x", pub)
	}
	if pub := bob.Public(); !bytes.Equal(pub[:], get("bob_pub")) {
		t.Errorf("bob public %x", pub)
	}
	for _, c := range []struct {
		name string
		priv keys.PrivateKey
		pub  keys.PublicKey
	}{{"alice", alice, bob.Public()}, {"bob", bob, alice.Public()}} {
		s, err := c.priv.Agree(c.pub)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s[:], get("shared")) {
			t.Errorf("%s: shared %x", c.name, s)
		}
	}
}

func TestLowOrderPointRefused(t *testing.T) {
	k, err := keys.GeneratePrivateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var zero keys.PublicKey // u = 0 is a low-order point
	if _, err := k.Agree(zero); !errors.Is(err, keys.ErrWeakAgreement) {
		t.Fatalf("got %v, want ErrWeakAgreement", err)
	}
}

func TestEncodings(t *testing.T) {
	k, err := keys.GeneratePrivateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := k.Public().Encode()
	back, err := keys.DecodePublicKey(enc)
	if err != nil || back != k.Public() {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range [][]byte{nil, enc[:32], append(enc, 0), append([]byte{0x06}, enc[1:]...)} {
		if _, err := keys.DecodePublicKey(bad); !errors.Is(err, keys.ErrInvalidKey) {
			t.Errorf("decoded %x", bad)
		}
	}
	kem, err := keys.GenerateKEMPrivateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	kenc := kem.Public().Encode()
	if _, err := keys.DecodeKEMPublicKey(kenc); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.DecodeKEMPublicKey(kenc[1:]); !errors.Is(err, keys.ErrInvalidKey) {
		t.Error("KEM key without type byte accepted")
	}
	ss, ct := kem.Public().Encapsulate()
	ss2, err := kem.Decapsulate(ct)
	if err != nil || !bytes.Equal(ss, ss2) {
		t.Fatal("KEM round trip failed")
	}
}

func TestPrivateKeysDoNotPrint(t *testing.T) {
	k, err := keys.GeneratePrivateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	kem, err := keys.GenerateKEMPrivateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v", kem), fmt.Sprintf("%+v", k)} {
		if bytes.Contains([]byte(s), []byte(fmt.Sprintf("%x", k.Bytes()[:4]))) {
			t.Fatalf("private key bytes printed: %s", s)
		}
	}
}
