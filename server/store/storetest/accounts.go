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

func testAccountCreateLookup(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	want := store.Account{Username: "alice", IdentityKey: randBytes(t, 33), Created: now()}
	wantDev := store.Device{Name: "laptop", CredentialHash: credential("alice", 1), Created: now()}
	a, d, err := s.CreateAccount(ctx, want, wantDev, nil)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if a.ID == 0 || a.Username != want.Username || !bytes.Equal(a.IdentityKey, want.IdentityKey) || !a.Created.Equal(want.Created) {
		t.Fatalf("CreateAccount returned %+v, want %+v with an ID", a, want)
	}
	wantDev.AccountID, wantDev.ID = a.ID, 1
	if !sameDevice(d, wantDev) {
		t.Fatalf("CreateAccount returned device %+v, want %+v as device 1 of account %d", d, wantDev, a.ID)
	}

	got, err := s.AccountByName(ctx, "alice")
	if err != nil || got.ID != a.ID || got.Username != "alice" || !bytes.Equal(got.IdentityKey, want.IdentityKey) || !got.Created.Equal(want.Created) {
		t.Fatalf("AccountByName = %+v, %v; want %+v", got, err, a)
	}
	ga, gd, err := s.DeviceByName(ctx, "alice", 1)
	if err != nil || ga.ID != a.ID || !sameDevice(gd, d) {
		t.Fatalf("DeviceByName = %+v, %+v, %v; want %+v, %+v", ga, gd, err, a, d)
	}

	if _, err := s.AccountByName(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AccountByName(unknown) = %v, want ErrNotFound", err)
	}
	if _, _, err := s.DeviceByName(ctx, "alice", 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeviceByName(unknown device) = %v, want ErrNotFound", err)
	}
	if _, _, err := s.DeviceByName(ctx, "bob", 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeviceByName(unknown account) = %v, want ErrNotFound", err)
	}
	ds, err := s.Devices(ctx, a.ID)
	if err != nil || len(ds) != 1 || ds[0].ID != 1 || ds[0].Name != "laptop" {
		t.Errorf("Devices = %+v, %v; want the first device", ds, err)
	}

	b, _ := newAccount(t, s, "bob")
	if b.ID == a.ID {
		t.Errorf("two accounts with ID %d", a.ID)
	}
}

func testUsernameTaken(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "carol")
	_, _, err := s.CreateAccount(ctx,
		store.Account{Username: "carol", IdentityKey: randBytes(t, 33)},
		store.Device{Name: "other", CredentialHash: credential("carol", 9)}, nil)
	if !errors.Is(err, store.ErrUsernameTaken) {
		t.Fatalf("CreateAccount(taken) = %v, want ErrUsernameTaken", err)
	}
	got, err := s.AccountByName(ctx, "carol")
	if err != nil || !bytes.Equal(got.IdentityKey, a.IdentityKey) {
		t.Fatalf("the first account changed: %+v, %v", got, err)
	}
	_, d, err := s.DeviceByName(ctx, "carol", 1)
	if err != nil || d.Name != "carol phone" {
		t.Fatalf("the first device changed: %+v, %v", d, err)
	}
	newAccount(t, s, "carol2")
}

func testInvites(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	create := func(name string, invite [32]byte) error {
		_, _, err := s.CreateAccount(ctx,
			store.Account{Username: name, IdentityKey: randBytes(t, 33)},
			store.Device{Name: "phone", CredentialHash: credential(name, 1)}, &invite)
		return err
	}
	code := sha256.Sum256([]byte("invite one"))
	if err := create("dave", code); !errors.Is(err, store.ErrInviteRequired) {
		t.Fatalf("CreateAccount(unknown invite) = %v, want ErrInviteRequired", err)
	}
	if err := s.CreateInvite(ctx, code); err != nil {
		t.Fatalf("CreateInvite: %v", err)
	}
	if err := create("dave", code); err != nil {
		t.Fatalf("CreateAccount(invite) = %v", err)
	}
	if err := create("erin", code); !errors.Is(err, store.ErrInviteRequired) {
		t.Fatalf("CreateAccount(used invite) = %v, want ErrInviteRequired", err)
	}
	if _, err := s.AccountByName(ctx, "erin"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("account created with a used invite: %v", err)
	}

	// An invite is used up only with the account it creates.
	code2 := sha256.Sum256([]byte("invite two"))
	if err := s.CreateInvite(ctx, code2); err != nil {
		t.Fatal(err)
	}
	if err := create("dave", code2); !errors.Is(err, store.ErrUsernameTaken) {
		t.Fatalf("CreateAccount(taken name, invite) = %v, want ErrUsernameTaken", err)
	}
	if err := create("erin", code2); err != nil {
		t.Fatalf("invite used up by a failed CreateAccount: %v", err)
	}
	// No invite: the caller's policy, not the store's.
	newAccount(t, s, "frank")
}

