package server_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestProfiles: any device of an account stores its profile with a higher
// version each time; every authenticated device reads it; a version not
// above the stored one is stale_version naming the stored version; an
// unknown user is not_found and a user without a profile no_profile; a
// ciphertext over 8 KiB is too_large.
func TestProfiles(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	alice2 := link(t, srv, alice, "tablet")
	bob := register(t, srv, "bob", 0)

	_, err := bob.c.Profile(ctx, "alice")
	wantCode(t, err, api.CodeNoProfile)
	_, err = bob.c.Profile(ctx, "nobody")
	wantCode(t, err, api.CodeNotFound)
	_, err = bob.c.Profile(ctx, "not a name")
	wantCode(t, err, api.CodeNotFound)

	if err := alice.c.PutProfile(ctx, api.Profile{Version: 1, Ciphertext: []byte("sealed 1")}); err != nil {
		t.Fatal(err)
	}
	if err := alice2.c.PutProfile(ctx, api.Profile{Version: 2, Ciphertext: []byte("sealed 2")}); err != nil {
		t.Fatalf("the account's other device: %v", err)
	}
	for _, u := range []*user{alice, alice2, bob} {
		if p, err := u.c.Profile(ctx, "Alice"); err != nil || p.Version != 2 || string(p.Ciphertext) != "sealed 2" {
			t.Fatalf("%s reads %d %q, %v", u.name, p.Version, p.Ciphertext, err)
		}
	}
	for _, v := range []uint64{1, 2} {
		err := alice.c.PutProfile(ctx, api.Profile{Version: v, Ciphertext: []byte("rolled back")})
		if ae := wantCode(t, err, api.CodeStaleVersion); ae.Status != 409 || ae.Version != 2 {
			t.Fatalf("version %d: status %d, version %d; want 409 naming 2", v, ae.Status, ae.Version)
		}
	}
	for _, v := range []uint64{0, api.MaxProfileVersion + 1} {
		wantCode(t, alice.c.PutProfile(ctx, api.Profile{Version: v}), api.CodeBadRequest)
	}
	big := bytes.Repeat([]byte{7}, api.MaxProfileCiphertext)
	if err := bob.c.PutProfile(ctx, api.Profile{Version: api.MaxProfileVersion, Ciphertext: big}); err != nil {
		t.Fatalf("an 8 KiB ciphertext: %v", err)
	}
	err = bob.c.PutProfile(ctx, api.Profile{Version: 9, Ciphertext: append(big, 7)})
	if ae := wantCode(t, err, api.CodeTooLarge); ae.Status != 413 {
		t.Fatalf("status %d, want 413", ae.Status)
	}
	if p, err := alice.c.Profile(ctx, "bob"); err != nil || !bytes.Equal(p.Ciphertext, big) {
		t.Fatalf("bob's profile read back: %d bytes, %v", len(p.Ciphertext), err)
	}
	var ae *api.Error
	if _, err := transport.New(srv.URL, nil).Profile(ctx, "alice"); !errors.As(err, &ae) || ae.Code != api.CodeUnauthorized {
		t.Fatalf("without credentials: %v, want unauthorized", err)
	}
}

// TestProfileReadsAreBounded: one account reads 1,000 profiles at once,
// then about one a second (429 rate_limited past that); another
// account's reads are its own.
func TestProfileReadsAreBounded(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	if err := alice.c.PutProfile(ctx, api.Profile{Version: 1, Ciphertext: []byte("sealed")}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; n < 1100; n++ {
		if _, err := bob.c.Profile(ctx, "alice"); err != nil {
			if ae := wantCode(t, err, api.CodeRateLimited); ae.Status != 429 {
				t.Fatalf("status %d", ae.Status)
			}
			break
		}
	}
	if n < 1000 || n > 1005 {
		t.Fatalf("bob read %d profiles before 429, want 1,000 (and the few a second refills)", n)
	}
	if _, err := alice.c.Profile(ctx, "alice"); err != nil {
		t.Fatalf("alice's own reads are hers: %v", err)
	}
}
