package xeddsa

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
)

// TestVerifySpecSignatures checks that a signature made exactly as XEdDSA §3
// says (scalar negated so that A has sign bit 0, r = hash_1(a || M || Z))
// verifies.
func TestVerifySpecSignatures(t *testing.T) {
	negated := false
	for i := range 32 {
		priv := deterministicKey(t, i)
		msg := []byte(fmt.Sprintf("spec signature %d", i))
		sig, neg := specSign(t, priv, msg, &[64]byte{0: byte(i), 63: 1})
		negated = negated || neg
		if sig[SignatureSize-1]>>7 != 0 {
			t.Fatalf("key %d: spec signature has the sign bit set", i)
		}
		if !Verify(priv.PublicKey(), msg, sig) {
			t.Errorf("key %d (negated: %v): Verify(spec signature) = false", i, neg)
		}
	}
	if !negated {
		t.Error("no key needed negation; the test proves nothing")
	}
}

// specSign is xeddsa_sign of §3 with calculate_key_pair of §2.3, written
// with edwards25519 for this test. It reports whether it negated the key.
func specSign(t *testing.T, priv *ecdh.PrivateKey, msg []byte, z *[64]byte) ([]byte, bool) {
	t.Helper()
	k, err := edwards25519.NewScalar().SetBytesWithClamping(priv.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	pubE := new(edwards25519.Point).ScalarBaseMult(k)
	a, pubA, negated := k, pubE, pubE.Bytes()[31]>>7 == 1
	if negated {
		a = edwards25519.NewScalar().Negate(k)
		pubA = new(edwards25519.Point).Negate(pubE)
	}
	r := hashScalar(t, []byte(hash1Prefix), a.Bytes(), msg, z[:])
	sigR := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
	h := hashScalar(t, sigR, pubA.Bytes(), msg)
	s := edwards25519.NewScalar().MultiplyAdd(h, a, r)
	return append(sigR, s.Bytes()...), negated
}

func TestVerifyRejectsBadPublicKeys(t *testing.T) {
	priv := newPrivateKey(t)
	msg := []byte("public key checks")
	sig, err := Sign(priv, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	topBit := priv.PublicKey().Bytes()
	topBit[31] |= 0x80
	p256, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// u = 2 is on the quadratic twist: u^3 + 486662u^2 + u is not a square mod p.
	twist := big.NewInt(2)
	rhs := new(big.Int).Add(twist, big.NewInt(486662)) // ((u + A)u + 1)u
	rhs.Mul(rhs, twist).Add(rhs, big.NewInt(1)).Mul(rhs, twist).Mod(rhs, p)
	if big.Jacobi(rhs, p) != -1 {
		t.Fatal("u = 2 is not on the twist")
	}

	tests := []struct {
		name string
		pub  *ecdh.PublicKey
	}{
		{"expect: invalid, u = p", newPublicKey(t, littleEndian(p))},
		{"expect: invalid, u = p-1", newPublicKey(t, littleEndian(new(big.Int).Sub(p, big.NewInt(1))))},
		{"expect: invalid, u = p+1", newPublicKey(t, littleEndian(new(big.Int).Add(p, big.NewInt(1))))},
		{"expect: invalid, u with top bit set", newPublicKey(t, topBit)},
		{"expect: invalid, u = 2^256-1", newPublicKey(t, bytes.Repeat([]byte{0xff}, 32))},
		{"expect: invalid, u = 0 (order 2)", newPublicKey(t, make([]byte, 32))},
		{"expect: invalid, u = 1 (order 4)", newPublicKey(t, littleEndian(big.NewInt(1)))},
		{"expect: invalid, u = 2 (on the twist)", newPublicKey(t, littleEndian(twist))},
		{"expect: invalid, nil key", nil},
		{"expect: invalid, zero ecdh.PublicKey", &ecdh.PublicKey{}},
		{"expect: invalid, P-256 key", p256.PublicKey()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range [][]byte{sig, flipSignBit(sig), make([]byte, SignatureSize)} {
				if Verify(tt.pub, msg, s) {
					t.Errorf("Verify(%x) = true", s)
				}
			}
		})
	}
}

// TestVerifyRejectsSmallOrderForgery builds, without any private key, a
// signature that satisfies §3's equation for the order-2 key u = 0, and
// checks that Verify rejects it.
func TestVerifyRejectsSmallOrderForgery(t *testing.T) {
	pub := newPublicKey(t, make([]byte, 32))
	identity := edwards25519.NewIdentityPoint()
	// u = 0 maps to y = (0 - 1)/(0 + 1) = -1, the point (0, -1) of order 2.
	pubA, err := new(edwards25519.Point).SetBytes(littleEndian(new(big.Int).Sub(
		new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(20))))
	if err != nil {
		t.Fatal(err)
	}
	sig := append(identity.Bytes(), make([]byte, 32)...) // R = I, s = 0
	for i := range 64 {
		msg := []byte{byte(i)}
		h := hashScalar(t, sig[:32], pubA.Bytes(), msg)
		check := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(h,
			new(edwards25519.Point).Negate(pubA), edwards25519.NewScalar())
		if check.Equal(identity) != 1 {
			continue // h is odd: Rcheck = A, not R
		}
		if Verify(pub, msg, sig) {
			t.Fatal("Verify accepted a forgery for the small-order key u = 0")
		}
		return
	}
	t.Fatal("found no message with an even h")
}
