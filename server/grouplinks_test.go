package server_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestGroupLinks: the account that stores a link may read, replace and
// delete it; another account may read it but neither replace nor delete
// it; a deleted link is gone for everyone.
func TestGroupLinks(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	alice2 := link(t, srv, alice, "tablet")
	bob := register(t, srv, "bob", 0)
	id := [16]byte{0xfb, 0xff, 1, 2, 3}

	_, err := bob.c.GroupLink(ctx, id)
	wantCode(t, err, api.CodeNotFound)
	if err := alice.c.PutGroupLink(ctx, id, []byte("sealed snapshot 1")); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*user{alice, alice2, bob} {
		if got, err := u.c.GroupLink(ctx, id); err != nil || string(got) != "sealed snapshot 1" {
			t.Fatalf("%s reads %q, %v", u.name, got, err)
		}
	}
	// Any device of the owner's account replaces it.
	if err := alice2.c.PutGroupLink(ctx, id, []byte("sealed snapshot 2")); err != nil {
		t.Fatal(err)
	}
	if ae := wantCode(t, bob.c.PutGroupLink(ctx, id, []byte("hijack")), api.CodeForbidden); ae.Status != 403 {
		t.Fatalf("status %d, want 403", ae.Status)
	}
	wantCode(t, bob.c.DeleteGroupLink(ctx, id), api.CodeForbidden)
	if got, err := bob.c.GroupLink(ctx, id); err != nil || string(got) != "sealed snapshot 2" {
		t.Fatalf("after bob's attempts: %q, %v", got, err)
	}
	if err := alice.c.DeleteGroupLink(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*user{alice, bob} {
		_, err := u.c.GroupLink(ctx, id)
		wantCode(t, err, api.CodeNotFound)
	}
	wantCode(t, alice.c.DeleteGroupLink(ctx, id), api.CodeNotFound)

	// The largest snapshot is stored whole; one byte more is too_large.
	big := bytes.Repeat([]byte{7}, api.MaxGroupLinkSnapshot)
	if err := bob.c.PutGroupLink(ctx, id, big); err != nil {
		t.Fatalf("a 1 MiB snapshot: %v", err)
	}
	if got, err := alice.c.GroupLink(ctx, id); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the 1 MiB snapshot read back: %d bytes, %v", len(got), err)
	}
	if ae := wantCode(t, bob.c.PutGroupLink(ctx, id, append(big, 7)), api.CodeTooLarge); ae.Status != 413 {
		t.Fatalf("status %d, want 413", ae.Status)
	}
}

// TestGroupLinksPerAccount: an account holds at most api.MaxGroupLinks
// links; replacing one is not a new one; deleting one frees a place.
func TestGroupLinksPerAccount(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	id := func(n int) [16]byte { return [16]byte{byte(n), byte(n >> 8), 0x5a} }
	for n := range api.MaxGroupLinks {
		if err := alice.c.PutGroupLink(ctx, id(n), nil); err != nil {
			t.Fatalf("link %d: %v", n+1, err)
		}
	}
	if ae := wantCode(t, alice.c.PutGroupLink(ctx, id(api.MaxGroupLinks), nil), api.CodeTooManyLinks); ae.Status != 429 {
		t.Fatalf("status %d, want 429", ae.Status)
	}
	if err := alice.c.PutGroupLink(ctx, id(0), []byte("replaced")); err != nil {
		t.Fatalf("replacing with %d links: %v", api.MaxGroupLinks, err)
	}
	if err := bob.c.PutGroupLink(ctx, id(api.MaxGroupLinks), nil); err != nil {
		t.Fatalf("another account's link: %v", err)
	}
	if err := alice.c.DeleteGroupLink(ctx, id(1)); err != nil {
		t.Fatal(err)
	}
	if err := alice.c.PutGroupLink(ctx, id(api.MaxGroupLinks+1), nil); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}

// TestGroupLinkRequests: the routes need credentials; an ID that is not 16
// bytes of canonical unpadded base64url is bad_request; the body is
// decoded exactly.
func TestGroupLinkRequests(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	const good = "AAECAwQFBgcICQoLDA0ODw" // bytes 0 to 15
	do := func(method, id, body string, auth bool) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/v1/group-links/"+id, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.SetBasicAuth(alice.creds.Username+".1", alice.creds.Secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, method := range []string{http.MethodPut, http.MethodGet, http.MethodDelete} {
		if resp := do(method, good, `{"snapshot":""}`, false); resp.StatusCode != 401 {
			t.Errorf("%s without credentials: %s", method, resp.Status)
		}
		for _, id := range []string{
			"AAECAwQFBgcICQoLDA0ODx", // low bits of the last character set
			"AAECAwQFBgcICQoLDA0ODw==", "AAECAwQFBgcICQoLDA0OD", "AAECAwQFBgcICQoLDA0ODwA",
			"AAECAwQFBgcICQoLDA0OD+", "AAECAwQFBgcICQoLDA0OD%0A", "AAECAwQFBgcICQoLDA0O%0AD",
		} {
			if resp := do(method, id, `{"snapshot":""}`, true); resp.StatusCode != 400 {
				t.Errorf("%s %s: %s, want 400", method, id, resp.Status)
			}
		}
	}
	for _, body := range []string{``, `{"snapshot":"","snapshot":""}`, `{"Snapshot":""}`, `{"snapshot":"", "owner":"bob"}`, `{"snapshot":"AA"}`} {
		if resp := do(http.MethodPut, good, body, true); resp.StatusCode != 400 {
			t.Errorf("PUT %s: %s, want 400", body, resp.Status)
		}
	}
	if resp := do(http.MethodPut, good, `{"snapshot":"AAEC"}`, true); resp.StatusCode != 204 {
		t.Fatalf("PUT: %s, want 204", resp.Status)
	}
	got, err := alice.c.GroupLink(context.Background(), [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	if err != nil || !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Fatalf("GroupLink = %v, %v", got, err)
	}
	if resp := do(http.MethodDelete, good, ``, true); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %s, want 204", resp.Status)
	}
}
