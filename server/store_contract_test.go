package server_test

import (
	"context"
	"slices"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestLinkWithBadPreKeysKeepsToken: prekeys not signed by the account's
// identity key are refused before the link token is used, so the same
// token then links the device with good keys.
func TestLinkWithBadPreKeysKeepsToken(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{})
	bob := register(t, srv, "bob", 0)
	tok, err := bob.c.LinkToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	anon := transport.New(srv.URL, nil)

	stranger, err := keys.GenerateIdentityKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := api.LinkRequest{LinkToken: tok.Token, DeviceName: "tablet"}
	if bad.PreKeys, err = parleytest.PreKeys(stranger, 100, 1); err != nil {
		t.Fatal(err)
	}
	_, err = anon.Link(ctx, bad)
	wantCode(t, err, api.CodeBadSignature)
	// An unknown token is refused before its keys are looked at.
	unknown := bad
	unknown.LinkToken = "not a token"
	_, err = anon.Link(ctx, unknown)
	wantCode(t, err, api.CodeTokenInvalid)
	if devs, err := bob.c.Devices(ctx); err != nil || len(devs) != 1 {
		t.Fatalf("devices after a refused link = %+v, %v; want device 1 alone", devs, err)
	}

	good := api.LinkRequest{LinkToken: tok.Token, DeviceName: "tablet"}
	if good.PreKeys, err = parleytest.PreKeys(bob.id, 100, 1); err != nil {
		t.Fatal(err)
	}
	creds, err := anon.Link(ctx, good)
	if err != nil || creds.DeviceID != 2 {
		t.Fatalf("link with the same token and good keys = %+v, %v; want device 2", creds, err)
	}
	// The device is reachable at once: its keys came with it.
	alice := register(t, srv, "alice", 0)
	if b, err := alice.c.Bundles(ctx, "bob", 2); err != nil || len(b.Bundles) != 1 {
		t.Fatalf("bundle of the linked device = %+v, %v", b, err)
	}
	_, err = anon.Link(ctx, good)
	wantCode(t, err, api.CodeTokenInvalid)
}

// TestDeviceIDsAreNotReused: a device linked after a removal gets a new
// ID, so a sender holding the removed device's ID learns of the change
// from stale_devices instead of reaching the new device with the old
// device's session.
func TestDeviceIDsAreNotReused(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{})
	bob := register(t, srv, "bob", 0)
	alice := register(t, srv, "alice", 0)
	old := link(t, srv, bob, "old phone")
	if old.creds.DeviceID != 2 {
		t.Fatalf("first linked device = %d, want 2", old.creds.DeviceID)
	}
	if err := bob.c.RemoveDevice(ctx, 2); err != nil {
		t.Fatal(err)
	}
	next := link(t, srv, bob, "new phone")
	if next.creds.DeviceID != 3 {
		t.Fatalf("device linked after removing 2 = %d, want 3", next.creds.DeviceID)
	}
	devs, err := bob.c.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint32
	for _, d := range devs {
		ids = append(ids, d.ID)
	}
	if !slices.Equal(ids, []uint32{1, 3}) {
		t.Fatalf("devices = %v, want [1 3]", ids)
	}
	_, err = sendTo(t, alice, "bob", []uint32{1, 2}, "to the old list")
	ae := wantCode(t, err, api.CodeStaleDevices)
	if !slices.Equal(ae.Missing, []uint32{3}) || !slices.Equal(ae.Extra, []uint32{2}) {
		t.Fatalf("stale_devices missing %v extra %v, want [3] and [2]", ae.Missing, ae.Extra)
	}
}
