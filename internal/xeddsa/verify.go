package xeddsa

import (
	"bytes"
	"crypto/ecdh"
	"crypto/subtle"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// Verify reports whether sig is a valid signature of message by the X25519
// public key pub. It never panics: a nil or non-X25519 key, or a signature of
// the wrong length, is simply invalid.
func Verify(pub *ecdh.PublicKey, message, sig []byte) bool {
	if pub == nil || pub.Curve() != ecdh.X25519() || len(sig) != SignatureSize {
		return false
	}

	// libsignal: the top bit of byte 63 is the sign bit of A (§2.4), not
	// part of s; take it out before reading s.
	var s [32]byte
	copy(s[:], sig[32:])
	signBit := s[31] >> 7
	s[31] &^= signBitMask

	// §3: if u >= p, return false; A = convert_mont(u), with the transmitted
	// sign bit in place of §2.3's 0; if not on_curve(A), return false.
	pubA, ok := edwardsPublicKey(pub.Bytes(), signBit)
	if !ok {
		return false
	}

	// §3 rejects s >= 2^|q| (§5); we reject every s >= q, as RFC 8032 does.
	// Honest signers always reduce s (§3: s = r + ha (mod q)).
	scalarS, err := edwards25519.NewScalar().SetCanonicalBytes(s[:])
	if err != nil {
		return false
	}

	// §3: h = hash(R || A || M) (mod q).
	h := challenge(sig[:32], pubA.Bytes(), message)

	// §3: Rcheck = sB - hA, without cofactor multiplication (§5).
	minusA := new(edwards25519.Point).Negate(pubA)
	check := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(h, minusA, scalarS)

	// §3: if bytes_equal(R, Rcheck), return true. Rcheck is encoded
	// canonically (§2.4), so a non-canonical R never matches.
	return subtle.ConstantTimeCompare(check.Bytes(), sig[:32]) == 1
}

// edwardsPublicKey turns the Montgomery u-coordinate of an X25519 public key
// into the Edwards point with the given sign bit. It reports false for u >= p
// (including u with bit 255 set), for u = p - 1, for a u that is on the twist
// rather than the curve, and for points of small order.
func edwardsPublicKey(u []byte, signBit byte) (*edwards25519.Point, bool) {
	// §3: if u >= p, return false. field.Element.SetBytes ignores bit 255 and
	// accepts values up to 2^255 - 1, so a u survives the round trip through
	// the field only if it is canonical. u is public: no need for constant time.
	fu, err := new(field.Element).SetBytes(u)
	if err != nil || !bytes.Equal(fu.Bytes(), u) {
		return nil, false
	}

	// §5 u_to_y: y = (u - 1) * inv(u + 1) (mod p). §2.1's inv maps 0 to 0,
	// which would turn u = p - 1 into y = 0, a point of order 4; libsignal
	// rejects that u, and so do we (it is also of small order, below).
	one := new(field.Element).One()
	den := new(field.Element).Add(fu, one)
	if den.Equal(new(field.Element).Zero()) == 1 {
		return nil, false
	}
	num := new(field.Element).Subtract(fu, one)
	y := new(field.Element).Multiply(num, den.Invert(den))

	// §2.4: a point is encoded as y with the sign of x in bit 255. §2.3's
	// convert_mont sets it to 0; libsignal transmits it in the signature.
	enc := y.Bytes()
	enc[31] |= signBit << 7

	// §3: if not on_curve(A), return false. SetBytes fails when no x exists
	// for y, that is when u is on the quadratic twist.
	pubA, err := new(edwards25519.Point).SetBytes(enc)
	if err != nil {
		return nil, false
	}

	// Not in §3 (§4 does it for VXEdDSA): reject cA == I. Anyone can forge
	// signatures for a small-order key, and for u = 0 (x = 0) both sign bits
	// would decode to the same point, making signatures malleable.
	if new(edwards25519.Point).MultByCofactor(pubA).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, false
	}
	return pubA, true
}
