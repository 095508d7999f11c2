package ratchet

import (
	"bytes"
	"testing"

	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/keys"
)

// TestSignalChainKeyVector reproduces libsignal's chain-key derivation
// vector: the chain step and the message-key expansion.
func TestSignalChainKeyVector(t *testing.T) {
	v := kat.Open(t, "../../spec/vectors/signal-chain-key.txt", "chain-key-derivation")
	get := func(k string) []byte { return v.MustHex(t, k) }
	var ck chainKey
	copy(ck.key[:], get("chain_key"))
	seed, next := ck.step()
	mk, err := deriveMessageKeys(&seed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mk.cipherKey[:], get("message_cipher_key")) {
		t.Errorf("cipher key %x", mk.cipherKey)
	}
	if !bytes.Equal(mk.macKey[:], get("message_mac_key")) {
		t.Errorf("mac key %x", mk.macKey)
	}
	if !bytes.Equal(next.key[:], get("next_chain_key")) {
		t.Errorf("next chain key %x", next.key)
	}
	if next.index != 1 {
		t.Errorf("next index %d", next.index)
	}
}

// TestMACCoversIdentities checks that the MAC changes with either identity
// key and with their order (spec §5.6).
func TestMACCoversIdentities(t *testing.T) {
	var macKey [macKeySize]byte
	a, b, c := keys.PublicKey{1}, keys.PublicKey{2}, keys.PublicKey{3}
	msg := []byte("header and ciphertext")
	base := computeMAC(nil, &macKey, &a, &b, msg)
	for name, got := range map[string][]byte{
		"swapped":          computeMAC(nil, &macKey, &b, &a, msg),
		"other sender":     computeMAC(nil, &macKey, &c, &b, msg),
		"other receiver":   computeMAC(nil, &macKey, &a, &c, msg),
		"other message":    computeMAC(nil, &macKey, &a, &b, msg[1:]),
		"identical inputs": computeMAC(nil, &macKey, &a, &b, msg),
	} {
		same := bytes.Equal(got, base)
		if same != (name == "identical inputs") {
			t.Errorf("%s: MAC equal=%v", name, same)
		}
	}
}
