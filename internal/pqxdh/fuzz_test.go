package pqxdh_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/wire"
)

// parseBundle is wire.ParsePreKeyBundle for the prefix checks.
func parseBundle(b []byte) error {
	_, err := wire.ParsePreKeyBundle(b)
	return err
}

// FuzzBundle feeds arbitrary bytes to the bundle decoder and verifier: no
// panic, canonical re-encoding, strict prefixes rejected (every prefix of
// every seed; in the fuzz function those fuzztest.PrefixLengths picks,
// since all of a 1.8 KB bundle's prefixes cost 1,800 parses per input),
// and any failure is one of the package's errors. The parties are made
// once, before fuzzing.
func FuzzBundle(f *testing.F) {
	r := protocoltest.Rand(1)
	var seeds [][]byte
	for _, withOPK := range []bool{true, false} {
		p, err := protocoltest.NewParty(r, withOPK)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, p.Bundle())
	}
	secs, err := kat.Load("../../spec/vectors/parley-pqxdh.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range secs {
		b, err := s.Hex("bundle")
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, b := range seeds {
		fuzztest.RefusesEveryPrefix(f, b, parseBundle)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := wire.ParsePreKeyBundle(b)
		if err == nil {
			if !bytes.Equal(w.Marshal(), b) {
				t.Fatal("re-encoding differs from the input")
			}
			fuzztest.RefusesPrefixes(t, b, parseBundle)
		}
		if _, err := pqxdh.ParseBundle(b); err != nil &&
			!errors.Is(err, pqxdh.ErrInvalidBundle) && !errors.Is(err, pqxdh.ErrBadSignature) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func TestMain(m *testing.M) { fuzztest.Main(m) }
