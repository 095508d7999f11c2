package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/parley-chat/parley/server/store"
)

// Key sizes as the protocol encodes them.
const (
	x25519KeySize = 33
	kemKeySize    = 1569
	signatureSize = 64
)

func signedPreKey(t *testing.T, id uint32) store.SignedPreKey {
	return store.SignedPreKey{ID: id, PublicKey: randBytes(t, x25519KeySize), Signature: randBytes(t, signatureSize)}
}

func kemPreKey(t *testing.T, id uint32) store.KEMPreKey {
	return store.KEMPreKey{ID: id, PublicKey: randBytes(t, kemKeySize), Signature: randBytes(t, signatureSize)}
}

func sameKEM(a, b store.KEMPreKey) bool {
	return a.ID == b.ID && bytes.Equal(a.PublicKey, b.PublicKey) && bytes.Equal(a.Signature, b.Signature)
}

func sameSigned(a, b store.SignedPreKey) bool {
	return a.ID == b.ID && bytes.Equal(a.PublicKey, b.PublicKey) && bytes.Equal(a.Signature, b.Signature)
}

// preKeys is a full set for one device: a signed prekey (ID first), a
// last-resort KEM prekey (ID first+1000), and one-time prekeys with IDs
// first, first+1, ...: oneTime X25519 ones and kem KEM ones.
func preKeys(t *testing.T, first uint32, oneTime, kem int) store.PreKeySet {
	spk, lr := signedPreKey(t, first), kemPreKey(t, first+1000)
	k := store.PreKeySet{SignedPreKey: &spk, LastResortKEMPreKey: &lr}
	for i := range uint32(oneTime) {
		k.OneTime = append(k.OneTime, store.PreKey{ID: first + i, PublicKey: randBytes(t, x25519KeySize)})
	}
	for i := range uint32(kem) {
		k.KEMOneTime = append(k.KEMOneTime, kemPreKey(t, first+i))
	}
	return k
}

// uploadKeys gives a device preKeys(t, 1, oneTime, kem) with SetPreKeys. It
// returns the one-time keys by ID.
func uploadKeys(t *testing.T, s store.Store, d store.Device, oneTime, kem int) (map[uint32]store.PreKey, map[uint32]store.KEMPreKey) {
	t.Helper()
	k := preKeys(t, 1, oneTime, kem)
	if err := s.SetPreKeys(t.Context(), d.AccountID, d.ID, k); err != nil {
		t.Fatalf("SetPreKeys: %v", err)
	}
	pks := make(map[uint32]store.PreKey)
	for _, pk := range k.OneTime {
		pks[pk.ID] = pk
	}
	kems := make(map[uint32]store.KEMPreKey)
	for _, pk := range k.KEMOneTime {
		kems[pk.ID] = pk
	}
	return pks, kems
}

