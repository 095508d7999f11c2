package wire

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func sampleRatchet() *RatchetMessage {
	return &RatchetMessage{
		RatchetKey:      append([]byte{0x05}, bytes.Repeat([]byte{1}, 32)...),
		Counter:         300,
		PreviousCounter: 2,
		Ciphertext:      bytes.Repeat([]byte{2}, 32),
		MAC:             bytes.Repeat([]byte{3}, MACSize),
	}
}

func TestRatchetRoundTrip(t *testing.T) {
	b := sampleRatchet().Marshal()
	m, err := ParseRatchetMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Marshal(), b) || m.Counter != 300 || !bytes.Equal(m.Authenticated, b[:len(b)-MACSize]) {
		t.Fatal("round trip changed the message")
	}
	for n := range len(b) {
		if _, err := ParseRatchetMessage(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d accepted", n)
		}
	}
}

// body builds a ratchet message from raw protobuf bytes and a MAC.
func body(fields []byte) []byte {
	b := append([]byte{Version, byte(TypeRatchet)}, fields...)
	return append(b, bytes.Repeat([]byte{3}, MACSize)...)
}

func TestNonCanonicalRejected(t *testing.T) {
	key := append([]byte{0x05}, bytes.Repeat([]byte{1}, 32)...)
	ct := bytes.Repeat([]byte{2}, 16)
	field := func(b []byte, num protowire.Number, v any) []byte {
		switch v := v.(type) {
		case uint64:
			b = protowire.AppendTag(b, num, protowire.VarintType)
			return protowire.AppendVarint(b, v)
		case []byte:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			return protowire.AppendBytes(b, v)
		}
		panic("bad field")
	}
	good := field(field(field(field(nil, 1, key), 2, uint64(1)), 3, uint64(0)), 4, ct)
	if _, err := ParseRatchetMessage(body(good)); err != nil {
		t.Fatalf("canonical message refused: %v", err)
	}
	nonMinimal := field(nil, 1, key)
	nonMinimal = protowire.AppendTag(nonMinimal, 2, protowire.VarintType)
	nonMinimal = append(nonMinimal, 0x81, 0x00) // 1 in two bytes
	nonMinimal = field(field(nonMinimal, 3, uint64(0)), 4, ct)
	for name, b := range map[string][]byte{
		"non-minimal varint": nonMinimal,
		"fields swapped":     field(field(field(field(nil, 2, uint64(1)), 1, key), 3, uint64(0)), 4, ct),
		"field repeated":     field(field(field(field(field(nil, 1, key), 2, uint64(1)), 2, uint64(1)), 3, uint64(0)), 4, ct),
		"unknown field":      field(field(field(field(field(nil, 1, key), 2, uint64(1)), 3, uint64(0)), 4, ct), 9, uint64(1)),
		"missing field":      field(field(field(nil, 1, key), 2, uint64(1)), 4, ct),
		"wrong wire type":    field(field(field(field(nil, 1, key), 2, []byte{1}), 3, uint64(0)), 4, ct),
		"short key":          field(field(field(field(nil, 1, key[:32]), 2, uint64(1)), 3, uint64(0)), 4, ct),
		"counter over 2^32":  field(field(field(field(nil, 1, key), 2, uint64(1)<<32), 3, uint64(0)), 4, ct),
	} {
		if _, err := ParseRatchetMessage(body(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	b := body(good)
	for name, bad := range map[string][]byte{
		"version 2":  append([]byte{2}, b[1:]...),
		"wrong type": append([]byte{Version, byte(TypeSenderKey)}, b[2:]...),
	} {
		if _, err := ParseRatchetMessage(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestBundleOptionalOneTimePreKey(t *testing.T) {
	p := PreKeyBundle{
		IdentityKey:     bytes.Repeat([]byte{5}, keySize),
		DeviceID:        7,
		SignedPreKeyID:  1,
		SignedPreKey:    bytes.Repeat([]byte{5}, keySize),
		SignedPreKeySig: make([]byte, signatureSize),
		KEMPreKeyID:     2,
		KEMPreKey:       make([]byte, kemKeySize),
		KEMPreKeySig:    make([]byte, signatureSize),
	}
	without := p.Marshal()
	p.HasOneTimePreKey, p.OneTimePreKeyID, p.OneTimePreKey = true, 3, bytes.Repeat([]byte{5}, keySize)
	with := p.Marshal()
	for _, b := range [][]byte{without, with} {
		got, err := ParsePreKeyBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatal("round trip changed the bundle")
		}
		for n := range len(b) {
			if _, err := ParsePreKeyBundle(b[:n]); err == nil {
				t.Fatalf("prefix %d accepted", n)
			}
		}
	}
}
