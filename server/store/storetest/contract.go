package storetest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// This file tests the rules written once on the Store interface for all
// methods: unknown devices, expiry at the boundary, and callers whose ctx
// ends.

// testUnknownDevices: a device ID the account never had, a removed device
// and an unknown account are all unknown devices.
func testUnknownDevices(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d := newAccount(t, s, "ursa")
	removed := addDevice(t, s, a, "ursa tablet")
	if err := s.RemoveDevice(ctx, a.ID, removed.ID); err != nil {
		t.Fatal(err)
	}
	t0 := now()
	keys := preKeys(t, 1, 1, 1)
	for _, u := range []struct {
		name    string
		account int64
		device  uint32
	}{
		{"never had", a.ID, 99},
		{"removed", a.ID, removed.ID},
		{"unknown account", a.ID + 1000, 1},
	} {
		dev := store.Device{AccountID: u.account, ID: u.device}
		notFound := map[string]error{
			"Enqueue": func() error {
				_, err := s.Enqueue(ctx, []store.Envelope{envelope(d, a.Username, dev, 1, t0)}, store.QueueLimits{MaxQueue: 100})
				return err
			}(),
			"SetPreKeys":        s.SetPreKeys(ctx, u.account, u.device, keys),
			"SetPreKeys(empty)": s.SetPreKeys(ctx, u.account, u.device, store.PreKeySet{}),
			"TakeBundle":        func() error { _, err := s.TakeBundle(ctx, u.account, u.device); return err }(),
			"BaseBundle":        func() error { _, err := s.BaseBundle(ctx, u.account, u.device); return err }(),
			"PreKeyCounts":      func() error { _, err := s.PreKeyCounts(ctx, u.account, u.device); return err }(),
			"QueueDepth":        func() error { _, err := s.QueueDepth(ctx, u.account, u.device); return err }(),
			"RemoveDevice":      s.RemoveDevice(ctx, u.account, u.device),
		}
		for call, err := range notFound {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s(%s device) = %v, want ErrNotFound", call, u.name, err)
			}
		}
		// Reading and acking an unknown device's queue finds nothing.
		if envs, err := s.Pending(ctx, u.account, u.device, 0, 10, t0); err != nil || len(envs) != 0 {
			t.Errorf("Pending(%s device) = %d envelopes, %v; want none", u.name, len(envs), err)
		}
		if err := s.Ack(ctx, u.account, u.device, []uint64{1, 2}); err != nil {
			t.Errorf("Ack(%s device) = %v, want nil", u.name, err)
		}
	}
	if ds, err := s.Devices(ctx, a.ID+1000); err != nil || len(ds) != 0 {
		t.Errorf("Devices(unknown account) = %+v, %v; want none", ds, err)
	}
	// None of it touched the device that exists.
	checkNoKeys(t, s, a.ID, d.ID)
	checkDepth(t, s, d, 0)
}

