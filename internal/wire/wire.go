// Package wire encodes and decodes Parley's protocol messages (spec/protocol.md
// §7): prekey bundles, prekey messages, ratchet messages, sender-key messages
// and sender-key distribution messages.
//
// Every message starts with a version byte and a type byte, followed by a
// canonical protobuf encoding and, for authenticated messages, a fixed-size
// trailer (MAC or signature). Decoders accept only the canonical encoding, so
// decoding then encoding returns the same bytes, and every strict prefix of a
// valid message is rejected. The package checks lengths and structure only;
// it verifies no MAC or signature and decodes no key.
package wire

import (
	"fmt"
)

// Version is the protocol version integer (spec §1.2). It is the first byte
// of every message.
const Version = 1

// Type is the second byte of every message (spec §7.2).
type Type byte

// Message types.
const (
	TypeRatchet               Type = 1
	TypePreKey                Type = 2
	TypeSenderKey             Type = 3
	TypeSenderKeyDistribution Type = 4
	TypeBundle                Type = 5
)

// Field sizes shared by several messages.
const (
	keySize       = 33   // 0x05 ‖ X25519
	kemKeySize    = 1569 // 0x0A ‖ ML-KEM-1024 encapsulation key
	kemCTSize     = 1568 // ML-KEM-1024 ciphertext
	signatureSize = 64   // XEdDSA
	maxUint32     = 1<<32 - 1

	// MACSize is the size of a ratchet message's truncated HMAC-SHA256.
	MACSize = 8
	// MaxCiphertext bounds the ciphertext of one message (1 MiB).
	MaxCiphertext = 1 << 20
	// MaxMessage bounds an encoded ratchet or prekey message.
	MaxMessage = MaxCiphertext + 4096
)

// header is the 2-byte prefix of every message.
func header(b []byte, t Type) []byte {
	return append(b, Version, byte(t))
}

// checkHeader verifies the prefix and returns the rest.
func checkHeader(b []byte, t Type) ([]byte, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	if b[0] != Version {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrMalformed, b[0])
	}
	if Type(b[1]) != t {
		return nil, fmt.Errorf("%w: type %d, want %d", ErrMalformed, b[1], t)
	}
	return b[2:], nil
}

// PeekType returns the type of an encoded message without decoding it.
func PeekType(b []byte) (Type, error) {
	if len(b) < 2 || b[0] != Version {
		return 0, fmt.Errorf("%w: bad header", ErrMalformed)
	}
	return Type(b[1]), nil
}
