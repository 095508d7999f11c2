package xeddsa

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"filippo.io/edwards25519"
)

func TestSignalVerifyVector(t *testing.T) {
	v := loadVectors(t)
	if expect := v.value(t, sectionVerify, "expect"); !strings.HasPrefix(expect, "valid") {
		t.Fatalf("[%s] expect = %q, want a valid vector", sectionVerify, expect)
	}
	pub := newPublicKey(t, v.bytesValue(t, sectionVerify, "public_key"))
	msg := v.bytesValue(t, sectionVerify, "message")
	sig := v.bytesValue(t, sectionVerify, "signature")

	tests := []struct {
		name string
		sig  []byte
		want bool
	}{{name: "expect: valid", sig: sig, want: true}}
	for bit := range SignatureSize * 8 {
		flipped := bytes.Clone(sig)
		flipped[bit/8] ^= 1 << (bit % 8)
		tests = append(tests, struct {
			name string
			sig  []byte
			want bool
		}{fmt.Sprintf("expect: invalid, bit %d flipped", bit), flipped, false})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(pub, msg, tt.sig); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSignalSignVector(t *testing.T) {
	v := loadVectors(t)
	priv, err := ecdh.X25519().NewPrivateKey(v.bytesValue(t, sectionSign, "private_key"))
	if err != nil {
		t.Fatal(err)
	}
	msg := v.bytesValue(t, sectionSign, "message")
	want := v.bytesValue(t, sectionSign, "signature")
	var random [64]byte
	if n := copy(random[:], v.bytesValue(t, sectionSign, "random")); n != len(random) {
		t.Fatalf("random is %d bytes, want %d", n, len(random))
	}

	got := SignWithRandom(priv, msg, &random)
	if !bytes.Equal(got, want) {
		t.Errorf("SignWithRandom =\n%x\nwant\n%x", got, want)
	}
	if !Verify(priv.PublicKey(), msg, got) {
		t.Error("Verify(SignWithRandom) = false")
	}
}

func TestRoundTrip(t *testing.T) {
	priv, other := newPrivateKey(t), newPrivateKey(t)
	msg := []byte("parley xeddsa round trip")
	sig, err := Sign(priv, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != SignatureSize {
		t.Fatalf("len(sig) = %d, want %d", len(sig), SignatureSize)
	}

	type test struct {
		name string
		pub  *ecdh.PublicKey
		msg  []byte
		sig  []byte
		want bool
	}
	tests := []test{
		{"expect: valid", priv.PublicKey(), msg, sig, true},
		{"expect: invalid, wrong message", priv.PublicKey(), []byte("parley xeddsa round trip."), sig, false},
		{"expect: invalid, empty message", priv.PublicKey(), nil, sig, false},
		{"expect: invalid, wrong key", other.PublicKey(), msg, sig, false},
		{"expect: invalid, trailing byte", priv.PublicKey(), msg, append(bytes.Clone(sig), 0), false},
	}
	for n := range SignatureSize {
		tests = append(tests, test{fmt.Sprintf("expect: invalid, truncated to %d", n), priv.PublicKey(), msg, sig[:n], false})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verify(tt.pub, tt.msg, tt.sig); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRoundTripMessages(t *testing.T) {
	priv := newPrivateKey(t)
	for _, size := range []int{0, 1, 32, 64, 200, 4096} {
		t.Run(fmt.Sprintf("expect: valid, %d-byte message", size), func(t *testing.T) {
			msg := make([]byte, size)
			rand.Read(msg)
			sig, err := Sign(priv, msg, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if !Verify(priv.PublicKey(), msg, sig) {
				t.Error("Verify = false")
			}
		})
	}
}

// TestSignBit checks libsignal's encoding: the Edwards key A = aB matches the
// X25519 public key, and its sign bit is the top bit of signature byte 63.
// Over 32 keys both sign bits must occur.
func TestSignBit(t *testing.T) {
	var seen [2]bool
	for i := range 32 {
		priv := deterministicKey(t, i)
		a, err := edwards25519.NewScalar().SetBytesWithClamping(priv.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		pubA := new(edwards25519.Point).ScalarBaseMult(a)
		if !bytes.Equal(pubA.BytesMontgomery(), priv.PublicKey().Bytes()) {
			t.Fatalf("key %d: Edwards A does not map to the X25519 public key", i)
		}
		sig := SignWithRandom(priv, []byte("sign bit"), &[64]byte{byte(i)})
		bit := sig[SignatureSize-1] >> 7
		if want := pubA.Bytes()[31] >> 7; bit != want {
			t.Errorf("key %d: signature sign bit = %d, want %d", i, bit, want)
		}
		seen[bit] = true
	}
	if !seen[0] || !seen[1] {
		t.Errorf("sign bits seen = %v, want both", seen)
	}
}

func TestSignErrors(t *testing.T) {
	readErr := errors.New("entropy source broke")
	p256, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		priv *ecdh.PrivateKey
		rand io.Reader
		want error
	}{
		{"nil key", nil, rand.Reader, errKeyType},
		{"zero ecdh.PrivateKey", &ecdh.PrivateKey{}, rand.Reader, errKeyType},
		{"P-256 key", p256, rand.Reader, errKeyType},
		{"failing rand", newPrivateKey(t), iotest.ErrReader(readErr), readErr},
		{"short rand", newPrivateKey(t), bytes.NewReader(make([]byte, 63)), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := Sign(tt.priv, []byte("m"), tt.rand)
			if !errors.Is(err, tt.want) || sig != nil {
				t.Errorf("Sign = %x, %v; want nil, %v", sig, err, tt.want)
			}
		})
	}
}

func TestSignWithRandomPanicsOnBadKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("SignWithRandom(nil key) did not panic")
		}
	}()
	SignWithRandom(nil, nil, new([64]byte))
}

// TestHash1Prefix checks the constant against §2.5: the 32-byte little-endian
// encoding of 2^256 - 1 - 1.
func TestHash1Prefix(t *testing.T) {
	n := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(2))
	if got := []byte(hash1Prefix); !bytes.Equal(got, littleEndian(n)) {
		t.Errorf("hash1Prefix = %x", got)
	}
}

func BenchmarkSign(b *testing.B) {
	priv, msg := newPrivateKey(b), make([]byte, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(priv, msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	priv, msg := newPrivateKey(b), make([]byte, 256)
	sig, err := Sign(priv, msg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !Verify(priv.PublicKey(), msg, sig) {
			b.Fatal("Verify = false")
		}
	}
}

func newPrivateKey(tb testing.TB) *ecdh.PrivateKey {
	tb.Helper()
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

// deterministicKey derives test key i, so that coverage of both sign bits
// does not depend on luck.
func deterministicKey(tb testing.TB, i int) *ecdh.PrivateKey {
	tb.Helper()
	seed := sha256.Sum256([]byte(fmt.Sprintf("xeddsa test key %d", i)))
	priv, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		tb.Fatal(err)
	}
	return priv
}

func newPublicKey(tb testing.TB, u []byte) *ecdh.PublicKey {
	tb.Helper()
	pub, err := ecdh.X25519().NewPublicKey(u)
	if err != nil {
		tb.Fatal(err)
	}
	return pub
}

// hashScalar is SHA-512 over parts, reduced mod q.
func hashScalar(tb testing.TB, parts ...[]byte) *edwards25519.Scalar {
	tb.Helper()
	hash := sha512.New()
	for _, part := range parts {
		hash.Write(part)
	}
	s, err := edwards25519.NewScalar().SetUniformBytes(hash.Sum(nil))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// littleEndian encodes n in 32 little-endian bytes.
func littleEndian(n *big.Int) []byte {
	b := n.FillBytes(make([]byte, 32))
	slices.Reverse(b)
	return b
}

func flipSignBit(sig []byte) []byte {
	flipped := bytes.Clone(sig)
	flipped[SignatureSize-1] ^= 0x80
	return flipped
}
