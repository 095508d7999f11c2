package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// registerRecoverable registers name with a recovery key and returns the
// first device and the key.
func registerRecoverable(t *testing.T, srv *parleytest.Server, name string) (*user, string) {
	t.Helper()
	req, id, err := parleytest.Registration(name, 2)
	if err != nil {
		t.Fatal(err)
	}
	key, hash := parleytest.RecoveryKey()
	req.RecoveryKeyHash = hash
	base := transport.New(srv.URL, nil)
	creds, err := base.Register(context.Background(), req)
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return &user{name: creds.Username, creds: creds, c: base.As(creds), id: id}, key
}

// recoverAs recovers name with key and a fresh identity key; newKeyHash,
// if set, replaces the recovery key.
func recoverAs(t *testing.T, srv *parleytest.Server, name, key string, newKeyHash []byte) (*user, error) {
	t.Helper()
	req, id, err := parleytest.Recovery(name, key, 2)
	if err != nil {
		t.Fatal(err)
	}
	req.NewRecoveryKeyHash = newKeyHash
	base := transport.New(srv.URL, nil)
	creds, err := base.Recover(context.Background(), req)
	if err != nil {
		return nil, err
	}
	return &user{name: creds.Username, creds: creds, c: base.As(creds), id: id}, nil
}

// bundleIdentity fetches username's bundles as from, checks that each
// verifies, and returns the identity key they carry and their device IDs.
func bundleIdentity(t *testing.T, from *user, username string) ([]byte, []uint32) {
	t.Helper()
	bs, err := from.c.Bundles(context.Background(), username, 0)
	if err != nil {
		t.Fatalf("bundles of %s: %v", username, err)
	}
	var ik []byte
	var ids []uint32
	for _, raw := range bs.Bundles {
		b, err := pqxdh.ParseBundle(raw)
		if err != nil {
			t.Fatalf("bundle of %s does not verify: %v", username, err)
		}
		if ik != nil && !bytes.Equal(ik, b.IdentityKey.Encode()) {
			t.Fatalf("bundles of %s carry two identity keys", username)
		}
		ik = b.IdentityKey.Encode()
		ids = append(ids, b.DeviceID)
	}
	return ik, ids
}

// TestRecoverRefusedChangesNothing: a wrong key, an unknown user and an
// account without a recovery key are all the same 401, and the account's
// devices, keys and socket go on working.
func TestRecoverRefusedChangesNothing(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob, key := registerRecoverable(t, srv, "bob")
	register(t, srv, "carol", 0) // no recovery key
	s := connect(t, bob)
	recvUntilEmpty(t, s)

	wrong, _ := parleytest.RecoveryKey()
	for _, c := range []struct{ name, user, key string }{
		{"wrong key", "bob", wrong},
		{"empty key", "bob", ""},
		{"the key's hash, not the key", "bob", base64.StdEncoding.EncodeToString(sha256Of(key))},
		{"unknown user", "nobody_here", key},
		{"account without a key", "carol", key},
		{"account without a key, empty key", "carol", ""},
		{"the server's dummy key", "carol", "parley: no such recovery key"},
		{"invalid username", "no such name!", key},
	} {
		_, err := recoverAs(t, srv, c.user, c.key, nil)
		if ae := wantCode(t, err, api.CodeUnauthorized); ae.Status != http.StatusUnauthorized {
			t.Errorf("%s: status %d", c.name, ae.Status)
		}
	}

	// Nothing changed: Bob's device, identity key and socket work.
	if devs, err := bob.c.Devices(context.Background()); err != nil || len(devs) != 1 || devs[0].ID != 1 {
		t.Fatalf("bob's devices after refused recoveries: %+v, %v", devs, err)
	}
	if ik, ids := bundleIdentity(t, alice, "bob"); !bytes.Equal(ik, bob.id.Public().Encode()) || !slices.Equal(ids, []uint32{1}) {
		t.Fatalf("bob's bundles after refused recoveries: devices %v, identity changed: %v", ids, !bytes.Equal(ik, bob.id.Public().Encode()))
	}
	if _, err := sendTo(t, alice, "bob", []uint32{1}, "still here"); err != nil {
		t.Fatal(err)
	}
	if f := recvDeliver(t, s); string(f.Content) != "still here" {
		t.Fatalf("bob's socket got %q", f.Content)
	}
}

