package session_test

import (
	"testing"

	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/session"
)

// BenchmarkPQXDH measures session setup with a one-time prekey: the
// initiator verifies the bundle, runs PQXDH and encrypts the first 1 KiB
// message; the responder runs PQXDH and decrypts it.
func BenchmarkPQXDH(b *testing.B) {
	r := protocoltest.Rand(1)
	alice, err := protocoltest.NewParty(r, false)
	if err != nil {
		b.Fatal(err)
	}
	bob, err := protocoltest.NewParty(r, true)
	if err != nil {
		b.Fatal(err)
	}
	bundle := bob.Bundle()
	opk := bob.OPK
	pt := make([]byte, 1024)
	initiate := func(b *testing.B) []byte {
		s, err := session.Initiate(alice.Identity, nil, bundle, nil)
		if err != nil {
			b.Fatal(err)
		}
		m, err := s.Encrypt(pt)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	respond := func(b *testing.B, m []byte) {
		bob.Store.OneTime[opk.ID] = opk.Private // as if freshly uploaded
		if _, err := session.Respond(bob.Identity, bob.Store, nil, nil, m, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("initiator", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			initiate(b)
		}
	})
	b.Run("responder", func(b *testing.B) {
		m := initiate(b)
		b.ReportAllocs()
		for b.Loop() {
			respond(b, m)
		}
	})
	b.Run("both", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			respond(b, initiate(b))
		}
	})
}
