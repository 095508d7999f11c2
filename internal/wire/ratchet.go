package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Ratchet message fields (spec §7.3).
const (
	ratchetKeyField      protowire.Number = 1
	ratchetCounterField  protowire.Number = 2
	ratchetPreviousField protowire.Number = 3
	ratchetCipherField   protowire.Number = 4
)

// RatchetMessage is a Double Ratchet message (spec §7.3):
//
//	version ‖ type ‖ protobuf{ratchet_key, counter, previous_counter, ciphertext} ‖ mac[8]
//
// The MAC covers both identity keys and every byte before it (spec §5.6).
type RatchetMessage struct {
	RatchetKey      []byte // the sender's current ratchet public key, encoded (33 bytes)
	Counter         uint32 // message number in the sending chain (N)
	PreviousCounter uint32 // messages in the sender's previous chain (PN)
	Ciphertext      []byte // AES-256-CBC with PKCS#7 padding
	MAC             []byte // first 8 bytes of HMAC-SHA256

	// Authenticated is what the MAC covers: the encoding up to the MAC.
	// Parse sets it; it aliases the input.
	Authenticated []byte
}

// RatchetPrefixSize is the size of AppendRatchetPrefix's output for the
// given values.
func RatchetPrefixSize(counter, previous uint32, ciphertextLen int) int {
	return 2 +
		protowire.SizeTag(ratchetKeyField) + protowire.SizeBytes(keySize) +
		protowire.SizeTag(ratchetCounterField) + protowire.SizeVarint(uint64(counter)) +
		protowire.SizeTag(ratchetPreviousField) + protowire.SizeVarint(uint64(previous)) +
		protowire.SizeTag(ratchetCipherField) + protowire.SizeVarint(uint64(ciphertextLen))
}

// AppendRatchetPrefix appends everything up to the ciphertext bytes: the
// header, the first three fields and the ciphertext field's tag and length.
// The caller appends the ciphertext and then the MAC. It lets the ratchet
// encrypt into the output buffer without a copy.
func AppendRatchetPrefix(b []byte, ratchetKey []byte, counter, previous uint32, ciphertextLen int) []byte {
	b = header(b, TypeRatchet)
	e := Encoder{B: b}
	e.Bytes(ratchetKeyField, ratchetKey)
	e.Uint(ratchetCounterField, uint64(counter))
	e.Uint(ratchetPreviousField, uint64(previous))
	e.B = protowire.AppendTag(e.B, ratchetCipherField, protowire.BytesType)
	return protowire.AppendVarint(e.B, uint64(ciphertextLen))
}

// Marshal returns the encoding of m; m.MAC must be MACSize bytes.
func (m *RatchetMessage) Marshal() []byte {
	n := RatchetPrefixSize(m.Counter, m.PreviousCounter, len(m.Ciphertext)) + len(m.Ciphertext) + MACSize
	b := AppendRatchetPrefix(make([]byte, 0, n), m.RatchetKey, m.Counter, m.PreviousCounter, len(m.Ciphertext))
	b = append(b, m.Ciphertext...)
	return append(b, m.MAC...)
}

// ParseRatchetMessage decodes a ratchet message. The result aliases b.
func ParseRatchetMessage(b []byte) (RatchetMessage, error) {
	var m RatchetMessage
	if len(b) > MaxMessage {
		return m, fmt.Errorf("%w: ratchet message too large", ErrMalformed)
	}
	body, err := checkHeader(b, TypeRatchet)
	if err != nil {
		return m, err
	}
	if len(body) < MACSize {
		return m, fmt.Errorf("%w: ratchet message too short", ErrMalformed)
	}
	split := len(b) - MACSize
	d := NewDecoder(body[:len(body)-MACSize])
	m.RatchetKey = d.Bytes(ratchetKeyField, keySize, keySize)
	m.Counter = uint32(d.Uint(ratchetCounterField, maxUint32))
	m.PreviousCounter = uint32(d.Uint(ratchetPreviousField, maxUint32))
	m.Ciphertext = d.Bytes(ratchetCipherField, 16, MaxCiphertext)
	if err := d.Finish(); err != nil {
		return RatchetMessage{}, err
	}
	m.MAC = b[split:]
	m.Authenticated = b[:split]
	return m, nil
}
