package senderkey

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

func TestRoundTrip(t *testing.T) {
	s, r := newGroup(t, 1)
	if r.DistributionID() != s.DistributionID() {
		t.Fatal("receiver and sender disagree on the distribution ID")
	}
	for _, n := range []int{0, 1, 15, 16, 17, 1000, MaxPlaintext} {
		pt := strings.Repeat("x", n)
		mustDecrypt(t, r, encrypt(t, s, pt), pt)
	}
}

func TestOutOfOrder(t *testing.T) {
	s, r := newGroup(t, 2)
	msgs := encryptN(t, s, 50)
	// A fixed permutation of 0..49 (7 is coprime with 50).
	for k := range msgs {
		i := (k * 7) % len(msgs)
		mustDecrypt(t, r, msgs[i], plaintextN(i))
	}
	for _, m := range msgs {
		mustFail(t, r, m, testNow, ErrDecrypt)
	}
	if n := len(r.chains[0].skipped); n != 0 {
		t.Errorf("%d skipped keys left after every message arrived", n)
	}
}

func TestForwardJump(t *testing.T) {
	s, r := newGroup(t, 3)
	skipIterations(s, MaxForwardJump)
	atBound := encrypt(t, s, "at the bound")
	s2, r2 := newGroup(t, 3)
	skipIterations(s2, MaxForwardJump+1)
	beyond := encrypt(t, s2, "beyond the bound")

	mustFail(t, r2, beyond, testNow, ErrDecrypt)
	mustDecrypt(t, r, atBound, "at the bound")
	if n := len(r.chains[0].skipped); n != MaxSkippedKeys {
		t.Fatalf("%d skipped keys stored, want %d", n, MaxSkippedKeys)
	}
}

func TestSkippedKeyEviction(t *testing.T) {
	s, r := newGroup(t, 4)
	early := encryptN(t, s, 2) // iterations 0 and 1
	skipIterations(s, MaxForwardJump-2)
	m2000 := encrypt(t, s, "2000")
	skipIterations(s, 1)
	m2002 := encrypt(t, s, "2002")

	mustDecrypt(t, r, m2000, "2000") // stores 0..1999
	mustDecrypt(t, r, m2002, "2002") // stores 2001 and evicts 0
	if n := len(r.chains[0].skipped); n != MaxSkippedKeys {
		t.Fatalf("%d skipped keys stored, want %d", n, MaxSkippedKeys)
	}
	mustFail(t, r, early[0], testNow, ErrDecrypt)
	mustDecrypt(t, r, early[1], plaintextN(1))
}

func TestReplay(t *testing.T) {
	s, r := newGroup(t, 5)
	msg := encrypt(t, s, "once")
	mustDecrypt(t, r, msg, "once")
	mustFail(t, r, msg, testNow, ErrDecrypt)
}

// TestFlippedBits flips every bit of a message. A flip inside the
// distribution ID names a group the receiver has no key for; every other
// flip must fail as ErrDecrypt.
func TestFlippedBits(t *testing.T) {
	s, r := newGroup(t, 6)
	msg := encrypt(t, s, "do not touch")
	id := s.DistributionID()
	const idStart = 4 // version, type, tag, length
	if !bytes.Equal(msg[idStart:idStart+DistributionIDSize], id[:]) {
		t.Fatal("distribution ID is not where the test expects it")
	}
	for bit := range len(msg) * 8 {
		want := ErrDecrypt
		if i := bit / 8; i >= idStart && i < idStart+DistributionIDSize {
			want = ErrNoSenderKey
		}
		mustFail(t, r, flipBit(msg, bit), testNow, want)
	}
	mustDecrypt(t, r, msg, "do not touch")
}

func TestTruncated(t *testing.T) {
	s, r := newGroup(t, 7)
	msg := encrypt(t, s, "whole")
	for n := range len(msg) {
		mustFail(t, r, msg[:n], testNow, ErrDecrypt)
	}
	mustFail(t, r, append(bytes.Clone(msg), 0), testNow, ErrDecrypt)
	mustDecrypt(t, r, msg, "whole")
}

