package ratchet_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/fuzztest"
	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/ratchet"
	"github.com/parley-chat/parley/internal/wire"
)

// fuzzFixture is a session pair and messages from it, built once.
var fuzzFixture = sync.OnceValues(func() (*ratchet.Session, [][]byte) {
	alice, bob := newPair(nilTB{}, 99)
	var msgs [][]byte
	for _, text := range []string{"", "a", "a longer message of some forty bytes...", string(make([]byte, 300))} {
		m, err := alice.Encrypt([]byte(text))
		if err != nil {
			panic(err)
		}
		msgs = append(msgs, m)
	}
	return bob, msgs
})

// vectorSeeds returns the hex values of keys starting with prefix in
// Parley's ratchet vectors, so the fuzz targets start from them.
func vectorSeeds(f *testing.F, prefix string) [][]byte {
	secs, err := kat.Load("../../spec/vectors/parley-ratchet.txt")
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, s := range secs {
		for _, k := range s.Keys {
			if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
				b, err := s.Hex(k)
				if err != nil {
					f.Fatal(err)
				}
				out = append(out, b)
			}
		}
	}
	if len(out) == 0 {
		f.Fatalf("no %s seeds in the vectors", prefix)
	}
	return out
}

// parseRatchetMessage is wire.ParseRatchetMessage for the prefix checks.
func parseRatchetMessage(b []byte) error {
	_, err := wire.ParseRatchetMessage(b)
	return err
}

// parseState is ratchet.Unmarshal for the prefix checks.
func parseState(b []byte) error {
	_, err := ratchet.Unmarshal(b)
	return err
}

// FuzzRatchetMessage feeds arbitrary bytes to the ratchet message decoder
// and to a live session: no panic, canonical re-encoding, strict prefixes
// rejected (every prefix of every seed; in the fuzz function those
// fuzztest.PrefixLengths picks), and the session unchanged by any failed
// decryption. The session is made once; each input decrypts with a fresh
// copy of its state.
func FuzzRatchetMessage(f *testing.F) {
	bob, msgs := fuzzFixture()
	for _, m := range append(msgs, vectorSeeds(f, "message.")...) {
		fuzztest.RefusesEveryPrefix(f, m, parseRatchetMessage)
		f.Add(m)
	}
	state := bob.Marshal()
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := wire.ParseRatchetMessage(b); err == nil {
			if !bytes.Equal(m.Marshal(), b) {
				t.Fatal("re-encoding differs from the input")
			}
			fuzztest.RefusesPrefixes(t, b, parseRatchetMessage)
		}
		s, err := ratchet.Unmarshal(state)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DecryptAt(b, time.Now()); err != nil {
			if !errors.Is(err, ratchet.ErrDecrypt) {
				t.Fatalf("error %v is not ErrDecrypt", err)
			}
			if !bytes.Equal(s.Marshal(), state) {
				t.Fatal("failed decryption changed the session")
			}
		}
	})
}

// FuzzSessionState feeds arbitrary bytes to the session-state decoder: no
// panic, canonical re-encoding, strict prefixes rejected (every prefix of
// every seed; in the fuzz function those fuzztest.PrefixLengths picks).
func FuzzSessionState(f *testing.F) {
	bob, msgs := fuzzFixture()
	seeds := [][]byte{bob.Marshal()}
	// A state with skipped keys and one with a pending prekey header.
	s, _ := ratchet.Unmarshal(bob.Marshal())
	if _, err := s.Decrypt(msgs[len(msgs)-1]); err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, s.Marshal())
	for _, st := range append(seeds, vectorSeeds(f, "receiver_state")...) {
		fuzztest.RefusesEveryPrefix(f, st, parseState)
		f.Add(st)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ratchet.Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ratchet.ErrBadState) {
				t.Fatalf("error %v is not ErrBadState", err)
			}
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("re-encoding differs from the input")
		}
		fuzztest.RefusesPrefixes(t, b, parseState)
	})
}

// nilTB lets the fixture reuse newPair outside a test; it panics on failure.
type nilTB struct{ testing.TB }

func (nilTB) Helper()                   {}
func (nilTB) Fatal(args ...any)         { panic(args) }
func (nilTB) Fatalf(f string, a ...any) { panic(f) }

func TestMain(m *testing.M) { fuzztest.Main(m) }
