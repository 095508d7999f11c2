package pqxdh_test

import (
	"bytes"
	"testing"

	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/protocoltest"
)

// TestKEMRandomnessIsNotTheCallers runs Initiate twice with the same seeded
// randomness source. The source decides EK_A, so both base keys are equal,
// but PQKEM-ENC (PQXDH §3.3) must draw from crypto/mlkem's own randomness
// (FIPS 203 §7.2): the two KEM ciphertexts, and so the session keys, must
// differ. A caller's reader must never choose the encapsulated message.
func TestKEMRandomnessIsNotTheCallers(t *testing.T) {
	alice, err := protocoltest.NewParty(protocoltest.Rand(1), false)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := protocoltest.NewParty(protocoltest.Rand(2), true)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := pqxdh.ParseBundle(bob.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	var inits [2]*pqxdh.Initiation
	for i := range inits {
		if inits[i], err = pqxdh.Initiate(alice.Identity, nil, bundle, protocoltest.Rand(3)); err != nil {
			t.Fatal(err)
		}
	}
	if inits[0].BaseKey != inits[1].BaseKey {
		t.Fatal("the seeded reader did not decide EK_A; the test proves nothing")
	}
	if bytes.Equal(inits[0].KEMCiphertext, inits[1].KEMCiphertext) {
		t.Error("the caller's randomness source steered ML-KEM encapsulation: same ciphertext twice")
	}
	if inits[0].Keys == inits[1].Keys {
		t.Error("same session keys from two initiations")
	}
}
