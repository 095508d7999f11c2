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

// uploadKeys gives a device a signed prekey (ID 1), a last-resort KEM prekey
// (ID 1000), and one-time prekeys with IDs 1..oneTime and 1..kem. It
// returns the one-time keys by ID.
func uploadKeys(t *testing.T, s store.Store, d store.Device, oneTime, kem int) (map[uint32]store.PreKey, map[uint32]store.KEMPreKey) {
	t.Helper()
	ctx := t.Context()
	if err := s.SetSignedPreKey(ctx, d.AccountID, d.ID, signedPreKey(t, 1)); err != nil {
		t.Fatalf("SetSignedPreKey: %v", err)
	}
	if err := s.SetLastResortKEMPreKey(ctx, d.AccountID, d.ID, kemPreKey(t, 1000)); err != nil {
		t.Fatalf("SetLastResortKEMPreKey: %v", err)
	}
	pks := make(map[uint32]store.PreKey)
	var list []store.PreKey
	for id := uint32(1); id <= uint32(oneTime); id++ {
		k := store.PreKey{ID: id, PublicKey: randBytes(t, x25519KeySize)}
		pks[id] = k
		list = append(list, k)
	}
	if err := s.AddOneTimePreKeys(ctx, d.AccountID, d.ID, list); err != nil {
		t.Fatalf("AddOneTimePreKeys: %v", err)
	}
	kems := make(map[uint32]store.KEMPreKey)
	var klist []store.KEMPreKey
	for id := uint32(1); id <= uint32(kem); id++ {
		k := kemPreKey(t, id)
		kems[id] = k
		klist = append(klist, k)
	}
	if err := s.AddKEMPreKeys(ctx, d.AccountID, d.ID, klist); err != nil {
		t.Fatalf("AddKEMPreKeys: %v", err)
	}
	return pks, kems
}

func testSignedAndLastResort(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d := newAccount(t, s, "jack")
	if _, err := s.TakeBundle(ctx, a.ID, d.ID); !errors.Is(err, store.ErrNoSignedPreKey) {
		t.Fatalf("TakeBundle(no keys) = %v, want ErrNoSignedPreKey", err)
	}
	spk := signedPreKey(t, 7)
	if err := s.SetSignedPreKey(ctx, a.ID, d.ID, spk); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeBundle(ctx, a.ID, d.ID); !errors.Is(err, store.ErrNoKEMPreKey) {
		t.Fatalf("TakeBundle(no KEM key) = %v, want ErrNoKEMPreKey", err)
	}
	lr := kemPreKey(t, 8)
	if err := s.SetLastResortKEMPreKey(ctx, a.ID, d.ID, lr); err != nil {
		t.Fatal(err)
	}
	check := func(spk store.SignedPreKey, lr store.KEMPreKey) {
		t.Helper()
		for range 2 { // the last-resort key is not used up
			b, err := s.TakeBundle(ctx, a.ID, d.ID)
			if err != nil {
				t.Fatalf("TakeBundle: %v", err)
			}
			if b.DeviceID != d.ID || b.SignedPreKey.ID != spk.ID || !bytes.Equal(b.SignedPreKey.PublicKey, spk.PublicKey) ||
				!bytes.Equal(b.SignedPreKey.Signature, spk.Signature) {
				t.Fatalf("TakeBundle signed prekey = %+v, want %+v", b.SignedPreKey, spk)
			}
			if !b.LastResort || !sameKEM(b.KEMPreKey, lr) || b.OneTime != nil {
				t.Fatalf("TakeBundle = %+v, want the last-resort key %d and no one-time key", b, lr.ID)
			}
		}
	}
	check(spk, lr)

	spk2, lr2 := signedPreKey(t, 9), kemPreKey(t, 10)
	if err := s.SetSignedPreKey(ctx, a.ID, d.ID, spk2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLastResortKEMPreKey(ctx, a.ID, d.ID, lr2); err != nil {
		t.Fatal(err)
	}
	check(spk2, lr2)

	// Unknown devices.
	if err := s.SetSignedPreKey(ctx, a.ID, 99, spk); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetSignedPreKey(unknown device) = %v, want ErrNotFound", err)
	}
	if err := s.SetLastResortKEMPreKey(ctx, a.ID, 99, lr); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetLastResortKEMPreKey(unknown device) = %v, want ErrNotFound", err)
	}
	if _, err := s.TakeBundle(ctx, a.ID, 99); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TakeBundle(unknown device) = %v, want ErrNotFound", err)
	}
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
	if err := s.AddOneTimePreKeys(ctx, a.ID, d.ID, []store.PreKey{pk3}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKEMPreKeys(ctx, a.ID, d.ID, []store.KEMPreKey{kem2}); err != nil {
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
		} else if !b.LastResort || b.KEMPreKey.ID != 1000 {
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

	if _, err := s.PreKeyCounts(ctx, a.ID, 99); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PreKeyCounts(unknown device) = %v, want ErrNotFound", err)
	}
	if err := s.AddOneTimePreKeys(ctx, a.ID, 99, []store.PreKey{pk3}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddOneTimePreKeys(unknown device) = %v, want ErrNotFound", err)
	}
	if err := s.AddKEMPreKeys(ctx, a.ID, 99, []store.KEMPreKey{kem2}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddKEMPreKeys(unknown device) = %v, want ErrNotFound", err)
	}
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
