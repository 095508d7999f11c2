package server_test

import (
	"context"
	"testing"

	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/wire"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/httpapi"
)

// TestOneTimePreKeyShare: one account fetching another's bundles over and
// over takes at most its share of the one-time prekeys; past it, it still
// gets bundles that verify (signed and last-resort prekeys), and another
// requester still gets one-time prekeys (spec/api.md §6.3).
func TestOneTimePreKeyShare(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	bob := register(t, srv, "bob", 50)
	mallory := register(t, srv, "mallory", 0)
	alice := register(t, srv, "alice", 0)

	fetch := func(u *user) wire.PreKeyBundle {
		t.Helper()
		bs, err := u.c.Bundles(ctx, "bob", 0)
		if err != nil || len(bs.Bundles) != 1 {
			t.Fatalf("%s fetches bob: %+v %v", u.name, bs, err)
		}
		if _, err := pqxdh.ParseBundle(bs.Bundles[0]); err != nil {
			t.Fatalf("%s got a bundle that does not verify: %v", u.name, err)
		}
		b, err := wire.ParsePreKeyBundle(bs.Bundles[0])
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const lastResort = 1 // parleytest.PreKeys gives the last-resort KEM prekey the first ID
	taken := 0
	for i := range 270 {
		b := fetch(mallory)
		if b.HasOneTimePreKey {
			taken++
		}
		if i >= httpapi.OneTimeBurst && (b.HasOneTimePreKey || b.KEMPreKeyID != lastResort) {
			t.Fatalf("fetch %d past the share: one-time key %v, KEM key %d; want none and the last-resort key", i, b.HasOneTimePreKey, b.KEMPreKeyID)
		}
	}
	if taken != httpapi.OneTimeBurst {
		t.Fatalf("270 fetches took %d one-time prekeys, want %d", taken, httpapi.OneTimeBurst)
	}
	c, err := bob.c.KeyCounts(ctx)
	if err != nil || c.OneTime != 50-httpapi.OneTimeBurst || c.KEMOneTime != 50-httpapi.OneTimeBurst {
		t.Fatalf("bob's counts after the flood: %+v %v; want %d of each", c, err, 50-httpapi.OneTimeBurst)
	}
	if b := fetch(alice); !b.HasOneTimePreKey || b.KEMPreKeyID == lastResort {
		t.Fatalf("another requester: one-time key %v, KEM key %d; want one-time keys", b.HasOneTimePreKey, b.KEMPreKeyID)
	}
}
