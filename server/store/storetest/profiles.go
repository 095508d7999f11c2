package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/parley-chat/parley/server/store"
)

// testProfiles: a profile is stored, read back (also after a reopen) and
// replaced only by a higher version; version 0 and an unknown account are
// refused; another account's profile is its own.
func testProfiles(t *testing.T, s store.Store, reopen func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "pia")
	b, _ := newAccount(t, s, "pat")
	if _, err := s.Profile(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Profile with none stored = %v, want ErrNotFound", err)
	}
	if err := s.PutProfile(ctx, a.ID, store.Profile{Version: 0, Ciphertext: []byte("zero")}); !errors.Is(err, store.ErrStaleVersion) {
		t.Fatalf("PutProfile version 0 = %v, want ErrStaleVersion", err)
	}
	t0 := now()
	if err := s.PutProfile(ctx, a.ID, store.Profile{Version: 3, Ciphertext: []byte("three"), Updated: t0}); err != nil {
		t.Fatal(err)
	}
	check := func(s store.Store, id int64, version uint64, want string) {
		t.Helper()
		p, err := s.Profile(ctx, id)
		if err != nil || p.Version != version || !bytes.Equal(p.Ciphertext, []byte(want)) {
			t.Fatalf("Profile = %d %q, %v; want %d %q", p.Version, p.Ciphertext, err, version, want)
		}
	}
	check(s, a.ID, 3, "three")
	for _, v := range []uint64{1, 3} {
		if err := s.PutProfile(ctx, a.ID, store.Profile{Version: v, Ciphertext: []byte("old")}); !errors.Is(err, store.ErrStaleVersion) {
			t.Fatalf("PutProfile version %d over 3 = %v, want ErrStaleVersion", v, err)
		}
	}
	check(s, a.ID, 3, "three")
	if p, _ := s.Profile(ctx, a.ID); !p.Updated.Equal(t0) {
		t.Fatalf("Updated = %v, want %v", p.Updated, t0)
	}
	if err := s.PutProfile(ctx, a.ID, store.Profile{Version: 1 << 53, Ciphertext: []byte("big")}); err != nil {
		t.Fatalf("PutProfile version 2^53: %v", err)
	}
	if _, err := s.Profile(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another account's Profile = %v, want ErrNotFound", err)
	}
	if err := s.PutProfile(ctx, b.ID, store.Profile{Version: 1}); err != nil {
		t.Fatalf("another account's first profile: %v", err)
	}
	s = reopen()
	check(s, a.ID, 1<<53, "big")
	if p, err := s.Profile(ctx, b.ID); err != nil || p.Ciphertext == nil || len(p.Ciphertext) != 0 {
		t.Fatalf("an empty ciphertext = %v, %v; want a non-nil empty slice", p.Ciphertext, err)
	}
	if err := s.PutProfile(ctx, 1<<40, store.Profile{Version: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutProfile for an unknown account = %v, want ErrNotFound", err)
	}
	if _, err := s.Profile(ctx, 1<<40); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Profile of an unknown account = %v, want ErrNotFound", err)
	}

	// A recovery keeps the profile: its version still bounds the next.
	h := recoveryHash("pru")
	r, _ := newRecoverable(t, s, "pru", h)
	if err := s.PutProfile(ctx, r.ID, store.Profile{Version: 5, Ciphertext: []byte("five")}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.RecoverAccount(ctx, store.Recovery{Username: "pru", RecoveryHash: *h, IdentityKey: randBytes(t, 33),
		Device: store.Device{Name: "new", CredentialHash: credential("pru", 2), Created: now()}, PreKeys: preKeys(t, 1, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	check(s, r.ID, 5, "five")
}

// testProfileRace: devices of one account that put the same next version
// at once: exactly one wins, the others get ErrStaleVersion.
func testProfileRace(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "rae")
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.PutProfile(ctx, a.ID, store.Profile{Version: 1, Ciphertext: []byte{byte(i)}})
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, store.ErrStaleVersion):
				t.Errorf("PutProfile: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d puts of version 1 won, want 1", wins, n)
	}
}
