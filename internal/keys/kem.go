package keys

import (
	"crypto/mlkem"
	"fmt"
	"io"
)

const (
	// EncodedKEMPublicKeySize is the size of an encoded ML-KEM-1024
	// encapsulation key: 0x0A ‖ ek (spec §2.1).
	EncodedKEMPublicKeySize = 1 + mlkem.EncapsulationKeySize1024
	// KEMCiphertextSize is the size of an ML-KEM-1024 ciphertext.
	KEMCiphertextSize = mlkem.CiphertextSize1024
	// KEMSeedSize is the size of the seed a KEM private key is stored as.
	KEMSeedSize = mlkem.SeedSize
)

// KEMPublicKey is an ML-KEM-1024 encapsulation key (FIPS 203).
type KEMPublicKey struct {
	ek *mlkem.EncapsulationKey1024
}

// DecodeKEMPublicKey decodes 0x0A ‖ ek. FIPS 203's encapsulation key check
// (§7.2, modulus check) is done by crypto/mlkem.
func DecodeKEMPublicKey(b []byte) (KEMPublicKey, error) {
	if len(b) != EncodedKEMPublicKeySize || b[0] != TypeMLKEM1024 {
		return KEMPublicKey{}, fmt.Errorf("%w: want %d bytes starting 0x%02x", ErrInvalidKey, EncodedKEMPublicKeySize, TypeMLKEM1024)
	}
	ek, err := mlkem.NewEncapsulationKey1024(b[1:])
	if err != nil {
		return KEMPublicKey{}, fmt.Errorf("%w: ML-KEM encapsulation key", ErrInvalidKey)
	}
	return KEMPublicKey{ek: ek}, nil
}

// Encode returns 0x0A ‖ ek.
func (k KEMPublicKey) Encode() []byte {
	b := make([]byte, 0, EncodedKEMPublicKeySize)
	b = append(b, TypeMLKEM1024)
	return append(b, k.ek.Bytes()...)
}

// Encapsulate returns a fresh shared secret and its ciphertext (FIPS 203
// §7.2, ML-KEM.Encaps). The randomness is always crypto/mlkem's own: no
// caller can supply or steer the message m of ML-KEM.Encaps_internal. Only
// known-answer tests encapsulate deterministically, through internal/kat.
func (k KEMPublicKey) Encapsulate() (sharedKey, ciphertext []byte) {
	return k.ek.Encapsulate()
}

// KEMPrivateKey is an ML-KEM-1024 decapsulation key.
type KEMPrivateKey struct {
	_  [0]func() // not comparable
	dk *mlkem.DecapsulationKey1024
}

// GenerateKEMPrivateKey derives a decapsulation key from a 64-byte seed
// read from rand (crypto/rand when nil).
func GenerateKEMPrivateKey(r io.Reader) (KEMPrivateKey, error) {
	var seed [KEMSeedSize]byte
	if _, err := io.ReadFull(reader(r), seed[:]); err != nil {
		return KEMPrivateKey{}, fmt.Errorf("keys: generating KEM key: %w", err)
	}
	return NewKEMPrivateKey(seed[:])
}

// NewKEMPrivateKey returns the decapsulation key with the given seed.
func NewKEMPrivateKey(seed []byte) (KEMPrivateKey, error) {
	dk, err := mlkem.NewDecapsulationKey1024(seed)
	if err != nil {
		return KEMPrivateKey{}, fmt.Errorf("%w: KEM seed", ErrInvalidKey)
	}
	return KEMPrivateKey{dk: dk}, nil
}

// Public returns the encapsulation key.
func (k KEMPrivateKey) Public() KEMPublicKey {
	return KEMPublicKey{ek: k.dk.EncapsulationKey()}
}

// Seed returns the 64-byte seed, for serialising state.
func (k KEMPrivateKey) Seed() []byte { return k.dk.Bytes() }

// String never reveals the key.
func (k KEMPrivateKey) String() string { return "keys.KEMPrivateKey(redacted)" }

// Decapsulate returns the shared secret for ciphertext.
func (k KEMPrivateKey) Decapsulate(ciphertext []byte) ([]byte, error) {
	ss, err := k.dk.Decapsulate(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("keys: decapsulating: %w", err)
	}
	return ss, nil
}
