package xeddsa

import (
	"crypto/ecdh"
	cryptorand "crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"

	"filippo.io/edwards25519"
)

// SignatureSize is the size of a signature in bytes: R (32) || s (32), with
// the sign bit of the signer's Edwards public key in the top bit.
const SignatureSize = 64

// randomSize is the size of Z, the secret random input of §3 and §8.
const randomSize = 64

// hash1Prefix is the 32-byte little-endian encoding of 2^b - 1 - i for b = 256
// and i = 1: hash_1 of §2.5 is SHA-512 (§5) over this prefix and its input.
// It is 0xFE followed by 31 bytes of 0xFF, which is no canonical point
// encoding (its y is above p), so the nonce hash input never begins like the
// challenge hash input of §3, which begins with the canonical encoding of R.
const hash1Prefix = "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"

// signBitMask selects the sign bit of an encoded point (§2.4), the top bit of
// its last byte. The same bit of signature byte 63 carries it (libsignal).
const signBitMask = 0x80

var errKeyType = errors.New("xeddsa: sign: private key is not an X25519 key")

// Sign signs message with the X25519 private key priv. It reads 64 bytes of
// randomness from rand (crypto/rand.Reader when rand is nil). It fails only if
// priv is not an X25519 key or rand fails; a rand error is wrapped.
func Sign(priv *ecdh.PrivateKey, message []byte, rand io.Reader) ([]byte, error) {
	if !isX25519(priv) {
		return nil, errKeyType
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	// §8: a new secret random 64-byte Z for every signature.
	var z [randomSize]byte
	defer clear(z[:])
	if _, err := io.ReadFull(rand, z[:]); err != nil {
		return nil, fmt.Errorf("xeddsa: sign: reading randomness: %w", err)
	}
	return SignWithRandom(priv, message, &z), nil
}

// SignWithRandom is the deterministic core of Sign: random is the 64-byte Z of
// §3, which must be secret and fresh for every signature (§8). It panics if
// priv is not an X25519 key.
func SignWithRandom(priv *ecdh.PrivateKey, message []byte, random *[64]byte) []byte {
	if !isX25519(priv) {
		panic(errKeyType.Error())
	}

	// §2.3 calculate_key_pair, libsignal variant: a is the clamped private
	// key k as it is (no negation), and A = aB keeps its sign bit.
	var k [32]byte
	defer clear(k[:])
	copy(k[:], priv.Bytes())
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
	a, err := edwards25519.NewScalar().SetBytesWithClamping(k[:])
	if err != nil {
		panic("xeddsa: X25519 private key is not 32 bytes")
	}
	defer a.Set(edwards25519.NewScalar())
	pubA := new(edwards25519.Point).ScalarBaseMult(a).Bytes()

	// §3 and §2.5: r = hash_1(k || M || Z) (mod q). §3 hashes a here;
	// libsignal hashes the clamped bytes k (see the package comment).
	var digest [sha512.Size]byte
	defer clear(digest[:])
	nonce := sha512.New()
	io.WriteString(nonce, hash1Prefix)
	nonce.Write(k[:])
	nonce.Write(message)
	nonce.Write(random[:])
	r, err := edwards25519.NewScalar().SetUniformBytes(nonce.Sum(digest[:0]))
	if err != nil {
		panic("xeddsa: SHA-512 digest is not 64 bytes")
	}
	defer r.Set(edwards25519.NewScalar())

	// §3: R = rB.
	sigR := new(edwards25519.Point).ScalarBaseMult(r).Bytes()

	// §3: h = hash(R || A || M) (mod q).
	h := challenge(sigR, pubA, message)

	// §3: s = r + ha (mod q).
	s := edwards25519.NewScalar().MultiplyAdd(h, a, r)

	// §3: the signature is R || s. libsignal: the sign bit of A (§2.4) goes in
	// the top bit of byte 63, which is zero in s since s < q < 2^253.
	sig := make([]byte, 0, SignatureSize)
	sig = append(sig, sigR...)
	sig = append(sig, s.Bytes()...)
	sig[SignatureSize-1] |= pubA[31] & signBitMask
	return sig
}

// challenge returns h = hash(R || A || M) (mod q) of §3, where hash is
// SHA-512 (§5) and R and A are point encodings (§2.4).
func challenge(sigR, pubA, message []byte) *edwards25519.Scalar {
	var digest [sha512.Size]byte
	hash := sha512.New()
	hash.Write(sigR)
	hash.Write(pubA)
	hash.Write(message)
	h, err := edwards25519.NewScalar().SetUniformBytes(hash.Sum(digest[:0]))
	if err != nil {
		panic("xeddsa: SHA-512 digest is not 64 bytes")
	}
	return h
}

// isX25519 reports whether priv is a usable X25519 private key.
func isX25519(priv *ecdh.PrivateKey) bool {
	return priv != nil && priv.Curve() == ecdh.X25519() && len(priv.Bytes()) == 32
}