// checkKeys checks that the device holds exactly the prekeys in want, whose
// signed and last-resort keys are set and whose one-time IDs are distinct:
// it takes bundles until the one-time keys are used up, so it uses them up.
func checkKeys(t *testing.T, s store.Store, accountID int64, deviceID uint32, want store.PreKeySet) {
	t.Helper()
	ctx := t.Context()
	wantCounts := store.PreKeyCounts{OneTime: len(want.OneTime), KEMOneTime: len(want.KEMOneTime)}
	if c, err := s.PreKeyCounts(ctx, accountID, deviceID); err != nil || c != wantCounts {
		t.Fatalf("PreKeyCounts(%d/%d) = %+v, %v; want %+v", accountID, deviceID, c, err, wantCounts)
	}
	pks := make(map[uint32]store.PreKey)
	for _, k := range want.OneTime {
		pks[k.ID] = k
	}
	kems := make(map[uint32]store.KEMPreKey)
	for _, k := range want.KEMOneTime {
		kems[k.ID] = k
	}
	for i := range max(len(pks), len(kems)) + 1 {
		b, err := s.TakeBundle(ctx, accountID, deviceID)
		if err != nil {
			t.Fatalf("TakeBundle(%d/%d) %d: %v", accountID, deviceID, i, err)
		}
		if b.DeviceID != deviceID || !sameSigned(b.SignedPreKey, *want.SignedPreKey) {
			t.Fatalf("TakeBundle(%d/%d) %d: signed prekey %d, want %d", accountID, deviceID, i, b.SignedPreKey.ID, want.SignedPreKey.ID)
		}
		if b.LastResort {
			if len(kems) > 0 || !sameKEM(b.KEMPreKey, *want.LastResortKEMPreKey) {
				t.Fatalf("TakeBundle(%d/%d) %d: last-resort key %d with %d one-time KEM keys left, want key %d once none are left",
					accountID, deviceID, i, b.KEMPreKey.ID, len(kems), want.LastResortKEMPreKey.ID)
			}
		} else {
			if k, ok := kems[b.KEMPreKey.ID]; !ok || !sameKEM(b.KEMPreKey, k) {
				t.Fatalf("TakeBundle(%d/%d) %d: KEM key %d is not one of the one-time keys left", accountID, deviceID, i, b.KEMPreKey.ID)
			}
			delete(kems, b.KEMPreKey.ID)
		}
		if b.OneTime == nil {
			if len(pks) > 0 {
				t.Fatalf("TakeBundle(%d/%d) %d: no one-time key with %d left", accountID, deviceID, i, len(pks))
			}
		} else {
			if k, ok := pks[b.OneTime.ID]; !ok || !bytes.Equal(b.OneTime.PublicKey, k.PublicKey) {
				t.Fatalf("TakeBundle(%d/%d) %d: one-time key %d is not one of the keys left", accountID, deviceID, i, b.OneTime.ID)
			}
			delete(pks, b.OneTime.ID)
		}
	}
}

// checkNoKeys checks that the device exists and holds no prekeys.
func checkNoKeys(t *testing.T, s store.Store, accountID int64, deviceID uint32) {
	t.Helper()
	if c, err := s.PreKeyCounts(t.Context(), accountID, deviceID); err != nil || c != (store.PreKeyCounts{}) {
		t.Fatalf("PreKeyCounts(%d/%d) = %+v, %v; want none", accountID, deviceID, c, err)
	}
	if _, err := s.TakeBundle(t.Context(), accountID, deviceID); !errors.Is(err, store.ErrNoSignedPreKey) {
		t.Fatalf("TakeBundle(%d/%d) = %v, want ErrNoSignedPreKey", accountID, deviceID, err)
	}
}

func testSetPreKeys(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d := newAccount(t, s, "sela")
	set := func(k store.PreKeySet) {
		t.Helper()
		if err := s.SetPreKeys(ctx, a.ID, d.ID, k); err != nil {
			t.Fatalf("SetPreKeys: %v", err)
		}
	}
	counts := func(want store.PreKeyCounts) {
		t.Helper()
		if c, err := s.PreKeyCounts(ctx, a.ID, d.ID); err != nil || c != want {
			t.Fatalf("PreKeyCounts = %+v, %v; want %+v", c, err, want)
		}
	}

	// An empty set changes nothing.
	set(store.PreKeySet{})
	checkNoKeys(t, s, a.ID, d.ID)

	// Parts: one-time keys alone, then a signed prekey alone. A bundle
	// needs both the signed and a KEM prekey, and a TakeBundle that fails
	// uses up nothing.
	first := preKeys(t, 1, 2, 2)
	set(store.PreKeySet{OneTime: first.OneTime})
	counts(store.PreKeyCounts{OneTime: 2})
	if _, err := s.TakeBundle(ctx, a.ID, d.ID); !errors.Is(err, store.ErrNoSignedPreKey) {
		t.Fatalf("TakeBundle(one-time keys only) = %v, want ErrNoSignedPreKey", err)
	}
	set(store.PreKeySet{SignedPreKey: first.SignedPreKey})
	if _, err := s.TakeBundle(ctx, a.ID, d.ID); !errors.Is(err, store.ErrNoKEMPreKey) {
		t.Fatalf("TakeBundle(no KEM key) = %v, want ErrNoKEMPreKey", err)
	}
	counts(store.PreKeyCounts{OneTime: 2})

	// Every field at once.
	all := preKeys(t, 10, 3, 3)
	set(all)
	counts(store.PreKeyCounts{OneTime: 5, KEMOneTime: 3})

	// Replacing: a signed prekey alone leaves the last-resort and one-time
	// keys; one-time IDs the device has are replaced, not added; within one
	// list the later of two entries with one ID wins.
	spk := signedPreKey(t, 20)
	pk10 := store.PreKey{ID: 10, PublicKey: randBytes(t, x25519KeySize)}
	kem11 := kemPreKey(t, 11)
	pk30a := store.PreKey{ID: 30, PublicKey: randBytes(t, x25519KeySize)}
	pk30b := store.PreKey{ID: 30, PublicKey: randBytes(t, x25519KeySize)}
	set(store.PreKeySet{SignedPreKey: &spk})
	set(store.PreKeySet{OneTime: []store.PreKey{pk10, pk30a, pk30b}, KEMOneTime: []store.KEMPreKey{kem11}})
	counts(store.PreKeyCounts{OneTime: 6, KEMOneTime: 3})

	want := store.PreKeySet{
		SignedPreKey:        &spk,
		LastResortKEMPreKey: all.LastResortKEMPreKey,
		OneTime:             []store.PreKey{first.OneTime[0], first.OneTime[1], pk10, all.OneTime[1], all.OneTime[2], pk30b},
		KEMOneTime:          []store.KEMPreKey{all.KEMOneTime[0], kem11, all.KEMOneTime[2]},
	}
	checkKeys(t, s, a.ID, d.ID, want)

	// A last-resort key alone replaces the last-resort key.
	lr := kemPreKey(t, 2000)
	set(store.PreKeySet{LastResortKEMPreKey: &lr})
	want.LastResortKEMPreKey, want.OneTime, want.KEMOneTime = &lr, nil, nil
	checkKeys(t, s, a.ID, d.ID, want)

	// Another device's keys are its own.
	d2 := addDevice(t, s, a, "sela tablet")
	checkNoKeys(t, s, a.ID, d2.ID)
}

