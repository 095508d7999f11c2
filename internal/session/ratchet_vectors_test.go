package session_test

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/ratchet"
	"github.com/parley-chat/parley/internal/wire"
)

// ratchetCase builds the messages of one ratchet vector. It gets Alice and
// Bob after the handshake; Bob's state before build runs is the receiver
// state of the vector, and Bob must only decrypt (never encrypt to a
// message that is recorded) so that a fresh Bob replays the same steps.
type ratchetCase struct {
	name   string
	seed   uint64
	expect string
	build  func(alice, bob *ratchet.Session) (msgs, texts [][]byte, order []int, err error)
}

func sendN(s *ratchet.Session, prefix string, n int) (msgs, texts [][]byte, err error) {
	for i := range n {
		text := []byte(fmt.Sprintf("%s %d", prefix, i))
		m, err := s.Encrypt(text)
		if err != nil {
			return nil, nil, err
		}
		msgs, texts = append(msgs, m), append(texts, text)
	}
	return msgs, texts, nil
}

var ratchetCases = []ratchetCase{
	{"ratchet-in-order", 201, "ok", func(a, _ *ratchet.Session) ([][]byte, [][]byte, []int, error) {
		m, t, err := sendN(a, "in order", 3)
		return m, t, []int{0, 1, 2}, err
	}},
	{"ratchet-out-of-order-across-chains", 202, "ok", func(a, b *ratchet.Session) ([][]byte, [][]byte, []int, error) {
		m1, t1, err := sendN(a, "chain one", 3)
		if err != nil {
			return nil, nil, nil, err
		}
		// Bob reads the last of chain one and replies; Alice reads the
		// reply and starts chain two.
		if _, err := b.DecryptAt(m1[2], vectorTime); err != nil {
			return nil, nil, nil, err
		}
		reply, err := b.Encrypt([]byte("reply"))
		if err != nil {
			return nil, nil, nil, err
		}
		if _, err := a.DecryptAt(reply, vectorTime); err != nil {
			return nil, nil, nil, err
		}
		m2, t2, err := sendN(a, "chain two", 2)
		return append(m1, m2...), append(t1, t2...), []int{2, 4, 0, 3, 1}, err
	}},
	{"ratchet-bad-mac", 203, "bad mac", func(a, _ *ratchet.Session) ([][]byte, [][]byte, []int, error) {
		m, t, err := sendN(a, "forged", 1)
		if err == nil {
			m[0][len(m[0])-1] ^= 0x01
		}
		return m, t, []int{0}, err
	}},
	{"ratchet-header-changed", 204, "bad mac", func(a, _ *ratchet.Session) ([][]byte, [][]byte, []int, error) {
		m, t, err := sendN(a, "header", 1)
		if err != nil {
			return nil, nil, nil, err
		}
		w, err := wire.ParseRatchetMessage(m[0])
		if err != nil {
			return nil, nil, nil, err
		}
		w.Counter++ // the MAC covers the header
		return [][]byte{w.Marshal()}, t, []int{0}, nil
	}},
	{"ratchet-replay", 205, "replay", func(a, _ *ratchet.Session) ([][]byte, [][]byte, []int, error) {
		m, t, err := sendN(a, "replayed", 1)
		return m, t, []int{0, 0}, err
	}},
	{"ratchet-truncated", 206, "truncated", func(a, _ *ratchet.Session) ([][]byte, [][]byte, []int, error) {
		m, t, err := sendN(a, "truncated", 1)
		if err == nil {
			m[0] = m[0][:len(m[0])-1]
		}
		return m, t, []int{0}, err
	}},
	{"ratchet-too-far-ahead", 207, "too far ahead", func(a, _ *ratchet.Session) ([][]byte, [][]byte, []int, error) {
		m, t, err := sendN(a, "far", ratchet.MaxSkip+2)
		if err != nil {
			return nil, nil, nil, err
		}
		last := len(m) - 1 // needs MaxSkip+1 skipped keys
		return m[last:], t[last:], []int{0}, nil
	}},
}

func genRatchetVectors() ([]*kat.Section, error) {
	var secs []*kat.Section
	for _, c := range ratchetCases {
		r := protocoltest.Rand(c.seed)
		a, err := protocoltest.NewParty(r, true)
		if err != nil {
			return nil, err
		}
		b, err := protocoltest.NewParty(r, true)
		if err != nil {
			return nil, err
		}
		alice, bob, err := protocoltest.PairWith(r, a, b, kat.Encapsulator(r))
		if err != nil {
			return nil, err
		}
		s := &kat.Section{Name: c.name}
		s.Set("seed", strconv.FormatUint(c.seed, 10))
		s.Set("expect", c.expect)
		s.SetHex("receiver_state", bob.Marshal())
		s.Set("receiver_rand_seed", strconv.FormatUint(c.seed+1000, 10))
		bob.SetRand(protocoltest.Rand(c.seed + 1000))
		msgs, texts, order, err := c.build(alice, bob)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		for i := range msgs {
			s.SetHex(fmt.Sprintf("message.%d", i), msgs[i])
			s.SetHex(fmt.Sprintf("plaintext.%d", i), texts[i])
		}
		var o []string
		for _, i := range order {
			o = append(o, strconv.Itoa(i))
		}
		s.Set("order", strings.Join(o, " "))
		secs = append(secs, s)
	}
	return secs, nil
}

func checkRatchetVector(t *testing.T, s *kat.Section) {
	expect, _ := s.Get("expect")
	bob, err := ratchet.Unmarshal(s.MustHex(t, "receiver_state"))
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := s.Get("receiver_rand_seed")
	seed, err := strconv.ParseUint(rs, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	bob.SetRand(protocoltest.Rand(seed))
	orderS, _ := s.Get("order")
	order := strings.Fields(orderS)
	for step, is := range order {
		i, _ := strconv.Atoi(is)
		msg := s.MustHex(t, fmt.Sprintf("message.%d", i))
		want := s.MustHex(t, fmt.Sprintf("plaintext.%d", i))
		fail := expect != "ok" && !(expect == "replay" && step == 0)
		before := bob.Marshal()
		pt, err := bob.DecryptAt(msg, vectorTime)
		switch {
		case fail && !errors.Is(err, ratchet.ErrDecrypt):
			t.Fatalf("delivery %d (message %d): got (%q, %v), want ErrDecrypt (%s)", step, i, pt, err, expect)
		case fail && !bytes.Equal(before, bob.Marshal()):
			t.Fatalf("delivery %d: the failed decryption changed the state", step)
		case !fail && err != nil:
			t.Fatalf("delivery %d (message %d): %v", step, i, err)
		case !fail && !bytes.Equal(pt, want):
			t.Fatalf("delivery %d: plaintext %q, want %q", step, pt, want)
		}
	}
}