// TestForgedByMember has a member, who knows the chain key, encrypt a
// correct ciphertext and sign it with a key of its own.
func TestForgedByMember(t *testing.T) {
	s, r := newGroup(t, 8)
	forger, err := UnmarshalSender(s.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if forger.signing, err = keys.GeneratePrivateKey(testRand(99)); err != nil {
		t.Fatal(err)
	}
	forged := encrypt(t, forger, "I am the sender")
	mustFail(t, r, forged, testNow, ErrDecrypt)
	mustDecrypt(t, r, encrypt(t, s, "real"), "real")
}

func TestUnknownChain(t *testing.T) {
	s, r := newGroup(t, 9)
	if err := s.Rotate(testRand(10)); err != nil {
		t.Fatal(err)
	}
	mustFail(t, r, encrypt(t, s, "new chain"), testNow, ErrDecrypt)
}

func TestNoSenderKey(t *testing.T) {
	s, _ := newGroup(t, 11)
	msg := encrypt(t, s, "hello")
	mustFail(t, new(Receiver), msg, testNow, ErrNoSenderKey)
	if _, err := (*Receiver)(nil).Decrypt(msg); !errors.Is(err, ErrNoSenderKey) {
		t.Errorf("nil receiver: %v, want ErrNoSenderKey", err)
	}
	_, other := newGroup(t, 12)
	mustFail(t, other, msg, testNow, ErrNoSenderKey)
	// Garbage is not a message from anyone: no key request.
	mustFail(t, new(Receiver), []byte("garbage"), testNow, ErrDecrypt)
}

func TestLateJoiner(t *testing.T) {
	s, _ := newGroup(t, 13)
	before := encryptN(t, s, 3)
	late, err := NewReceiver(s.Distribution()) // at iteration 3
	if err != nil {
		t.Fatal(err)
	}
	after := encrypt(t, s, "welcome")
	for _, m := range before {
		mustFail(t, late, m, testNow, ErrDecrypt)
	}
	mustDecrypt(t, late, after, "welcome")
}

func TestForwardSecrecy(t *testing.T) {
	s, r := newGroup(t, 14)
	msgs := encryptN(t, s, 3)
	mustDecrypt(t, r, msgs[2], plaintextN(2)) // stores keys 0 and 1
	mustDecrypt(t, r, msgs[0], plaintextN(0)) // uses stored key 0
	c := clone(t, r)
	mustFail(t, c, msgs[2], testNow, ErrDecrypt)
	mustFail(t, c, msgs[0], testNow, ErrDecrypt)
	mustDecrypt(t, c, msgs[1], plaintextN(1))
}

func TestRotation(t *testing.T) {
	s, r := newGroup(t, 15)
	first := encryptN(t, s, 2)
	mustDecrypt(t, r, first[1], plaintextN(1))

	var late [][]byte // one undelivered message per chain
	late = append(late, first[0])
	for i := range MaxChains {
		if err := s.Rotate(testRand(byte(20 + i))); err != nil {
			t.Fatal(err)
		}
		if err := r.Process(s.Distribution()); err != nil {
			t.Fatal(err)
		}
		msgs := encryptN(t, s, 2)
		mustDecrypt(t, r, msgs[1], plaintextN(1))
		late = append(late, msgs[0])
	}
	if len(r.chains) != MaxChains {
		t.Fatalf("receiver keeps %d chains, want %d", len(r.chains), MaxChains)
	}
	// The first chain was evicted; the others still decrypt late messages.
	mustFail(t, r, late[0], testNow, ErrDecrypt)
	for _, m := range late[1:] {
		mustDecrypt(t, r, m, plaintextN(0))
	}
}

func TestProcessAgain(t *testing.T) {
	s, r := newGroup(t, 16)
	dist := s.Distribution()
	msgs := encryptN(t, s, 2)
	mustDecrypt(t, r, msgs[1], plaintextN(1))
	// The same distribution again must not rewind the chain: no replay.
	if err := r.Process(dist); err != nil {
		t.Fatal(err)
	}
	mustFail(t, r, msgs[1], testNow, ErrDecrypt)
	mustDecrypt(t, r, msgs[0], plaintextN(0))

	// The same chain ID with a new signing key replaces the chain.
	other, err := keys.GeneratePrivateKey(testRand(17))
	if err != nil {
		t.Fatal(err)
	}
	s.signing = other
	if err := r.Process(s.Distribution()); err != nil {
		t.Fatal(err)
	}
	if len(r.chains) != 1 || r.chains[0].signing != other.Public() {
		t.Fatal("chain with a new signing key was not replaced")
	}
	mustDecrypt(t, r, encrypt(t, s, "new key"), "new key")
}

func TestProcessErrors(t *testing.T) {
	s, r := newGroup(t, 18)
	dist := s.Distribution()
	bad := [][]byte{nil, dist[:len(dist)-1], append(bytes.Clone(dist), 0)}
	m, err := wire.ParseSenderKeyDistributionMessage(dist)
	if err != nil {
		t.Fatal(err)
	}
	m.SigningKey = append([]byte{0x06}, m.SigningKey[1:]...)
	bad = append(bad, m.Marshal())
	other, _ := newGroup(t, 19)
	bad = append(bad, other.Distribution())
	for _, d := range bad {
		before := r.Marshal()
		if err := r.Process(d); !errors.Is(err, ErrInvalidDistribution) {
			t.Errorf("Process: %v, want ErrInvalidDistribution", err)
		}
		if !bytes.Equal(before, r.Marshal()) {
			t.Error("failed Process changed the state")
		}
	}
	if _, err := NewReceiver(bad[0]); !errors.Is(err, ErrInvalidDistribution) {
		t.Errorf("NewReceiver: %v, want ErrInvalidDistribution", err)
	}
}

func TestEncryptErrors(t *testing.T) {
	s, _ := newGroup(t, 21)
	before := s.Marshal()
	if _, err := s.Encrypt(make([]byte, MaxPlaintext+1), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if _, err := s.Encrypt([]byte("x"), bytes.NewReader(nil)); err == nil {
		t.Error("Encrypt with a failing random source succeeded")
	}
	if err := s.Rotate(bytes.NewReader(make([]byte, 40))); err == nil {
		t.Error("Rotate with a short random source succeeded")
	}
	if !bytes.Equal(before, s.Marshal()) {
		t.Error("failed Encrypt or Rotate changed the state")
	}
	s.iteration = math.MaxUint32
	if _, err := s.Encrypt([]byte("x"), nil); !errors.Is(err, ErrChainExhausted) {
		t.Errorf("exhausted chain: %v", err)
	}
	if _, err := new(Sender).Encrypt([]byte("x"), nil); err == nil {
		t.Error("zero Sender encrypted")
	}
}

func TestSkippedKeyExpiry(t *testing.T) {
	s, r := newGroup(t, 22)
	msgs := encryptN(t, s, 4)
	t0 := testNow
	mustDecryptAt(t, r, msgs[2], t0, plaintextN(2)) // stores keys 0 and 1 at t0
	mustDecryptAt(t, r, msgs[0], t0.Add(SkippedKeyTTL-1e9), plaintextN(0))
	mustFail(t, r, msgs[1], t0.Add(SkippedKeyTTL), ErrDecrypt)
	// A successful decrypt deletes the expired key.
	mustDecryptAt(t, r, msgs[3], t0.Add(SkippedKeyTTL), plaintextN(3))
	if n := len(r.chains[0].skipped); n != 0 {
		t.Errorf("%d skipped keys left after expiry", n)
	}
}

func TestPrune(t *testing.T) {
	s, r := newGroup(t, 23)
	msgs := encryptN(t, s, 3)
	mustDecryptAt(t, r, msgs[2], testNow, plaintextN(2))
	r.Prune(testNow.Add(SkippedKeyTTL - 1e9))
	if n := len(r.chains[0].skipped); n != 2 {
		t.Fatalf("Prune before the TTL left %d keys, want 2", n)
	}
	r.Prune(testNow.Add(SkippedKeyTTL))
	if n := len(r.chains[0].skipped); n != 0 {
		t.Fatalf("Prune after the TTL left %d keys, want 0", n)
	}
}

func TestPadding(t *testing.T) {
	key, iv := make([]byte, 32), make([]byte, 16)
	for _, pad := range []byte{0, 17, 255} {
		block := bytes.Repeat([]byte{pad}, 16)
		// Encrypting 16 bytes of data yields two blocks; keep the first,
		// which decrypts to block with an invalid pad byte.
		ct := encryptCBC(key, iv, block)[:16]
		if _, err := decryptCBC(key, iv, ct); err == nil {
			t.Errorf("pad byte %d accepted", pad)
		}
	}
	bad := append(bytes.Repeat([]byte{'a'}, 13), 1, 2, 3) // pad 3, but 1 2 3
	if _, err := decryptCBC(key, iv, encryptCBC(key, iv, bad)[:16]); err == nil {
		t.Error("inconsistent padding accepted")
	}
	if _, err := decryptCBC(key, iv, make([]byte, 15)); err == nil {
		t.Error("partial block accepted")
	}
}

// TestSignedBadPadding has the real sender sign a ciphertext whose padding
// is wrong: the signature verifies, decryption fails, the state stays.
func TestSignedBadPadding(t *testing.T) {
	s, r := newGroup(t, 24)
	id := s.DistributionID()
	m := wire.SenderKeyMessage{
		DistributionID: id[:],
		ChainID:        s.chainID,
		Iteration:      s.iteration,
		Ciphertext:     make([]byte, 32), // decrypts to garbage
	}
	signed := m.AppendSigned(nil)
	sig, err := s.signing.Sign(signed, testRand(25))
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, r, append(signed, sig...), testNow, ErrDecrypt)
}

func TestRotateNeedsNewChainID(t *testing.T) {
	zeros := func() io.Reader { return bytes.NewReader(make([]byte, 1<<12)) }
	s, err := NewSender(testDistributionID(26), zeros())
	if err != nil {
		t.Fatal(err)
	}
	before := s.Marshal()
	if err := s.Rotate(zeros()); err == nil {
		t.Fatal("Rotate kept the chain ID")
	}
	if !bytes.Equal(before, s.Marshal()) {
		t.Fatal("failed Rotate changed the state")
	}
}