// TestRecoverReplacesIdentityAndDevices: with the right key, the account
// gets the new identity key and one new device with a new ID; the old
// devices' credentials fail, their socket closes, their queues are gone,
// and a sender with the old device list gets stale_devices at once.
func TestRecoverReplacesIdentityAndDevices(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob, key := registerRecoverable(t, srv, "bob")
	bob2 := link(t, srv, bob, "tablet")
	if _, err := sendTo(t, alice, "bob", []uint32{1, 2}, "before"); err != nil { // also caches bob's devices
		t.Fatal(err)
	}
	old := connect(t, bob)
	if got := recvUntilEmpty(t, old); len(got) != 1 {
		t.Fatalf("bob's phone got %d envelopes before the recovery", len(got))
	}

	key2, hash2 := parleytest.RecoveryKey()
	nb, err := recoverAs(t, srv, "Bob", key, hash2)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	if nb.name != "bob" || nb.creds.DeviceID != 3 {
		t.Fatalf("recovered as %s.%d, want bob.3 (above every ID bob had)", nb.name, nb.creds.DeviceID)
	}

	// The old devices are cut off.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := old.Recv(rctx); err == nil || rctx.Err() != nil {
		t.Fatalf("old device's socket stayed open (%v)", err)
	}
	for _, u := range []*user{bob, bob2} {
		_, err := u.c.Devices(ctx)
		wantCode(t, err, api.CodeUnauthorized)
	}
	// The new device is the account's only one, with an empty queue.
	if devs, err := nb.c.Devices(ctx); err != nil || len(devs) != 1 || devs[0].ID != 3 || devs[0].Name != "recovered" {
		t.Fatalf("devices after recovery: %+v, %v", devs, err)
	}
	s := connect(t, nb)
	if got := recvUntilEmpty(t, s); len(got) != 0 {
		t.Fatalf("the new device got %d envelopes of the old ones", len(got))
	}
	// Bundles carry the new identity key.
	if ik, ids := bundleIdentity(t, alice, "bob"); !bytes.Equal(ik, nb.id.Public().Encode()) || !slices.Equal(ids, []uint32{3}) {
		t.Fatalf("bundles after recovery: devices %v, new identity key %v", ids, bytes.Equal(ik, nb.id.Public().Encode()))
	}
	// A sender with the old list learns of the change at once.
	_, err = sendTo(t, alice, "bob", []uint32{1, 2}, "to the old devices")
	if ae := wantCode(t, err, api.CodeStaleDevices); !slices.Equal(ae.Missing, []uint32{3}) || !slices.Equal(ae.Extra, []uint32{1, 2}) {
		t.Fatalf("stale_devices missing %v extra %v, want [3] and [1 2]", ae.Missing, ae.Extra)
	}
	if _, err := sendTo(t, alice, "bob", []uint32{3}, "after"); err != nil {
		t.Fatal(err)
	}
	if f := recvDeliver(t, s); string(f.Content) != "after" {
		t.Fatalf("new device got %q", f.Content)
	}

	// The key was replaced: the old one fails, the new one works, and
	// without a new hash it keeps working.
	_, err = recoverAs(t, srv, "bob", key, nil)
	wantCode(t, err, api.CodeUnauthorized)
	for _, want := range []uint32{4, 5} {
		u, err := recoverAs(t, srv, "bob", key2, nil)
		if err != nil || u.creds.DeviceID != want {
			t.Fatalf("recover with the new key: %+v, %v; want device %d", u, err, want)
		}
	}
	_, err = nb.c.Devices(ctx)
	wantCode(t, err, api.CodeUnauthorized)
}

