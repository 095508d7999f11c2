package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

func testAccountCreateLookup(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	want := store.Account{Username: "alice", IdentityKey: randBytes(t, 33), Created: now()}
	wantDev := store.Device{Name: "laptop", CredentialHash: credential("alice", 1), Created: now()}
	a, d, err := s.CreateAccount(ctx, want, wantDev, nil, store.PreKeySet{})
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

func testCreateAccountPreKeys(t *testing.T, s store.Store, _ func() store.Store) {
	keys := preKeys(t, 1, 3, 2)
	a, d, err := s.CreateAccount(t.Context(),
		store.Account{Username: "kira", IdentityKey: randBytes(t, 33), Created: now()},
		store.Device{Name: "phone", CredentialHash: credential("kira", 1), Created: now()}, nil, keys)
	if err != nil || d.ID != 1 {
		t.Fatalf("CreateAccount(with prekeys) = %+v, %v; want device 1", d, err)
	}
	checkKeys(t, s, a.ID, d.ID, keys)

	// Parts of a set, as SetPreKeys takes them.
	spk := signedPreKey(t, 5)
	b, bd, err := s.CreateAccount(t.Context(),
		store.Account{Username: "kirk", IdentityKey: randBytes(t, 33), Created: now()},
		store.Device{Name: "phone", CredentialHash: credential("kirk", 1), Created: now()}, nil,
		store.PreKeySet{SignedPreKey: &spk})
	if err != nil {
		t.Fatalf("CreateAccount(signed prekey only): %v", err)
	}
	if _, err := s.TakeBundle(t.Context(), b.ID, bd.ID); !errors.Is(err, store.ErrNoKEMPreKey) {
		t.Fatalf("TakeBundle(signed prekey only) = %v, want ErrNoKEMPreKey", err)
	}
}

func testUsernameTaken(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	keys := preKeys(t, 1, 2, 2)
	a, _, err := s.CreateAccount(ctx,
		store.Account{Username: "carol", IdentityKey: randBytes(t, 33), Created: now()},
		store.Device{Name: "carol phone", CredentialHash: credential("carol", 1), Created: now()}, nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	// A failed CreateAccount stores none of its prekeys, on the account
	// that has the name or anywhere else.
	_, _, err = s.CreateAccount(ctx,
		store.Account{Username: "carol", IdentityKey: randBytes(t, 33)},
		store.Device{Name: "other", CredentialHash: credential("carol", 9)}, nil, preKeys(t, 1, 3, 3))
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
	if ds, err := s.Devices(ctx, a.ID); err != nil || len(ds) != 1 {
		t.Fatalf("Devices = %+v, %v; want the first device alone", ds, err)
	}
	checkKeys(t, s, a.ID, 1, keys)
	b, bd := newAccount(t, s, "carol2")
	checkNoKeys(t, s, b.ID, bd.ID)
}

func testInvites(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	create := func(name string, invite [32]byte) error {
		_, _, err := s.CreateAccount(ctx,
			store.Account{Username: name, IdentityKey: randBytes(t, 33)},
			store.Device{Name: "phone", CredentialHash: credential(name, 1)}, &invite, preKeys(t, 1, 1, 1))
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

	d, err := add("tablet", 3) // a new ID, not the removed one
	if err != nil || d.ID != 4 {
		t.Fatalf("AddDevice after removal = %+v, %v; want ID 4", d, err)
	}
	_, got, err := s.DeviceByName(ctx, "gina", 4)
	if err != nil || got.Name != "tablet" || got.CredentialHash != credential("tablet", 0) || !got.Created.Equal(d.Created) {
		t.Fatalf("DeviceByName = %+v, %v; want %+v", got, err, d)
	}
	checkIDs(1, 3, 4)

	if _, err := s.AddDevice(ctx, store.Device{AccountID: a.ID + 1000, Name: "x"}, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddDevice(unknown account) = %v, want ErrNotFound", err)
	}
}

// testDeviceIDsNeverReused checks that a device gets an ID one higher than
// any its account ever had, however it is added and whatever was removed,
// and across a reopen.
func testDeviceIDsNeverReused(t *testing.T, s store.Store, reopen func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "hugo")
	add := func(max int, want uint32) {
		t.Helper()
		d, err := s.AddDevice(ctx, store.Device{AccountID: a.ID, Name: "device", CredentialHash: credential("hugo", int(want)), Created: now()}, max)
		if err != nil || d.ID != want {
			t.Fatalf("AddDevice = ID %d, %v; want ID %d", d.ID, err, want)
		}
	}
	remove := func(id uint32) {
		t.Helper()
		if err := s.RemoveDevice(ctx, a.ID, id); err != nil {
			t.Fatalf("RemoveDevice(%d): %v", id, err)
		}
	}

	// Add 2, remove 2, add: 3.
	add(10, 2)
	remove(2)
	add(10, 3)
	// A failed add uses up no ID.
	if _, err := s.AddDevice(ctx, store.Device{AccountID: a.ID, Name: "one too many"}, 2); !errors.Is(err, store.ErrTooManyDevices) {
		t.Fatalf("AddDevice past the limit = %v, want ErrTooManyDevices", err)
	}
	remove(3)
	add(2, 4)
	// Removing the newest device or the first moves nothing back.
	remove(4)
	add(10, 5)
	remove(1)
	add(10, 6)

	// Linking counts the same way.
	token := sha256.Sum256([]byte("hugo token"))
	if err := s.CreateLinkToken(ctx, a.ID, token, now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, d, err := s.AddDeviceWithToken(ctx, token, store.Device{Name: "linked"}, 10, now(), store.PreKeySet{}); err != nil || d.ID != 7 {
		t.Fatalf("AddDeviceWithToken = ID %d, %v; want 7", d.ID, err)
	}

	// The count is durable: a reopened store goes on from it, even with
	// the newest device removed.
	remove(7)
	s = reopen()
	add(10, 8)

	// Each account counts for itself.
	b, bd := newAccount(t, s, "hugo2")
	if bd.ID != 1 {
		t.Fatalf("first device of a new account = ID %d, want 1", bd.ID)
	}
	if d := addDevice(t, s, b, "second"); d.ID != 2 {
		t.Fatalf("AddDevice(new account) = ID %d, want 2", d.ID)
	}
}

func testRemoveDeviceCascade(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d1 := newAccount(t, s, "hank")
	d2 := addDevice(t, s, a, "second")
	uploadKeys(t, s, d2, 5, 5)
	for i := range 3 {
		e := envelope(d1, a.Username, d2, i, now())
		if _, err := s.Enqueue(ctx, []store.Envelope{e}, store.QueueLimits{MaxQueue: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveDevice(ctx, a.ID, d2.ID); err != nil {
		t.Fatal(err)
	}
	// The removed device's keys and queue are gone with it.
	if _, err := s.PreKeyCounts(ctx, a.ID, d2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PreKeyCounts(removed) = %v, want ErrNotFound", err)
	}
	if _, err := s.TakeBundle(ctx, a.ID, d2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TakeBundle(removed) = %v, want ErrNotFound", err)
	}
	if _, err := s.QueueDepth(ctx, a.ID, d2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("QueueDepth(removed) = %v, want ErrNotFound", err)
	}
	checkPending(t, s, d2, now())

	// The next device gets a new ID and starts with nothing.
	d := addDevice(t, s, a, "third")
	if d.ID == d2.ID {
		t.Fatalf("AddDevice gave the removed device's ID %d again", d.ID)
	}
	checkNoKeys(t, s, a.ID, d.ID)
	checkPending(t, s, d, now())
	checkDepth(t, s, d, 0)
	checkDepth(t, s, d1, 0)
}

func testLinkTokens(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "iris")
	t0 := now()
	link := func(token string, max int, at time.Time, keys store.PreKeySet) (store.Account, store.Device, error) {
		return s.AddDeviceWithToken(ctx, sha256.Sum256([]byte(token)),
			store.Device{Name: "linked " + token, CredentialHash: credential(token, 0), Created: t0}, max, at, keys)
	}
	create := func(token string, expires time.Time) {
		t.Helper()
		if err := s.CreateLinkToken(ctx, a.ID, sha256.Sum256([]byte(token)), expires); err != nil {
			t.Fatalf("CreateLinkToken: %v", err)
		}
	}

	create("one", t0.Add(time.Hour))
	keys := preKeys(t, 1, 3, 2)
	ga, d, err := link("one", 5, t0, keys)
	if err != nil || ga.ID != a.ID || ga.Username != "iris" || !bytes.Equal(ga.IdentityKey, a.IdentityKey) ||
		d.AccountID != a.ID || d.ID != 2 || d.Name != "linked one" {
		t.Fatalf("AddDeviceWithToken = %+v, %+v, %v; want device 2 of %+v", ga, d, err, a)
	}
	if _, gd, err := s.DeviceByName(ctx, "iris", 2); err != nil || gd.CredentialHash != credential("one", 0) {
		t.Fatalf("DeviceByName(linked) = %+v, %v", gd, err)
	}
	checkKeys(t, s, a.ID, 2, keys)
	if _, _, err := link("one", 5, t0, keys); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("AddDeviceWithToken(used) = %v, want ErrTokenInvalid", err)
	}
	if _, _, err := link("never created", 5, t0, keys); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("AddDeviceWithToken(unknown) = %v, want ErrTokenInvalid", err)
	}

	create("short", t0.Add(time.Minute))
	if _, _, err := link("short", 5, t0.Add(2*time.Minute), keys); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("AddDeviceWithToken(expired) = %v, want ErrTokenInvalid", err)
	}

	// The device limit: nothing is stored, the token is not used up, and
	// it works once a device is removed.
	create("full", t0.Add(time.Hour))
	if _, _, err := link("full", 2, t0, preKeys(t, 50, 4, 4)); !errors.Is(err, store.ErrTooManyDevices) {
		t.Fatalf("AddDeviceWithToken(full) = %v, want ErrTooManyDevices", err)
	}
	if ds, err := s.Devices(ctx, a.ID); err != nil || len(ds) != 2 {
		t.Fatalf("Devices after a failed link = %+v, %v; want 2", ds, err)
	}
	if got, err := s.LinkTokenAccount(ctx, sha256.Sum256([]byte("full")), t0); err != nil || got.ID != a.ID {
		t.Fatalf("LinkTokenAccount after a failed link = %+v, %v; want the token still valid", got, err)
	}
	if err := s.RemoveDevice(ctx, a.ID, 2); err != nil {
		t.Fatal(err)
	}
	keys = preKeys(t, 60, 1, 3)
	if _, d, err := link("full", 2, t0, keys); err != nil || d.ID != 3 {
		t.Fatalf("AddDeviceWithToken after removal = %+v, %v; want device 3", d, err)
	}
	checkKeys(t, s, a.ID, 3, keys)

	// A token hash is stored once; an unknown account has no tokens.
	create("twice", t0.Add(time.Hour))
	if err := s.CreateLinkToken(ctx, a.ID, sha256.Sum256([]byte("twice")), t0.Add(time.Hour)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateLinkToken(existing) = %v, want ErrExists", err)
	}
	if err := s.CreateLinkToken(ctx, a.ID+1000, sha256.Sum256([]byte("nobody's")), t0.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateLinkToken(unknown account) = %v, want ErrNotFound", err)
	}

	// DeleteExpired removes expired tokens.
	create("purged", t0.Add(time.Minute))
	if _, err := s.DeleteExpired(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := link("purged", 5, t0, keys); !errors.Is(err, store.ErrTokenInvalid) {
		t.Fatalf("AddDeviceWithToken(purged) = %v, want ErrTokenInvalid", err)
	}
}

func testLinkTokenAccount(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "lina")
	newAccount(t, s, "other")
	t0 := now()
	token := func(name string) [32]byte { return sha256.Sum256([]byte(name)) }
	lookup := func(name string, at time.Time) (store.Account, error) {
		return s.LinkTokenAccount(ctx, token(name), at)
	}
	for name, exp := range map[string]time.Time{"valid": t0.Add(time.Hour), "expired": t0.Add(time.Minute)} {
		if err := s.CreateLinkToken(ctx, a.ID, token(name), exp); err != nil {
			t.Fatal(err)
		}
	}

	// Valid: the account, and the token stays usable however often it is
	// looked up.
	for range 2 {
		got, err := lookup("valid", t0)
		if err != nil || got.ID != a.ID || got.Username != a.Username || !bytes.Equal(got.IdentityKey, a.IdentityKey) || !got.Created.Equal(a.Created) {
			t.Fatalf("LinkTokenAccount(valid) = %+v, %v; want %+v", got, err, a)
		}
	}
	if _, d, err := s.AddDeviceWithToken(ctx, token("valid"), store.Device{Name: "new"}, 5, t0, store.PreKeySet{}); err != nil || d.AccountID != a.ID {
		t.Fatalf("AddDeviceWithToken after LinkTokenAccount = %+v, %v", d, err)
	}

	for _, tc := range []struct {
		name, token string
		at          time.Time
	}{
		{"used", "valid", t0},
		{"expired", "expired", t0.Add(2 * time.Minute)},
		{"unknown", "never created", t0},
	} {
		if got, err := lookup(tc.token, tc.at); !errors.Is(err, store.ErrTokenInvalid) {
			t.Errorf("LinkTokenAccount(%s) = %+v, %v; want ErrTokenInvalid", tc.name, got, err)
		}
	}
}

// testPreKeysArriveWithDevice creates accounts and links devices while
// another caller watches: a device it can see must already have the prekeys
// it was created with.
func testPreKeysArriveWithDevice(t *testing.T, s store.Store, _ func() store.Store) {
	const accounts = 10 // each with a linked second device
	ctx := t.Context()
	names := make([]string, accounts)
	keys := make([][2]store.PreKeySet, accounts)
	idKeys := make([][]byte, accounts)
	for i := range names {
		names[i] = fmt.Sprintf("atom%d", i)
		keys[i] = [2]store.PreKeySet{preKeys(t, 1, 1, 1), preKeys(t, 1, 1, 1)}
		idKeys[i] = randBytes(t, 33)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait() // also when a check fails, before t.Context() ends
	wg.Go(func() {
		defer close(done)
		for i, name := range names {
			a, _, err := s.CreateAccount(ctx, store.Account{Username: name, IdentityKey: idKeys[i], Created: now()},
				store.Device{Name: "phone", Created: now()}, nil, keys[i][0])
			if err != nil {
				t.Errorf("CreateAccount: %v", err)
				return
			}
			tok := sha256.Sum256([]byte(name))
			if err := s.CreateLinkToken(ctx, a.ID, tok, now().Add(time.Hour)); err != nil {
				t.Errorf("CreateLinkToken: %v", err)
				return
			}
			if _, _, err := s.AddDeviceWithToken(ctx, tok, store.Device{Name: "tablet", Created: now()}, 5, now(), keys[i][1]); err != nil {
				t.Errorf("AddDeviceWithToken: %v", err)
				return
			}
		}
	})
	seen := map[string]int{} // devices seen per account
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true // one more look, after the last write
		default:
		}
		for _, name := range names {
			if seen[name] == 2 {
				continue
			}
			a, err := s.AccountByName(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				t.Fatalf("AccountByName: %v", err)
			}
			ds, err := s.Devices(ctx, a.ID)
			if err != nil {
				t.Fatalf("Devices: %v", err)
			}
			if len(ds) == 0 {
				t.Fatalf("account %s visible without its first device", name)
			}
			for _, d := range ds {
				if _, err := s.TakeBundle(ctx, a.ID, d.ID); err != nil {
					t.Fatalf("TakeBundle(%s/%d) as soon as the device exists: %v", name, d.ID, err)
				}
			}
			seen[name] = len(ds)
		}
	}
	if t.Failed() {
		return
	}
	for _, name := range names {
		if seen[name] != 2 {
			t.Errorf("account %s: saw %d devices, want 2", name, seen[name])
		}
	}
}