// testSetPreKeysAtomic replaces a device's signed and last-resort prekeys
// together, always with equal IDs, while bundles are taken: no bundle may
// pair keys of two different SetPreKeys calls.
func testSetPreKeysAtomic(t *testing.T, s store.Store, _ func() store.Store) {
	const rounds = 30
	ctx := t.Context()
	a, d := newAccount(t, s, "tess")
	pair := func(id uint32) store.PreKeySet {
		spk, lr := signedPreKey(t, id), kemPreKey(t, id)
		return store.PreKeySet{SignedPreKey: &spk, LastResortKEMPreKey: &lr}
	}
	sets := make([]store.PreKeySet, rounds+1)
	for i := range sets {
		sets[i] = pair(uint32(i))
	}
	if err := s.SetPreKeys(ctx, a.ID, d.ID, sets[0]); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait() // also when a check fails, before t.Context() ends
	wg.Go(func() {
		defer close(done)
		for _, k := range sets[1:] {
			if err := s.SetPreKeys(ctx, a.ID, d.ID, k); err != nil {
				t.Errorf("SetPreKeys: %v", err)
				return
			}
		}
	})
	for last := false; !last; {
		select {
		case <-done:
			last = true // one more bundle, after the last SetPreKeys
		default:
		}
		b, err := s.TakeBundle(ctx, a.ID, d.ID)
		if err != nil {
			t.Fatalf("TakeBundle: %v", err)
		}
		id := b.SignedPreKey.ID
		if id > rounds || !b.LastResort || b.KEMPreKey.ID != id ||
			!sameSigned(b.SignedPreKey, *sets[id].SignedPreKey) || !sameKEM(b.KEMPreKey, *sets[id].LastResortKEMPreKey) {
			t.Fatalf("TakeBundle paired signed prekey %d with last-resort key %d: half of a SetPreKeys", id, b.KEMPreKey.ID)
		}
		if last && id != rounds {
			t.Fatalf("TakeBundle after the last SetPreKeys gave keys %d, want %d", id, rounds)
		}
	}
}