// TestRecoverChecksRequest: the request is checked whole, as registration
// is, before the recovery key; a refused request changes nothing.
func TestRecoverChecksRequest(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{})
	anon := transport.New(srv.URL, nil)
	req, _, err := parleytest.Registration("dora", 0)
	if err != nil {
		t.Fatal(err)
	}
	req.RecoveryKeyHash = make([]byte, 31)
	_, err = anon.Register(ctx, req)
	wantCode(t, err, api.CodeBadRequest)
	dora, key := registerRecoverable(t, srv, "dora")

	stranger, err := keys.GenerateIdentityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(*api.RecoverRequest)
		code   api.Code
	}{
		{"no device name", func(r *api.RecoverRequest) { r.DeviceName = "" }, api.CodeBadRequest},
		{"short new hash", func(r *api.RecoverRequest) { r.NewRecoveryKeyHash = make([]byte, 16) }, api.CodeBadRequest},
		{"bad identity key", func(r *api.RecoverRequest) { r.IdentityKey = r.IdentityKey[:32] }, api.CodeBadRequest},
		{"no signed prekey", func(r *api.RecoverRequest) { r.PreKeys.SignedPreKey = nil }, api.CodeBadRequest},
		{"no last-resort prekey", func(r *api.RecoverRequest) { r.PreKeys.LastResortKEMPreKey = nil }, api.CodeBadRequest},
		{"prekeys of another identity", func(r *api.RecoverRequest) {
			var err error
			if r.PreKeys, err = parleytest.PreKeys(stranger, 1, 1); err != nil {
				t.Fatal(err)
			}
		}, api.CodeBadSignature},
	} {
		for _, k := range []string{key, "wrong"} { // the same answer, right key or not
			r, _, err := parleytest.Recovery("dora", k, 1)
			if err != nil {
				t.Fatal(err)
			}
			c.change(&r)
			var ae *api.Error
			if _, err := anon.Recover(ctx, r); !errors.As(err, &ae) || ae.Code != c.code {
				t.Errorf("%s: %v, want %s", c.name, err, c.code)
			}
		}
	}
	// An unknown field is refused, as on every endpoint.
	resp, err := http.Post(srv.URL+"/v1/accounts/recover", "application/json", strings.NewReader(`{"username":"dora","extra":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown field: HTTP %d", resp.StatusCode)
	}
	if devs, err := dora.c.Devices(ctx); err != nil || len(devs) != 1 {
		t.Fatalf("dora's devices after refused recoveries: %+v, %v", devs, err)
	}
}

// TestRecoverIgnoresDeviceCredentials: the recovery key is the only
// credential of the endpoint; a device's valid credentials sent along do
// not stand in for it.
func TestRecoverIgnoresDeviceCredentials(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	erin, _ := registerRecoverable(t, srv, "erin")
	req, _, err := parleytest.Recovery("erin", "not the key", 1)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/accounts/recover", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.SetBasicAuth("erin."+fmt.Sprint(erin.creds.DeviceID), erin.creds.Secret)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("recovery with a wrong key and erin's credentials: HTTP %d, want 401", resp.StatusCode)
	}
	if devs, err := erin.c.Devices(context.Background()); err != nil || len(devs) != 1 {
		t.Fatalf("erin's devices: %+v, %v", devs, err)
	}
}

// TestRecoverIsRateLimited: recovery takes from the same per-IP bucket as
// registration, before the body is read.
func TestRecoverIsRateLimited(t *testing.T) {
	srv := parleytest.Start(t, server.Config{RegisterRate: 0.001})
	anon := transport.New(srv.URL, nil)
	req, _, err := parleytest.Recovery("frank", "guess", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The burst is 5: four guesses and a registration are heard.
	for range 4 {
		_, err := anon.Recover(context.Background(), req)
		wantCode(t, err, api.CodeUnauthorized)
	}
	reg, _, err := parleytest.Registration("frank", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Register(context.Background(), reg); err != nil {
		t.Fatal(err)
	}
	_, err = anon.Recover(context.Background(), req)
	wantCode(t, err, api.CodeRateLimited)
}

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
