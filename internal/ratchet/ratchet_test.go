package ratchet_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/ratchet"
)

func newPair(t testing.TB, seed uint64) (alice, bob *ratchet.Session) {
	t.Helper()
	r := protocoltest.Rand(seed)
	a, err := protocoltest.NewParty(r, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := protocoltest.NewParty(r, true)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob, err = protocoltest.Pair(r, a, b)
	if err != nil {
		t.Fatal(err)
	}
	return alice, bob
}

func encrypt(t testing.TB, s *ratchet.Session, text string) []byte {
	t.Helper()
	m, err := s.Encrypt([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustDecrypt(t testing.TB, s *ratchet.Session, m []byte, want string) {
	t.Helper()
	pt, err := s.Decrypt(m)
	if err != nil {
		t.Fatalf("decrypt %q: %v", want, err)
	}
	if string(pt) != want {
		t.Fatalf("decrypted %q, want %q", pt, want)
	}
}

// mustFail checks that decrypting m fails with ErrDecrypt and leaves s
// byte-for-byte unchanged.
func mustFail(t testing.TB, s *ratchet.Session, m []byte, at time.Time, what string) {
	t.Helper()
	before := s.Marshal()
	pt, err := s.DecryptAt(m, at)
	if !errors.Is(err, ratchet.ErrDecrypt) {
		t.Fatalf("%s: got (%q, %v), want ErrDecrypt", what, pt, err)
	}
	if after := s.Marshal(); !bytes.Equal(before, after) {
		t.Fatalf("%s: session state changed by a failed decryption", what)
	}
}

func TestConversation(t *testing.T) {
	alice, bob := newPair(t, 1)
	for round := range 5 {
		for i := range round + 1 {
			mustDecrypt(t, bob, encrypt(t, alice, fmt.Sprintf("a%d.%d", round, i)), fmt.Sprintf("a%d.%d", round, i))
		}
		for i := range 2 {
			mustDecrypt(t, alice, encrypt(t, bob, fmt.Sprintf("b%d.%d", round, i)), fmt.Sprintf("b%d.%d", round, i))
		}
	}
	if alice.Pending() || bob.Pending() {
		t.Fatal("prekey header still pending after replies")
	}
}

func TestOutOfOrderAcrossRatchetSteps(t *testing.T) {
	alice, bob := newPair(t, 2)
	type msg struct {
		to   *ratchet.Session
		text string
		data []byte
	}
	var held []msg
	// Three chains from Alice, interleaved with Bob's replies, each chain's
	// messages held back and delivered at the end in a shuffled order.
	for chain := range 3 {
		for i := range 4 {
			text := fmt.Sprintf("alice %d/%d", chain, i)
			held = append(held, msg{bob, text, encrypt(t, alice, text)})
		}
		// Deliver one so Bob ratchets, then Bob replies so Alice ratchets.
		last := held[len(held)-1]
		held = held[:len(held)-1]
		mustDecrypt(t, bob, last.data, last.text)
		mustDecrypt(t, alice, encrypt(t, bob, "ack"), "ack")
	}
	rnd := rand.New(rand.NewPCG(7, 7))
	rnd.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
	for _, m := range held {
		mustDecrypt(t, m.to, m.data, m.text)
	}
	// Every held message decrypts once only.
	for _, m := range held {
		mustFail(t, m.to, m.data, time.Now(), "replay of "+m.text)
	}
}

func TestSkipBound(t *testing.T) {
	alice, bob := newPair(t, 3)
	msgs := make([][]byte, ratchet.MaxSkip+2)
	for i := range msgs {
		msgs[i] = encrypt(t, alice, fmt.Sprint(i))
	}
	// Message MaxSkip+1 would need MaxSkip+1 skipped keys: refused.
	mustFail(t, bob, msgs[ratchet.MaxSkip+1], time.Now(), "beyond the skip bound")
	// Message MaxSkip needs exactly MaxSkip: accepted, and then every
	// earlier one still decrypts from the skipped keys.
	mustDecrypt(t, bob, msgs[ratchet.MaxSkip], fmt.Sprint(ratchet.MaxSkip))
	mustDecrypt(t, bob, msgs[0], "0")
	mustDecrypt(t, bob, msgs[ratchet.MaxSkip-1], fmt.Sprint(ratchet.MaxSkip-1))
	mustDecrypt(t, bob, msgs[ratchet.MaxSkip+1], fmt.Sprint(ratchet.MaxSkip+1))
}

func TestSkippedKeysExpire(t *testing.T) {
	alice, bob := newPair(t, 4)
	early := encrypt(t, alice, "early")
	mustDecrypt(t, bob, encrypt(t, alice, "late"), "late")
	mustFail(t, bob, early, time.Now().Add(ratchet.SkippedKeyTTL+time.Minute), "expired skipped key")
	mustDecrypt(t, bob, early, "early") // not yet expired now

	// Prune drops expired keys from the stored state without a message.
	held := encrypt(t, alice, "held")
	mustDecrypt(t, bob, encrypt(t, alice, "after"), "after")
	before := len(bob.Marshal())
	bob.Prune(time.Now())
	if len(bob.Marshal()) != before {
		t.Fatal("Prune dropped a live key")
	}
	bob.Prune(time.Now().Add(ratchet.SkippedKeyTTL))
	if len(bob.Marshal()) >= before {
		t.Fatal("Prune kept an expired key")
	}
	mustFail(t, bob, held, time.Now(), "pruned key")
}

func TestFailuresLeaveStateUnchanged(t *testing.T) {
	alice, bob := newPair(t, 5)
	now := time.Now()
	// A message that starts a new chain (a DH ratchet step for Bob) and one
	// in the same chain: both code paths must commit nothing on failure.
	first := encrypt(t, alice, "first of a new chain")
	second := encrypt(t, alice, "second")
	for name, m := range map[string][]byte{"new chain": first, "same chain": second} {
		for i := range len(m) * 8 {
			forged := bytes.Clone(m)
			forged[i/8] ^= 1 << (i % 8)
			mustFail(t, bob, forged, now, fmt.Sprintf("%s: bit %d flipped", name, i))
		}
		for n := range len(m) {
			mustFail(t, bob, m[:n], now, fmt.Sprintf("%s: truncated to %d", name, n))
		}
		mustFail(t, bob, append(bytes.Clone(m), 0), now, name+": trailing byte")
	}
	mustDecrypt(t, bob, second, "second")
	mustDecrypt(t, bob, first, "first of a new chain")
	mustFail(t, bob, first, now, "replayed skipped message")
	mustFail(t, bob, second, now, "replayed message")
}

func TestForwardSecrecy(t *testing.T) {
	alice, bob := newPair(t, 6)
	m := encrypt(t, alice, "secret")
	mustDecrypt(t, bob, m, "secret")
	stolen, err := ratchet.Unmarshal(bob.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, stolen, m, time.Now(), "decrypting an already-read message with a later state")
}

func TestPostCompromiseRecovery(t *testing.T) {
	alice, bob := newPair(t, 7)
	stolen := alice.Marshal() // the attacker copies Alice's state at time t
	// The next round trip of DH ratchet steps.
	mustDecrypt(t, bob, encrypt(t, alice, "a1"), "a1")
	b1 := encrypt(t, bob, "b1")
	mustDecrypt(t, alice, b1, "b1")
	mustDecrypt(t, bob, encrypt(t, alice, "a2"), "a2")
	b2 := encrypt(t, bob, "b2 after recovery")
	attacker, err := ratchet.Unmarshal(stolen)
	if err != nil {
		t.Fatal(err)
	}
	// With the stolen state the attacker can still follow the chain Bob
	// built on Alice's compromised ratchet key...
	mustDecrypt(t, attacker, b1, "b1")
	// ...but not the one built on the key Alice made after the theft.
	mustFail(t, attacker, b2, time.Now(), "message after recovery")
	mustDecrypt(t, alice, b2, "b2 after recovery")
}

func TestStateRoundTrip(t *testing.T) {
	alice, bob := newPair(t, 8)
	held := encrypt(t, alice, "held")
	mustDecrypt(t, bob, encrypt(t, alice, "delivered"), "delivered")
	for _, s := range []*ratchet.Session{alice, bob} {
		b := s.Marshal()
		back, err := ratchet.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Marshal(), b) {
			t.Fatal("Marshal(Unmarshal(b)) != b")
		}
		for n := range len(b) {
			if _, err := ratchet.Unmarshal(b[:n]); !errors.Is(err, ratchet.ErrBadState) {
				t.Fatalf("prefix of %d bytes accepted (err %v)", n, err)
			}
		}
	}
	restored, err := ratchet.Unmarshal(bob.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, restored, held, "held")
	mustDecrypt(t, alice, encrypt(t, restored, "from restored"), "from restored")
}

func TestTooLarge(t *testing.T) {
	alice, _ := newPair(t, 9)
	if _, err := alice.Encrypt(make([]byte, ratchet.MaxPlaintext+1)); !errors.Is(err, ratchet.ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}
