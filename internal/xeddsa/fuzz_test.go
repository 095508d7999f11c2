package xeddsa

import (
	"bytes"
	"crypto/ecdh"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
)

// FuzzVerify checks that Verify never panics, never modifies its input, and
// that a valid signature is valid only for its exact bytes: any other
// signature bit, any prefix, a trailing byte, another message or another
// public key is rejected. It is seeded with Signal's vectors.
func FuzzVerify(f *testing.F) {
	v := loadVectors(f)
	pub := v.bytesValue(f, sectionVerify, "public_key")
	msg := v.bytesValue(f, sectionVerify, "message")
	sig := v.bytesValue(f, sectionVerify, "signature")
	f.Add(pub, msg, sig, uint16(0))
	f.Add(pub, msg, sig, uint16(511))
	f.Add(pub, msg, sig[:63], uint16(7))
	f.Add(pub[:31], msg, sig, uint16(1))

	priv, err := ecdh.X25519().NewPrivateKey(v.bytesValue(f, sectionSign, "private_key"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(priv.PublicKey().Bytes(), v.bytesValue(f, sectionSign, "message"),
		v.bytesValue(f, sectionSign, "signature"), uint16(255))

	f.Fuzz(func(t *testing.T, pub, msg, sig []byte, flip uint16) {
		key, err := ecdh.X25519().NewPublicKey(pub)
		if err != nil {
			if Verify(nil, msg, sig) {
				t.Fatal("Verify(nil key) = true")
			}
			return
		}
		msgCopy, sigCopy := bytes.Clone(msg), bytes.Clone(sig)
		valid := Verify(key, msg, sig)
		if !bytes.Equal(msg, msgCopy) || !bytes.Equal(sig, sigCopy) {
			t.Fatal("Verify modified its input")
		}
		if !valid {
			return
		}

		bit := int(flip) % (SignatureSize * 8)
		if Verify(key, msg, flipBit(sig, bit)) {
			t.Fatalf("valid after flipping signature bit %d", bit)
		}
		for n := range len(sig) {
			if Verify(key, msg, sig[:n]) {
				t.Fatalf("valid when truncated to %d bytes", n)
			}
		}
		if Verify(key, msg, append(bytes.Clone(sig), byte(flip))) {
			t.Fatal("valid with a trailing byte")
		}
		if Verify(key, append(bytes.Clone(msg), byte(flip)), sig) {
			t.Fatal("valid for a longer message")
		}
		if len(msg) > 0 && Verify(key, flipBit(msg, int(flip)%(len(msg)*8)), sig) {
			t.Fatal("valid for a message with a bit flipped")
		}
		other, err := ecdh.X25519().NewPublicKey(flipBit(pub, int(flip)%256))
		if err != nil {
			t.Fatal(err)
		}
		if Verify(other, msg, sig) {
			t.Fatalf("valid for a public key with bit %d flipped", int(flip)%256)
		}
	})
}

// flipBit returns a copy of b with bit i flipped.
func flipBit(b []byte, i int) []byte {
	flipped := bytes.Clone(b)
	flipped[i/8] ^= 1 << (i % 8)
	return flipped
}

func TestMain(m *testing.M) { fuzztest.Main(m) }
