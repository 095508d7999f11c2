package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

func testProvisioning(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	t0 := now()
	if err := s.CreateProvisioning(ctx, "box", t0.Add(time.Minute)); err != nil {
		t.Fatalf("CreateProvisioning: %v", err)
	}
	if body, err := s.TakeProvisioning(ctx, "box", t0); body != nil || err != nil {
		t.Fatalf("TakeProvisioning(empty) = %q, %v; want nil, nil", body, err)
	}
	if body, err := s.TakeProvisioning(ctx, "box", t0); body != nil || err != nil {
		t.Fatalf("TakeProvisioning(empty) again = %q, %v; want nil, nil", body, err)
	}
	if err := s.CreateProvisioning(ctx, "box", t0.Add(time.Hour)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateProvisioning(existing) = %v, want ErrExists", err)
	}
	msg := randBytes(t, 300)
	if err := s.PutProvisioning(ctx, "box", msg, t0); err != nil {
		t.Fatalf("PutProvisioning: %v", err)
	}
	if err := s.PutProvisioning(ctx, "box", []byte("another"), t0); !errors.Is(err, store.ErrProvisionExists) {
		t.Fatalf("PutProvisioning twice = %v, want ErrProvisionExists", err)
	}
	if body, err := s.TakeProvisioning(ctx, "box", t0); err != nil || !bytes.Equal(body, msg) {
		t.Fatalf("TakeProvisioning = %x, %v; want the message", body, err)
	}
	if _, err := s.TakeProvisioning(ctx, "box", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeProvisioning after take = %v, want ErrNotFound", err)
	}
	if err := s.PutProvisioning(ctx, "box", msg, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutProvisioning after take = %v, want ErrNotFound", err)
	}

	// A taken mailbox's id is free again; an empty message is not "still
	// empty".
	if err := s.CreateProvisioning(ctx, "box", t0.Add(time.Minute)); err != nil {
		t.Fatalf("CreateProvisioning(taken id) = %v", err)
	}
	if err := s.PutProvisioning(ctx, "box", nil, t0); err != nil {
		t.Fatalf("PutProvisioning(empty message): %v", err)
	}
	if body, err := s.TakeProvisioning(ctx, "box", t0); err != nil || body == nil || len(body) != 0 {
		t.Fatalf("TakeProvisioning(empty message) = %q (nil %v), %v; want an empty non-nil message", body, body == nil, err)
	}

	if err := s.PutProvisioning(ctx, "unknown", msg, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutProvisioning(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.TakeProvisioning(ctx, "unknown", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeProvisioning(unknown) = %v, want ErrNotFound", err)
	}

	// Expiry, and DeleteExpired.
	later := t0.Add(2 * time.Minute)
	for _, id := range []string{"empty", "written"} {
		if err := s.CreateProvisioning(ctx, id, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutProvisioning(ctx, "written", msg, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutProvisioning(ctx, "empty", msg, later); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutProvisioning(expired) = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"empty", "written"} {
		if _, err := s.TakeProvisioning(ctx, id, later); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TakeProvisioning(expired %s) = %v, want ErrNotFound", id, err)
		}
	}
	// An expired mailbox keeps its id until DeleteExpired removes it.
	if err := s.CreateProvisioning(ctx, "empty", later.Add(time.Minute)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateProvisioning(expired, not deleted) = %v, want ErrExists", err)
	}
	if _, err := s.DeleteExpired(ctx, later); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeProvisioning(ctx, "written", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeProvisioning(deleted by DeleteExpired) = %v, want ErrNotFound", err)
	}
	if err := s.CreateProvisioning(ctx, "empty", later.Add(time.Minute)); err != nil {
		t.Fatalf("CreateProvisioning(deleted id) = %v", err)
	}
}

// testClosed checks that every method returns ErrClosed after Close.
func testClosed(t *testing.T, s store.Store, _ func() store.Store) {
	a, d := newAccount(t, s, "zoe")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	t0 := now()
	h := sha256.Sum256([]byte("closed"))
	e := envelope(d, a.Username, d, 1, t0)
	keys := preKeys(t, 1, 1, 1)
	calls := map[string]func() error{
		"CreateAccount": func() error {
			_, _, err := s.CreateAccount(ctx, store.Account{Username: "new"}, store.Device{Name: "x"}, nil, store.PreKeySet{})
			return err
		},
		"AccountByName": func() error { _, err := s.AccountByName(ctx, "zoe"); return err },
		"DeviceByName":  func() error { _, _, err := s.DeviceByName(ctx, "zoe", 1); return err },
		"AddDevice":     func() error { _, err := s.AddDevice(ctx, store.Device{AccountID: a.ID}, 5); return err },
		"Devices":       func() error { _, err := s.Devices(ctx, a.ID); return err },
		"RemoveDevice":  func() error { return s.RemoveDevice(ctx, a.ID, 1) },
		"SetPreKeys":    func() error { return s.SetPreKeys(ctx, a.ID, d.ID, keys) },
		"PreKeyCounts":  func() error { _, err := s.PreKeyCounts(ctx, a.ID, d.ID); return err },
		"TakeBundle":    func() error { _, err := s.TakeBundle(ctx, a.ID, d.ID); return err },
		"BaseBundle":    func() error { _, err := s.BaseBundle(ctx, a.ID, d.ID); return err },
		"Enqueue": func() error {
			_, err := s.Enqueue(ctx, []store.Envelope{e}, store.QueueLimits{MaxQueue: 10})
			return err
		},
		"Pending":       func() error { _, err := s.Pending(ctx, a.ID, d.ID, 0, 10, t0); return err },
		"Ack":           func() error { return s.Ack(ctx, a.ID, d.ID, []uint64{1}) },
		"QueueDepth":    func() error { _, err := s.QueueDepth(ctx, a.ID, d.ID); return err },
		"DeleteExpired": func() error { _, err := s.DeleteExpired(ctx, t0); return err },
		"CreateProvisioning": func() error {
			return s.CreateProvisioning(ctx, "box", t0.Add(time.Minute))
		},
		"PutProvisioning":  func() error { return s.PutProvisioning(ctx, "box", []byte("x"), t0) },
		"TakeProvisioning": func() error { _, err := s.TakeProvisioning(ctx, "box", t0); return err },
		"CreateLinkToken":  func() error { return s.CreateLinkToken(ctx, a.ID, h, t0.Add(time.Minute)) },
		"LinkTokenAccount": func() error { _, err := s.LinkTokenAccount(ctx, h, t0); return err },
		"AddDeviceWithToken": func() error {
			_, _, err := s.AddDeviceWithToken(ctx, h, store.Device{Name: "x"}, 5, t0, keys)
			return err
		},
		"CreateInvite": func() error { return s.CreateInvite(ctx, h) },
		"RecoverAccount": func() error {
			_, _, _, err := s.RecoverAccount(ctx, store.Recovery{Username: "zoe", RecoveryHash: h, IdentityKey: []byte{5},
				Device: store.Device{Name: "x"}, PreKeys: keys})
			return err
		},
		"Close": s.Close,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}
