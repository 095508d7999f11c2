package senderkey

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// testNow is the clock of tests that do not test expiry.
var testNow = time.Unix(1_700_000_000, 0)

// testRand returns a deterministic random source.
func testRand(seed byte) io.Reader {
	return rand.NewChaCha8([32]byte{seed})
}

func testDistributionID(b byte) [DistributionIDSize]byte {
	var id [DistributionIDSize]byte
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

// newGroup returns a sender and a receiver that processed its distribution.
func newGroup(t testing.TB, seed byte) (*Sender, *Receiver) {
	t.Helper()
	s, err := NewSender(testDistributionID(seed), testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReceiver(s.Distribution())
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

func encrypt(t testing.TB, s *Sender, plaintext string) []byte {
	t.Helper()
	msg, err := s.Encrypt([]byte(plaintext), testRand(0xee))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// encryptN encrypts n messages "message i".
func encryptN(t testing.TB, s *Sender, n int) [][]byte {
	t.Helper()
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = encrypt(t, s, plaintextN(i))
	}
	return msgs
}

func plaintextN(i int) string {
	return "message " + string(rune('a'+i%26)) + string(rune('0'+i%10))
}

func mustDecrypt(t testing.TB, r *Receiver, msg []byte, want string) {
	t.Helper()
	mustDecryptAt(t, r, msg, testNow, want)
}

func mustDecryptAt(t testing.TB, r *Receiver, msg []byte, now time.Time, want string) {
	t.Helper()
	got, err := r.DecryptAt(msg, now)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if string(got) != want {
		t.Fatalf("decrypt = %q, want %q", got, want)
	}
}

// mustFail checks that decrypting msg at now fails with want and leaves
// the receiver's serialised state unchanged.
func mustFail(t testing.TB, r *Receiver, msg []byte, now time.Time, want error) {
	t.Helper()
	before := r.Marshal()
	pt, err := r.DecryptAt(msg, now)
	if !errors.Is(err, want) {
		t.Fatalf("decrypt error = %v, want %v", err, want)
	}
	if pt != nil {
		t.Fatal("failed decrypt returned a plaintext")
	}
	if after := r.Marshal(); !bytes.Equal(before, after) {
		t.Fatal("failed decrypt changed the receiver state")
	}
}

// skipIterations steps the sender's chain n times without sending.
func skipIterations(s *Sender, n int) {
	for range n {
		_, s.chainKey = s.chainKey.step()
		s.iteration++
	}
}

// clone returns a copy of r through its serialised state.
func clone(t testing.TB, r *Receiver) *Receiver {
	t.Helper()
	c, err := UnmarshalReceiver(r.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func flipBit(b []byte, bit int) []byte {
	c := bytes.Clone(b)
	c[bit/8] ^= 1 << (bit % 8)
	return c
}
