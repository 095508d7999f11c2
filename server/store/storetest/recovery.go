package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// This file tests account recovery: the recovery hash an account is
// created with, and RecoverAccount.

func recoveryHash(key string) *[32]byte {
	h := sha256.Sum256([]byte("recovery key " + key))
	return &h
}

// newRecoverable creates an account with a recovery hash and a first
// device with prekeys.
func newRecoverable(t *testing.T, s store.Store, name string, hash *[32]byte) (store.Account, store.Device) {
	t.Helper()
	a, d, err := s.CreateAccount(t.Context(),
		store.Account{Username: name, IdentityKey: randBytes(t, 33), Created: now(), RecoveryHash: hash},
		store.Device{Name: name + " phone", CredentialHash: credential(name, 1), Created: now()},
		nil, preKeys(t, 1, 2, 2))
	if err != nil {
		t.Fatalf("CreateAccount(%q): %v", name, err)
	}
	return a, d
}

func sameHash(got, want *[32]byte) bool {
	return (got == nil) == (want == nil) && (got == nil || *got == *want)
}

// deviceIDs lists an account's device IDs.
func deviceIDs(t *testing.T, s store.Store, accountID int64) []uint32 {
	t.Helper()
	ds, err := s.Devices(t.Context(), accountID)
	if err != nil {
		t.Fatalf("Devices: %v", err)
	}
	var ids []uint32
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

// testRecoveryHashStored: an account keeps the recovery hash it was
// created with, or none, and every method that returns the account
// returns it, also after a reopen.
func testRecoveryHashStored(t *testing.T, s store.Store, reopen func() store.Store) {
	ctx := t.Context()
	h := recoveryHash("olga")
	a, _ := newRecoverable(t, s, "olga", h)
	if !sameHash(a.RecoveryHash, h) {
		t.Fatalf("CreateAccount returned recovery hash %x, want %x", a.RecoveryHash, h)
	}
	plain, _ := newAccount(t, s, "oscar")
	if plain.RecoveryHash != nil {
		t.Fatalf("CreateAccount without a recovery hash returned %x", plain.RecoveryHash)
	}
	tok := sha256.Sum256([]byte("olga token"))
	if err := s.CreateLinkToken(ctx, a.ID, tok, now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	for name, want := range map[string]*[32]byte{"olga": h, "oscar": nil} {
		got, err := s.AccountByName(ctx, name)
		if err != nil || !sameHash(got.RecoveryHash, want) {
			t.Errorf("AccountByName(%s) = recovery hash %x, %v; want %x", name, got.RecoveryHash, err, want)
		}
		got, _, err = s.DeviceByName(ctx, name, 1)
		if err != nil || !sameHash(got.RecoveryHash, want) {
			t.Errorf("DeviceByName(%s) = recovery hash %x, %v; want %x", name, got.RecoveryHash, err, want)
		}
	}
	if got, err := s.LinkTokenAccount(ctx, tok, now()); err != nil || !sameHash(got.RecoveryHash, h) {
		t.Errorf("LinkTokenAccount = recovery hash %x, %v; want %x", got.RecoveryHash, err, h)
	}
}

// testRecoverAccount: recovery replaces the identity key, removes every
// device with its prekeys and queue and the account's link tokens, and
// adds one device with an ID higher than any the account had, with its
// prekeys; envelopes the account sent to others stay queued.
func testRecoverAccount(t *testing.T, s store.Store, reopen func() store.Store) {
	ctx := t.Context()
	h1, h2 := recoveryHash("one"), recoveryHash("two")
	a, d1 := newRecoverable(t, s, "rita", h1)
	d2 := addDevice(t, s, a, "rita tablet")
	uploadKeys(t, s, d2, 3, 3)
	gone := addDevice(t, s, a, "rita old laptop") // ID 3, removed: the next is 4
	if err := s.RemoveDevice(ctx, a.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	b, bd := newAccount(t, s, "rob")
	t0 := now()
	toRita := []store.Envelope{envelope(bd, b.Username, d1, 1, t0), envelope(bd, b.Username, d2, 1, t0), envelope(bd, b.Username, d1, 2, t0)}
	enqueue(t, s, 100, nil, ptrs(toRita)...)
	fromRita := envelope(d1, a.Username, bd, 1, t0)
	enqueue(t, s, 100, nil, &fromRita)
	tok := sha256.Sum256([]byte("rita token"))
	if err := s.CreateLinkToken(ctx, a.ID, tok, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	newKey := randBytes(t, 33)
	keys := preKeys(t, 500, 2, 3)
	cred := credential("rita", 4)
	got, d, removed, err := s.RecoverAccount(ctx, store.Recovery{Username: "rita", RecoveryHash: *h1, IdentityKey: newKey,
		Device: store.Device{Name: "new phone", CredentialHash: cred, Created: t0}, PreKeys: keys})
	if err != nil {
		t.Fatalf("RecoverAccount: %v", err)
	}
	if got.ID != a.ID || got.Username != "rita" || !bytes.Equal(got.IdentityKey, newKey) || !sameHash(got.RecoveryHash, h1) || !got.Created.Equal(a.Created) {
		t.Fatalf("RecoverAccount returned account %+v; want %d with the new identity key and the same hash", got, a.ID)
	}
	if d.AccountID != a.ID || d.ID != 4 || d.Name != "new phone" || d.CredentialHash != cred || !d.Created.Equal(t0) {
		t.Fatalf("RecoverAccount returned device %+v; want device 4, above every ID the account had", d)
	}
	if !slices.Equal(removed, []uint32{1, 2}) {
		t.Fatalf("RecoverAccount removed %v, want [1 2]", removed)
	}

	// The account as every reader sees it now, also after a reopen.
	s = reopen()
	if acct, err := s.AccountByName(ctx, "rita"); err != nil || !bytes.Equal(acct.IdentityKey, newKey) || !sameHash(acct.RecoveryHash, h1) {
		t.Fatalf("AccountByName after recovery = %+v, %v", acct, err)
	}
	if ids := deviceIDs(t, s, a.ID); !slices.Equal(ids, []uint32{4}) {
		t.Fatalf("Devices after recovery = %v, want [4]", ids)
	}
	if _, gd, err := s.DeviceByName(ctx, "rita", 4); err != nil || !sameDevice(gd, d) {
		t.Fatalf("DeviceByName(new device) = %+v, %v; want %+v", gd, err, d)
	}
	for _, old := range []store.Device{d1, d2} {
		if _, _, err := s.DeviceByName(ctx, "rita", old.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeviceByName(removed %d) = %v, want ErrNotFound", old.ID, err)
		}
		if _, err := s.PreKeyCounts(ctx, a.ID, old.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PreKeyCounts(removed %d) = %v, want ErrNotFound", old.ID, err)
		}
		if _, err := s.QueueDepth(ctx, a.ID, old.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("QueueDepth(removed %d) = %v, want ErrNotFound", old.ID, err)
		}
		checkPending(t, s, old, t0)
	}
	checkKeys(t, s, a.ID, d.ID, keys)
	checkDepth(t, s, d, 0)
	checkPending(t, s, bd, t0, fromRita)
	checkTotal(t, s, 1)
	if _, err := s.LinkTokenAccount(ctx, tok, t0); !errors.Is(err, store.ErrTokenInvalid) {
		t.Errorf("LinkTokenAccount(token from before the recovery) = %v, want ErrTokenInvalid", err)
	}

	// Again, with a new hash: the old one stops working, the new one works.
	_, d, removed, err = s.RecoverAccount(ctx, store.Recovery{Username: "rita", RecoveryHash: *h1, IdentityKey: randBytes(t, 33),
		NewRecoveryHash: h2, Device: store.Device{Name: "newer phone"}, PreKeys: preKeys(t, 1, 0, 0)})
	if err != nil || d.ID != 5 || !slices.Equal(removed, []uint32{4}) {
		t.Fatalf("second RecoverAccount = device %d, removed %v, %v; want 5 and [4]", d.ID, removed, err)
	}
	if acct, err := s.AccountByName(ctx, "rita"); err != nil || !sameHash(acct.RecoveryHash, h2) {
		t.Fatalf("recovery hash after NewRecoveryHash = %x, %v; want %x", acct.RecoveryHash, err, h2)
	}
	if _, _, _, err := s.RecoverAccount(ctx, store.Recovery{Username: "rita", RecoveryHash: *h1, IdentityKey: randBytes(t, 33),
		Device: store.Device{Name: "x"}, PreKeys: preKeys(t, 1, 0, 0)}); !errors.Is(err, store.ErrRecoveryInvalid) {
		t.Fatalf("RecoverAccount(replaced hash) = %v, want ErrRecoveryInvalid", err)
	}
	if _, d, _, err = s.RecoverAccount(ctx, store.Recovery{Username: "rita", RecoveryHash: *h2, IdentityKey: randBytes(t, 33),
		Device: store.Device{Name: "x"}, PreKeys: preKeys(t, 1, 0, 0)}); err != nil || d.ID != 6 {
		t.Fatalf("RecoverAccount(new hash) = device %d, %v; want 6", d.ID, err)
	}
	// Devices added later go on counting.
	if nd := addDevice(t, s, a, "linked later"); nd.ID != 7 {
		t.Fatalf("AddDevice after recovery = ID %d, want 7", nd.ID)
	}
	// An account without devices (the last one removed) can be recovered.
	for _, id := range deviceIDs(t, s, a.ID) {
		if err := s.RemoveDevice(ctx, a.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, d, removed, err = s.RecoverAccount(ctx, store.Recovery{Username: "rita", RecoveryHash: *h2, IdentityKey: randBytes(t, 33),
		Device: store.Device{Name: "x"}, PreKeys: preKeys(t, 1, 0, 0)}); err != nil || d.ID != 8 || len(removed) != 0 {
		t.Fatalf("RecoverAccount(no devices) = device %d, removed %v, %v; want 8 and none", d.ID, removed, err)
	}
}

// testRecoverRefused: a wrong hash, an unknown account and an account
// without a recovery hash are all ErrRecoveryInvalid, and change nothing.
func testRecoverRefused(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	h := recoveryHash("sam")
	a, d1 := newRecoverable(t, s, "sam", h)
	d2 := addDevice(t, s, a, "sam tablet")
	e := envelope(d2, a.Username, d1, 1, now())
	enqueue(t, s, 100, nil, &e)
	plain, pd := newAccount(t, s, "sue")
	tok := sha256.Sum256([]byte("sam token"))
	if err := s.CreateLinkToken(ctx, a.ID, tok, now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	try := func(name string, hash [32]byte) error {
		_, _, _, err := s.RecoverAccount(ctx, store.Recovery{Username: name, RecoveryHash: hash, IdentityKey: randBytes(t, 33),
			NewRecoveryHash: recoveryHash("new"), Device: store.Device{Name: "thief"}, PreKeys: preKeys(t, 1, 1, 1)})
		return err
	}
	for name, err := range map[string]error{
		"wrong hash":             try("sam", *recoveryHash("guess")),
		"zero hash":              try("sam", [32]byte{}),
		"unknown account":        try("nobody", *h),
		"account without a hash": try("sue", [32]byte{}),
		"another account's hash": try("sue", *h),
		"name not normalised":    try("SAM", *h), // callers normalise
	} {
		if !errors.Is(err, store.ErrRecoveryInvalid) {
			t.Errorf("RecoverAccount(%s) = %v, want ErrRecoveryInvalid", name, err)
		}
	}

	got, err := s.AccountByName(ctx, "sam")
	if err != nil || !bytes.Equal(got.IdentityKey, a.IdentityKey) || !sameHash(got.RecoveryHash, h) {
		t.Fatalf("account after refused recoveries = %+v, %v; want it unchanged", got, err)
	}
	if ids := deviceIDs(t, s, a.ID); !slices.Equal(ids, []uint32{1, 2}) {
		t.Fatalf("Devices after refused recoveries = %v, want [1 2]", ids)
	}
	if c, err := s.PreKeyCounts(ctx, a.ID, d1.ID); err != nil || c != (store.PreKeyCounts{OneTime: 2, KEMOneTime: 2}) {
		t.Fatalf("PreKeyCounts after refused recoveries = %+v, %v; want the first device's keys", c, err)
	}
	checkPending(t, s, d1, now(), e)
	if _, err := s.LinkTokenAccount(ctx, tok, now()); err != nil {
		t.Fatalf("link token after refused recoveries: %v", err)
	}
	if got, err := s.AccountByName(ctx, "sue"); err != nil || got.RecoveryHash != nil || !bytes.Equal(got.IdentityKey, plain.IdentityKey) {
		t.Fatalf("account without a hash after refused recoveries = %+v, %v", got, err)
	}
	if ids := deviceIDs(t, s, plain.ID); !slices.Equal(ids, []uint32{pd.ID}) {
		t.Fatalf("Devices of the account without a hash = %v", ids)
	}
	// A refused recovery uses up no device ID.
	if nd := addDevice(t, s, a, "third"); nd.ID != 3 {
		t.Fatalf("AddDevice after refused recoveries = ID %d, want 3", nd.ID)
	}
}
