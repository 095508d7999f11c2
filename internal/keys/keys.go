// Package keys defines Parley's key types, one per role, and their encodings
// (spec/protocol.md §2).
//
// Public keys are plain values and compare with ==. Private keys wrap the
// standard library's types, cannot be compared with ==, and never print
// their bytes. The package holds keys; it does not decide whom to trust.
package keys

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/parley-chat/parley/internal/xeddsa"
)

// Type bytes that prefix encoded public keys (spec §2.1).
const (
	// TypeX25519 marks an X25519 public key; it is Signal's "DJB" type byte.
	TypeX25519 byte = 0x05
	// TypeMLKEM1024 marks an ML-KEM-1024 encapsulation key (Parley's own
	// type byte).
	TypeMLKEM1024 byte = 0x0A
)

const (
	// PublicKeySize is the size of a raw X25519 public key.
	PublicKeySize = 32
	// EncodedPublicKeySize is the size of an encoded X25519 public key.
	EncodedPublicKeySize = 1 + PublicKeySize
	// PrivateKeySize is the size of an X25519 private key.
	PrivateKeySize = 32
)

// ErrInvalidKey is returned (wrapped) for a key that cannot be decoded.
var ErrInvalidKey = errors.New("keys: invalid key")

// PublicKey is an X25519 public key (a Montgomery u-coordinate).
type PublicKey [PublicKeySize]byte

// DecodePublicKey decodes the 33-byte encoding 0x05 ‖ u (spec §2.1).
func DecodePublicKey(b []byte) (PublicKey, error) {
	var p PublicKey
	if len(b) != EncodedPublicKeySize || b[0] != TypeX25519 {
		return p, fmt.Errorf("%w: want %d bytes starting 0x%02x", ErrInvalidKey, EncodedPublicKeySize, TypeX25519)
	}
	copy(p[:], b[1:])
	return p, nil
}

// Encode returns the 33-byte encoding 0x05 ‖ u.
func (p PublicKey) Encode() []byte {
	return p.AppendEncoded(make([]byte, 0, EncodedPublicKeySize))
}

// AppendEncoded appends the encoding of p to b.
func (p PublicKey) AppendEncoded(b []byte) []byte {
	b = append(b, TypeX25519)
	return append(b, p[:]...)
}

// Verify reports whether sig is a valid XEdDSA signature of message by p.
func (p PublicKey) Verify(message, sig []byte) bool {
	pub, err := ecdh.X25519().NewPublicKey(p[:])
	if err != nil {
		return false
	}
	return xeddsa.Verify(pub, message, sig)
}

// PrivateKey is an X25519 private key. The zero value is not a key.
type PrivateKey struct {
	_   [0]func() // not comparable
	key *ecdh.PrivateKey
	pub PublicKey
}

// GeneratePrivateKey reads 32 bytes from rand (crypto/rand when nil) and
// returns them, clamped as Signal stores keys, as a private key.
func GeneratePrivateKey(rand io.Reader) (PrivateKey, error) {
	var b [PrivateKeySize]byte
	if _, err := io.ReadFull(reader(rand), b[:]); err != nil {
		return PrivateKey{}, fmt.Errorf("keys: generating private key: %w", err)
	}
	clamp(&b)
	return NewPrivateKey(b[:])
}

// NewPrivateKey returns the private key with the given 32 bytes.
func NewPrivateKey(b []byte) (PrivateKey, error) {
	k, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%w: private key", ErrInvalidKey)
	}
	var p PublicKey
	copy(p[:], k.PublicKey().Bytes())
	return PrivateKey{key: k, pub: p}, nil
}

// IsZero reports whether k holds no key.
func (k PrivateKey) IsZero() bool { return k.key == nil }

// Public returns the public key of k.
func (k PrivateKey) Public() PublicKey { return k.pub }

// Bytes returns the 32 private key bytes, for serialising state.
func (k PrivateKey) Bytes() []byte { return k.key.Bytes() }

// String never reveals the key.
func (k PrivateKey) String() string { return "keys.PrivateKey(redacted)" }

// ErrWeakAgreement is returned when X25519 yields the all-zero output, as
// it does for a low-order public key.
var ErrWeakAgreement = errors.New("keys: X25519 agreement with a low-order point")

// Agree returns X25519(k, p).
func (k PrivateKey) Agree(p PublicKey) ([32]byte, error) {
	var out [32]byte
	pub, err := ecdh.X25519().NewPublicKey(p[:])
	if err != nil {
		return out, fmt.Errorf("%w: public key", ErrInvalidKey)
	}
	s, err := k.key.ECDH(pub)
	if err != nil {
		return out, ErrWeakAgreement
	}
	copy(out[:], s)
	return out, nil
}

// Sign returns an XEdDSA signature of message by k, using 64 bytes from
// rand (crypto/rand when nil).
func (k PrivateKey) Sign(message []byte, rand io.Reader) ([]byte, error) {
	return xeddsa.Sign(k.key, message, reader(rand))
}

// IdentityKeyPair is an account's long-term identity key pair. The public
// half is what safety numbers commit to.
type IdentityKeyPair struct {
	Private PrivateKey
}

// GenerateIdentityKeyPair returns a fresh identity key pair.
func GenerateIdentityKeyPair(rand io.Reader) (IdentityKeyPair, error) {
	k, err := GeneratePrivateKey(rand)
	return IdentityKeyPair{Private: k}, err
}

// Public returns the public identity key.
func (k IdentityKeyPair) Public() PublicKey { return k.Private.Public() }

func clamp(b *[32]byte) {
	b[0] &= 248
	b[31] &= 127
	b[31] |= 64
}

func reader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