// testExpiryBoundary: something that expires at t has expired at now == t,
// for every kind of thing that expires, and DeleteExpired(t) deletes it.
func testExpiryBoundary(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d := newAccount(t, s, "edna")
	at := now().Add(time.Minute)
	before := at.Add(-time.Millisecond)
	msg := []byte("provisioning message")

	e := envelope(d, a.Username, d, 1, before.Add(-time.Minute))
	e.Expires = at
	enqueue(t, s, 100, nil, &e)
	checkPending(t, s, d, before, e)
	checkPending(t, s, d, at)

	for _, id := range []string{"put", "take", "purge"} {
		if err := s.CreateProvisioning(ctx, id, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutProvisioning(ctx, "put", msg, at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutProvisioning(expires == now) = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"take", "purge"} {
		if err := s.PutProvisioning(ctx, id, msg, before); err != nil {
			t.Fatalf("PutProvisioning(just before expiry): %v", err)
		}
	}
	if _, err := s.TakeProvisioning(ctx, "take", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TakeProvisioning(expires == now) = %v, want ErrNotFound", err)
	}
	if body, err := s.TakeProvisioning(ctx, "take", before); err != nil || string(body) != string(msg) {
		t.Errorf("TakeProvisioning(just before expiry) = %q, %v; want the message", body, err)
	}

	token := func(name string) [32]byte { return sha256.Sum256([]byte(name)) }
	for _, name := range []string{"link", "purge"} {
		if err := s.CreateLinkToken(ctx, a.ID, token(name), at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.LinkTokenAccount(ctx, token("link"), at); !errors.Is(err, store.ErrTokenInvalid) {
		t.Errorf("LinkTokenAccount(expires == now) = %v, want ErrTokenInvalid", err)
	}
	if _, _, err := s.AddDeviceWithToken(ctx, token("link"), store.Device{Name: "late"}, 5, at, store.PreKeySet{}); !errors.Is(err, store.ErrTokenInvalid) {
		t.Errorf("AddDeviceWithToken(expires == now) = %v, want ErrTokenInvalid", err)
	}
	if _, err := s.LinkTokenAccount(ctx, token("link"), before); err != nil {
		t.Errorf("LinkTokenAccount(just before expiry) = %v", err)
	}
	if _, _, err := s.AddDeviceWithToken(ctx, token("link"), store.Device{Name: "in time"}, 5, before, store.PreKeySet{}); err != nil {
		t.Errorf("AddDeviceWithToken(just before expiry) = %v", err)
	}

	if n, err := s.DeleteExpired(ctx, before); err != nil || n != 0 {
		t.Fatalf("DeleteExpired(just before expiry) = %d, %v; want 0", n, err)
	}
	checkPending(t, s, d, before, e)
	if n, err := s.DeleteExpired(ctx, at); err != nil || n != 1 {
		t.Fatalf("DeleteExpired(expires == now) = %d, %v; want 1", n, err)
	}
	checkPending(t, s, d, before)
	checkDepth(t, s, d, 0)
	if _, err := s.TakeProvisioning(ctx, "purge", before); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TakeProvisioning after DeleteExpired(expires == now) = %v, want ErrNotFound", err)
	}
	if _, err := s.LinkTokenAccount(ctx, token("purge"), before); !errors.Is(err, store.ErrTokenInvalid) {
		t.Errorf("LinkTokenAccount after DeleteExpired(expires == now) = %v, want ErrTokenInvalid", err)
	}
}

// testCancelledCalls races callers' ctx against their writes. A call whose
// ctx ends may or may not have committed, but never half: a retry of an
// Enqueue leaves exactly one copy of each envelope, and prekeys a cancelled
// TakeBundle used up are never handed out again.
func testCancelledCalls(t *testing.T, s store.Store, _ func() store.Store) {
	const n = 40
	a, d := newAccount(t, s, "cleo")
	t0 := now()
	envs := make([]store.Envelope, n)
	for i := range envs {
		envs[i] = envelope(d, a.Username, d, i, t0)
	}

	// Enqueue: each caller gives up after a different short while.
	stored := make([]bool, n) // committed as far as the caller knows
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i)*100*time.Microsecond)
			defer cancel()
			call := []store.Envelope{envs[i]}
			_, err := s.Enqueue(ctx, call, store.QueueLimits{MaxQueue: 1000})
			switch {
			case err == nil:
				stored[i], envs[i].Seq = true, call[0].Seq
			case !errors.Is(err, context.DeadlineExceeded):
				t.Errorf("Enqueue with a ctx that ends = %v", err)
			}
		})
	}
	wg.Wait()
	for i := range envs {
		call := []store.Envelope{envelope(d, a.Username, d, i, t0)}
		dup, err := s.Enqueue(t.Context(), call, store.QueueLimits{MaxQueue: 1000})
		if err != nil {
			t.Fatalf("Enqueue retry: %v", err)
		}
		if stored[i] && (!dup[0] || call[0].Seq != envs[i].Seq) {
			t.Fatalf("retry of a stored envelope: dup %v, Seq %d; want a duplicate with Seq %d", dup[0], call[0].Seq, envs[i].Seq)
		}
		envs[i].Seq = call[0].Seq
	}
	checkPending(t, s, d, t0, sortedBySeq(envs)...)
	checkDepth(t, s, d, n)

	// TakeBundle: the same race, then the rest of the keys.
	pks, _ := uploadKeys(t, s, d, n, 0)
	seen := make(map[uint32]int)
	var mu sync.Mutex
	for i := range n / 2 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i)*100*time.Microsecond)
			defer cancel()
			b, err := s.TakeBundle(ctx, a.ID, d.ID)
			switch {
			case err == nil && b.OneTime != nil:
				mu.Lock()
				seen[b.OneTime.ID]++
				mu.Unlock()
			case err != nil && !errors.Is(err, context.DeadlineExceeded):
				t.Errorf("TakeBundle with a ctx that ends = %v", err)
			}
		})
	}
	wg.Wait()
	for {
		b, err := s.TakeBundle(t.Context(), a.ID, d.ID)
		if err != nil {
			t.Fatalf("TakeBundle: %v", err)
		}
		if b.OneTime == nil {
			break
		}
		seen[b.OneTime.ID]++
	}
	for id, c := range seen {
		if _, ok := pks[id]; !ok || c != 1 {
			t.Fatalf("one-time key %d handed out %d times (uploaded: %v)", id, c, ok)
		}
	}
	if c, err := s.PreKeyCounts(t.Context(), a.ID, d.ID); err != nil || c != (store.PreKeyCounts{}) {
		t.Fatalf("PreKeyCounts = %+v, %v; want none left", c, err)
	}
}

// sortedBySeq returns envs in Seq order.
func sortedBySeq(envs []store.Envelope) []store.Envelope {
	out := slices.Clone(envs)
	slices.SortFunc(out, func(x, y store.Envelope) int { return cmp.Compare(x.Seq, y.Seq) })
	return out
}
