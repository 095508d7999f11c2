package pqxdh_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/parley-chat/parley/internal/kat"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/wire"
)

// FuzzBundle feeds arbitrary bytes to the bundle decoder and verifier: no
// panic, canonical re-encoding, every strict prefix rejected, and any
// failure is one of the package's errors.
func FuzzBundle(f *testing.F) {
	r := protocoltest.Rand(1)
	for _, withOPK := range []bool{true, false} {
		p, err := protocoltest.NewParty(r, withOPK)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p.Bundle())
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
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := wire.ParsePreKeyBundle(b)
		if err == nil {
			if !bytes.Equal(w.Marshal(), b) {
				t.Fatal("re-encoding differs from the input")
			}
			for n := range len(b) {
				if _, err := wire.ParsePreKeyBundle(b[:n]); err == nil {
					t.Fatalf("strict prefix of %d bytes accepted", n)
				}
			}
		}
		if _, err := pqxdh.ParseBundle(b); err != nil &&
			!errors.Is(err, pqxdh.ErrInvalidBundle) && !errors.Is(err, pqxdh.ErrBadSignature) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
