package senderkey

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/internal/wire"
)

// testStates returns a sender state and receiver states that exercise every
// field: several chains, skipped keys, and the zero receiver.
func testStates(t testing.TB) (sender []byte, receivers [][]byte) {
	t.Helper()
	s, r := newGroup(t, 40)
	msgs := encryptN(t, s, 4)
	mustDecrypt(t, r, msgs[3], plaintextN(3)) // skips 0, 1, 2
	mustDecrypt(t, r, msgs[1], plaintextN(1))
	one := r.Marshal()
	if err := s.Rotate(testRand(41)); err != nil {
		t.Fatal(err)
	}
	if err := r.Process(s.Distribution()); err != nil {
		t.Fatal(err)
	}
	mustDecrypt(t, r, encryptN(t, s, 2)[1], plaintextN(1))
	return s.Marshal(), [][]byte{new(Receiver).Marshal(), one, r.Marshal()}
}

func TestStateRoundTrip(t *testing.T) {
	sender, receivers := testStates(t)

	s, err := UnmarshalSender(sender)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Marshal(); !bytes.Equal(got, sender) {
		t.Fatalf("sender state changed in a round trip:\n%x\n%x", got, sender)
	}
	for n := range len(sender) {
		if _, err := UnmarshalSender(sender[:n]); !errors.Is(err, ErrInvalidState) {
			t.Fatalf("sender state prefix of %d bytes: %v", n, err)
		}
	}
	// The restored sender continues the chain where the original was.
	orig, _ := UnmarshalSender(sender)
	a, _ := orig.Encrypt([]byte("same"), testRand(1))
	b, _ := s.Encrypt([]byte("same"), testRand(1))
	if !bytes.Equal(a, b) {
		t.Fatal("restored sender encrypts differently")
	}

	for i, st := range receivers {
		r, err := UnmarshalReceiver(st)
		if err != nil {
			t.Fatalf("receiver %d: %v", i, err)
		}
		if got := r.Marshal(); !bytes.Equal(got, st) {
			t.Fatalf("receiver %d state changed in a round trip", i)
		}
		for n := range len(st) {
			if _, err := UnmarshalReceiver(st[:n]); !errors.Is(err, ErrInvalidState) {
				t.Fatalf("receiver %d state prefix of %d bytes: %v", i, n, err)
			}
		}
	}
}

func TestStateRejects(t *testing.T) {
	_, receivers := testStates(t)
	// Each mutation breaks one invariant of an otherwise valid state.
	cases := map[string]func(r *Receiver){
		"repeated chain ID": func(r *Receiver) { r.chains[1].id = r.chains[0].id },
		"skipped key at the chain's iteration": func(r *Receiver) {
			c := r.chains[1]
			c.skipped[len(c.skipped)-1].iteration = c.iteration
		},
		"skipped keys out of order": func(r *Receiver) {
			c := r.chains[1]
			c.skipped[0].iteration, c.skipped[1].iteration = c.skipped[1].iteration, c.skipped[0].iteration
		},
		"too many chains": func(r *Receiver) {
			for len(r.chains) <= MaxChains {
				c := *r.chains[0]
				c.id++
				r.chains = append([]*receiverChain{&c}, r.chains...)
			}
		},
		"too many skipped keys": func(r *Receiver) {
			c := r.chains[0]
			c.iteration = MaxSkippedKeys + 1
			c.skipped = make([]skippedKey, MaxSkippedKeys+1)
			for i := range c.skipped {
				c.skipped[i].iteration = uint32(i)
			}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := UnmarshalReceiver(receivers[2])
			if err != nil {
				t.Fatal(err)
			}
			mutate(c)
			if _, err := UnmarshalReceiver(c.Marshal()); !errors.Is(err, ErrInvalidState) {
				t.Fatalf("accepted: %v", err)
			}
		})
	}

	version := func(v uint64) []byte {
		e := wire.Encoder{}
		e.Uint(protowire.Number(1), v)
		return e.B
	}
	for _, b := range [][]byte{nil, version(0), version(2)} {
		if _, err := UnmarshalSender(b); !errors.Is(err, ErrInvalidState) {
			t.Errorf("sender %x: %v", b, err)
		}
		if _, err := UnmarshalReceiver(b); !errors.Is(err, ErrInvalidState) {
			t.Errorf("receiver %x: %v", b, err)
		}
	}
}