func testDevices(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "gina")
	add := func(name string, max int) (store.Device, error) {
		return s.AddDevice(ctx, store.Device{AccountID: a.ID, Name: name, CredentialHash: credential(name, 0), Created: now()}, max)
	}
	for _, want := range []uint32{2, 3} {
		d, err := add("device", 3)
		if err != nil || d.ID != want || d.AccountID != a.ID {
			t.Fatalf("AddDevice = %+v, %v; want ID %d", d, err, want)
		}
	}
	if _, err := add("one too many", 3); !errors.Is(err, store.ErrTooManyDevices) {
		t.Fatalf("AddDevice past the limit = %v, want ErrTooManyDevices", err)
	}
	checkIDs := func(want ...uint32) {
		t.Helper()
		ds, err := s.Devices(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint32
		for _, d := range ds {
			got = append(got, d.ID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Devices = %v, want %v", got, want)
		}
	}
	checkIDs(1, 2, 3)

	if err := s.RemoveDevice(ctx, a.ID, 2); err != nil {
		t.Fatalf("RemoveDevice: %v", err)
	}
	checkIDs(1, 3)
	if _, _, err := s.DeviceByName(ctx, "gina", 2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeviceByName(removed) = %v, want ErrNotFound", err)
	}
	if err := s.RemoveDevice(ctx, a.ID, 2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RemoveDevice(removed) = %v, want ErrNotFound", err)
	}

	d, err := add("tablet", 3) // the lowest free ID
	if err != nil || d.ID != 2 {
		t.Fatalf("AddDevice after removal = %+v, %v; want ID 2", d, err)
	}
	_, got, err := s.DeviceByName(ctx, "gina", 2)
	if err != nil || got.Name != "tablet" || got.CredentialHash != credential("tablet", 0) || !got.Created.Equal(d.Created) {
		t.Fatalf("DeviceByName = %+v, %v; want %+v", got, err, d)
	}
	checkIDs(1, 2, 3)

	if _, err := s.AddDevice(ctx, store.Device{AccountID: a.ID + 1000, Name: "x"}, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddDevice(unknown account) = %v, want ErrNotFound", err)
	}
}

func testRemoveDeviceCascade(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d1 := newAccount(t, s, "hank")
	d2 := addDevice(t, s, a, "second")
	uploadKeys(t, s, d2, 5, 5)
	for i := range 3 {
		e := envelope(d1, a.Username, d2, i, now())
		if _, err := s.Enqueue(ctx, []store.Envelope{e}, 100); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveDevice(ctx, a.ID, d2.ID); err != nil {
		t.Fatal(err)
	}
	// A new device that gets the same ID starts with nothing.
	d := addDevice(t, s, a, "third")
	if d.ID != d2.ID {
		t.Fatalf("AddDevice = ID %d, want %d", d.ID, d2.ID)
	}
	if c, err := s.PreKeyCounts(ctx, a.ID, d.ID); err != nil || c != (store.PreKeyCounts{}) {
		t.Errorf("PreKeyCounts = %+v, %v; want none", c, err)
	}
	if _, err := s.TakeBundle(ctx, a.ID, d.ID); !errors.Is(err, store.ErrNoSignedPreKey) {
		t.Errorf("TakeBundle = %v, want ErrNoSignedPreKey", err)
	}
	checkPending(t, s, d, now())
	checkDepth(t, s, d, 0)
}

func testLinkTokens(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "iris")
	t0 := now()
	link := func(token string, max int, at time.Time) (store.Account, store.Device, error) {
		return s.AddDeviceWithToken(ctx, sha256.Sum256([]byte(token)),
			store.Device{Name: "linked " + token, CredentialHash: credential(token, 0), Created: t0}, max, at)
	}
	create := func(token string, expires time.Time) {
		t.Helper()
		if err := s.CreateLinkToken(ctx, a.ID, sha256.Sum256([]byte(token)), expires); err != nil {
			t.Fatalf("CreateLinkToken: %v", err)
		}
	}

	create("one", t0.Add(time.Hour))
	ga, d, err := link("one", 5, t0)
	if err != nil || ga.ID != a.ID || ga.Username != "iris" || d.AccountID != a.ID || d.ID != 2 || d.Name != "linked one" {
		t.Fatalf("AddDeviceWithToken = %+v, %+v, %v; want device 2 of %+v", ga, d, err, a)
	}
	if _, gd, err := s.DeviceByName(ctx, "iris", 2); err != nil || gd.CredentialHash != credential("one", 0) {
		t.Fatalf("DeviceByName(linked) = %+v, %v", gd, err)
	}
	if _, _, err := link("one", 5, t0); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("AddDeviceWithToken(used) = %v, want ErrTokenInvalid", err)
	}
	if _, _, err := link("never created", 5, t0); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("AddDeviceWithToken(unknown) = %v, want ErrTokenInvalid", err)
	}

	create("short", t0.Add(time.Minute))
	if _, _, err := link("short", 5, t0.Add(2*time.Minute)); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("AddDeviceWithToken(expired) = %v, want ErrTokenInvalid", err)
	}

	// The device limit: the token is not used up, and works once a
	// device is removed.
	create("full", t0.Add(time.Hour))
	if _, _, err := link("full", 2, t0); !errors.Is(err, store.ErrTooManyDevices) {
		t.Fatalf("AddDeviceWithToken(full) = %v, want ErrTooManyDevices", err)
	}
	if err := s.RemoveDevice(ctx, a.ID, 2); err != nil {
		t.Fatal(err)
	}
	if _, d, err := link("full", 2, t0); err != nil || d.ID != 2 {
		t.Fatalf("AddDeviceWithToken after removal = %+v, %v; want device 2", d, err)
	}

	// DeleteExpired removes expired tokens.
	create("purged", t0.Add(time.Minute))
	if _, err := s.DeleteExpired(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := link("purged", 5, t0); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("AddDeviceWithToken(purged) = %v, want ErrTokenInvalid", err)
	}
}
