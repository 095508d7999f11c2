package session_test

import (
	"bytes"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/session"
	"github.com/parley-chat/parley/internal/wire"
)

// parsePreKeyMessage is wire.ParsePreKeyMessage for the prefix checks.
func parsePreKeyMessage(b []byte) error {
	_, err := wire.ParsePreKeyMessage(b)
	return err
}

// FuzzPreKeyMessage feeds arbitrary bytes to the prekey message decoder
// and to a responder: no panic, canonical re-encoding, strict prefixes
// rejected (every prefix of every seed; in the fuzz function those
// fuzztest.PrefixLengths picks), and nothing consumed from the prekey
// store unless the message decrypts. The parties and the first messages
// are made once, before fuzzing; each input gets a fresh copy of Bob's
// store.
func FuzzPreKeyMessage(f *testing.F) {
	r := protocoltest.Rand(5)
	alice, err := protocoltest.NewParty(r, false)
	if err != nil {
		f.Fatal(err)
	}
	bob, err := protocoltest.NewParty(r, true)
	if err != nil {
		f.Fatal(err)
	}
	s, err := session.Initiate(alice.Identity, nil, bob.Bundle(), r)
	if err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	for _, text := range []string{"", "hello"} {
		m, err := s.Encrypt([]byte(text))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, m)
	}
	secs, err := kat.Load("../../spec/vectors/parley-pqxdh.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, sec := range secs {
		if m, err := sec.Hex("prekey_message"); err == nil {
			seeds = append(seeds, m)
		}
	}
	for _, m := range seeds {
		fuzztest.RefusesEveryPrefix(f, m, parsePreKeyMessage)
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := wire.ParsePreKeyMessage(b); err == nil {
			if !bytes.Equal(m.Marshal(), b) {
				t.Fatal("re-encoding differs from the input")
			}
			fuzztest.RefusesPrefixes(t, b, parsePreKeyMessage)
		}
		store := protocoltest.NewMemStore()
		for id, k := range bob.Store.Signed {
			store.Signed[id] = k
		}
		for id, k := range bob.Store.KEM {
			store.KEM[id] = k
		}
		for id, k := range bob.Store.OneTime {
			store.OneTime[id] = k
		}
		if _, err := session.Respond(bob.Identity, store, nil, nil, b, nil); err != nil {
			if len(store.OneTime) != len(bob.Store.OneTime) || len(store.KEM) != len(bob.Store.KEM) {
				t.Fatal("a failed prekey message consumed a prekey")
			}
		}
	})
}

func TestMain(m *testing.M) { fuzztest.Main(m) }