func testSignedAndLastResort(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d := newAccount(t, s, "jack")
	if _, err := s.TakeBundle(ctx, a.ID, d.ID); !errors.Is(err, store.ErrNoSignedPreKey) {
		t.Fatalf("TakeBundle(no keys) = %v, want ErrNoSignedPreKey", err)
	}
	spk := signedPreKey(t, 7)
	if err := s.SetPreKeys(ctx, a.ID, d.ID, store.PreKeySet{SignedPreKey: &spk}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeBundle(ctx, a.ID, d.ID); !errors.Is(err, store.ErrNoKEMPreKey) {
		t.Fatalf("TakeBundle(no KEM key) = %v, want ErrNoKEMPreKey", err)
	}
	lr := kemPreKey(t, 8)
	if err := s.SetPreKeys(ctx, a.ID, d.ID, store.PreKeySet{LastResortKEMPreKey: &lr}); err != nil {
		t.Fatal(err)
	}
	check := func(spk store.SignedPreKey, lr store.KEMPreKey) {
		t.Helper()
		for range 2 { // the last-resort key is not used up
			b, err := s.TakeBundle(ctx, a.ID, d.ID)
			if err != nil {
				t.Fatalf("TakeBundle: %v", err)
			}
			if b.DeviceID != d.ID || !sameSigned(b.SignedPreKey, spk) {
				t.Fatalf("TakeBundle signed prekey = %+v, want %+v", b.SignedPreKey, spk)
			}
			if !b.LastResort || !sameKEM(b.KEMPreKey, lr) || b.OneTime != nil {
				t.Fatalf("TakeBundle = %+v, want the last-resort key %d and no one-time key", b, lr.ID)
			}
		}
	}
	check(spk, lr)

	spk2, lr2 := signedPreKey(t, 9), kemPreKey(t, 10)
	if err := s.SetPreKeys(ctx, a.ID, d.ID, store.PreKeySet{SignedPreKey: &spk2, LastResortKEMPreKey: &lr2}); err != nil {
		t.Fatal(err)
	}
	check(spk2, lr2)
}

func testOneTimePreKeys(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d := newAccount(t, s, "kate")
	pks, kems := uploadKeys(t, s, d, 5, 3)
	counts := func(want store.PreKeyCounts) {
		t.Helper()
		c, err := s.PreKeyCounts(ctx, a.ID, d.ID)
		if err != nil || c != want {
			t.Fatalf("PreKeyCounts = %+v, %v; want %+v", c, err, want)
		}
	}
	counts(store.PreKeyCounts{OneTime: 5, KEMOneTime: 3})

	// An ID the device has already is replaced, not added.
	pk3 := store.PreKey{ID: 3, PublicKey: randBytes(t, x25519KeySize)}
	kem2 := kemPreKey(t, 2)
	if err := s.SetPreKeys(ctx, a.ID, d.ID, store.PreKeySet{OneTime: []store.PreKey{pk3}, KEMOneTime: []store.KEMPreKey{kem2}}); err != nil {
		t.Fatal(err)
	}
	pks[3], kems[2] = pk3, kem2
	counts(store.PreKeyCounts{OneTime: 5, KEMOneTime: 3})

	seenPK, seenKEM := map[uint32]bool{}, map[uint32]bool{}
	for i := range 7 {
		b, err := s.TakeBundle(ctx, a.ID, d.ID)
		if err != nil {
			t.Fatalf("TakeBundle %d: %v", i, err)
		}
		if i < 3 {
			want, ok := kems[b.KEMPreKey.ID]
			if b.LastResort || !ok || !sameKEM(b.KEMPreKey, want) || seenKEM[want.ID] {
				t.Fatalf("TakeBundle %d: KEM key %+v, want an unused one-time key", i, b.KEMPreKey.ID)
			}
			seenKEM[want.ID] = true
		} else if !b.LastResort || b.KEMPreKey.ID != 1001 {
			t.Fatalf("TakeBundle %d: KEM key %d (last resort %v), want the last-resort key", i, b.KEMPreKey.ID, b.LastResort)
		}
		if i < 5 {
			if b.OneTime == nil {
				t.Fatalf("TakeBundle %d: no one-time key", i)
			}
			want, ok := pks[b.OneTime.ID]
			if !ok || !bytes.Equal(b.OneTime.PublicKey, want.PublicKey) || seenPK[want.ID] {
				t.Fatalf("TakeBundle %d: one-time key %d, want an unused one", i, b.OneTime.ID)
			}
			seenPK[want.ID] = true
		} else if b.OneTime != nil {
			t.Fatalf("TakeBundle %d: one-time key %d, want none left", i, b.OneTime.ID)
		}
		if i == 1 {
			counts(store.PreKeyCounts{OneTime: 3, KEMOneTime: 1})
		}
	}
	counts(store.PreKeyCounts{})
}

// testTakeBundleConcurrent races 16 callers for 50 one-time keys of each
// kind: no key may go to two of them, all 50 must go, and a caller that got
// a fallback never sees a one-time key after it.
func testTakeBundleConcurrent(t *testing.T, s store.Store, _ func() store.Store) {
	const (
		callers = 16
		perCall = 8 // 128 bundles for 50 keys
		keys    = 50
	)
	a, d := newAccount(t, s, "leo")
	uploadKeys(t, s, d, keys, keys)

	var (
		mu                       sync.Mutex
		pkSeen, kemSeen          = map[uint32]int{}, map[uint32]int{}
		noOneTime, lastResort, n int
	)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			var outOfPK, outOfKEM bool // once out, a device stays out
			for range perCall {
				b, err := s.TakeBundle(t.Context(), a.ID, d.ID)
				if err != nil {
					t.Errorf("TakeBundle: %v", err)
					return
				}
				if outOfPK && b.OneTime != nil || outOfKEM && !b.LastResort {
					t.Errorf("TakeBundle handed out a one-time key after a fallback")
				}
				outOfPK, outOfKEM = b.OneTime == nil, b.LastResort
				mu.Lock()
				n++
				if b.OneTime == nil {
					noOneTime++
				} else {
					pkSeen[b.OneTime.ID]++
				}
				if b.LastResort {
					lastResort++
				} else {
					kemSeen[b.KEMPreKey.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for name, seen := range map[string]map[uint32]int{"one-time": pkSeen, "KEM": kemSeen} {
		if len(seen) != keys {
			t.Errorf("%d distinct %s keys handed out, want %d", len(seen), name, keys)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("%s key %d handed out %d times", name, id, c)
			}
		}
	}
	if want := callers*perCall - keys; noOneTime != want || lastResort != want {
		t.Errorf("%d bundles without a one-time key and %d with the last-resort key, want %d each", noOneTime, lastResort, want)
	}
	if c, err := s.PreKeyCounts(t.Context(), a.ID, d.ID); err != nil || c != (store.PreKeyCounts{}) {
		t.Errorf("PreKeyCounts = %+v, %v; want none left", c, err)
	}
}

// testBaseBundle: BaseBundle hands out the signed and last-resort prekeys
// and no one-time key, uses up nothing, and fails as TakeBundle does for a
// device without them.
func testBaseBundle(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d := newAccount(t, s, "basil")
	if _, err := s.BaseBundle(ctx, a.ID, d.ID); !errors.Is(err, store.ErrNoSignedPreKey) {
		t.Fatalf("BaseBundle(no keys) = %v, want ErrNoSignedPreKey", err)
	}
	spk := signedPreKey(t, 1)
	kems := []store.KEMPreKey{kemPreKey(t, 2)}
	if err := s.SetPreKeys(ctx, a.ID, d.ID, store.PreKeySet{SignedPreKey: &spk, KEMOneTime: kems}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BaseBundle(ctx, a.ID, d.ID); !errors.Is(err, store.ErrNoKEMPreKey) {
		t.Fatalf("BaseBundle(one-time KEM keys only) = %v, want ErrNoKEMPreKey", err)
	}
	k := preKeys(t, 10, 4, 3)
	if err := s.SetPreKeys(ctx, a.ID, d.ID, k); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b, err := s.BaseBundle(ctx, a.ID, d.ID)
		if err != nil {
			t.Fatalf("BaseBundle %d: %v", i, err)
		}
		if b.DeviceID != d.ID || !sameSigned(b.SignedPreKey, *k.SignedPreKey) || !b.LastResort ||
			!sameKEM(b.KEMPreKey, *k.LastResortKEMPreKey) || b.OneTime != nil {
			t.Fatalf("BaseBundle %d = %+v, want the signed and last-resort keys only", i, b)
		}
	}
	if c, err := s.PreKeyCounts(ctx, a.ID, d.ID); err != nil || c != (store.PreKeyCounts{OneTime: 4, KEMOneTime: 4}) {
		t.Fatalf("PreKeyCounts after BaseBundle = %+v, %v; want 4 and 4 (nothing used up)", c, err)
	}
}
