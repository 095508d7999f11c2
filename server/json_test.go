package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"unicode"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// jsonEndpoint is one endpoint that takes a JSON body, with a fresh valid
// body and the JSON of another value for the body's first field.
type jsonEndpoint struct {
	name, method, path string
	auth               func(*http.Request) // nil: no credentials
	body               func(t *testing.T) []byte
	decoy              string // another value for the first field
}

// TestJSONBodiesAreExact sends to every endpoint that decodes JSON a valid
// body changed in one way each: its first field's name in another case,
// that field given twice (a decoy value first, the real one last), an
// unknown field, a second value after the first. encoding/json, which the
// server used before, took the first two. Each is refused with bad_request
// and a sentence (spec/api.md §2.1), and changes nothing: the valid body
// is still accepted afterwards, once.
func TestJSONBodiesAreExact(t *testing.T) {
	const adminToken = "operator-secret"
	srv := parleytest.Start(t, server.Config{AdminToken: adminToken})
	ctx := context.Background()
	alice := register(t, srv, "alice", 2)
	bob := register(t, srv, "bob", 2)
	_, doraKey := registerRecoverable(t, srv, "dora")
	p := newPublisher(t)
	p.create(alice, "news")
	_, post := p.post(alice, "news", "first")
	rec, err := channel.Parse(post)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bob.c.LinkToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	as := func(u *user) func(*http.Request) {
		return func(r *http.Request) {
			r.SetBasicAuth(u.creds.Username+"."+strconv.FormatUint(uint64(u.creds.DeviceID), 10), u.creds.Secret)
		}
	}
	operator := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adminToken) }
	marshal := func(t *testing.T, v any, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sum := sha([]byte("x"))
	endpoints := []jsonEndpoint{
		{"register", "POST", "/v1/accounts", nil, func(t *testing.T) []byte {
			req, _, err := parleytest.Registration("carol", 1)
			return marshal(t, req, err)
		}, `"mallory"`},
		{"recover", "POST", "/v1/accounts/recover", nil, func(t *testing.T) []byte {
			req, _, err := parleytest.Recovery("dora", doraKey, 1)
			return marshal(t, req, err)
		}, `"alice"`},
		{"link", "POST", "/v1/devices", nil, func(t *testing.T) []byte {
			req := api.LinkRequest{LinkToken: tok.Token, DeviceName: "tablet"}
			var err error
			req.PreKeys, err = parleytest.PreKeys(bob.id, 100, 1)
			return marshal(t, req, err)
		}, `"no-such-token"`},
		{"prekeys", "PUT", "/v1/keys", as(alice), func(t *testing.T) []byte {
			u, err := parleytest.PreKeys(alice.id, 300, 1)
			return marshal(t, u, err)
		}, `null`},
		{"send", "PUT", "/v1/messages/alice", as(bob), func(t *testing.T) []byte {
			return marshal(t, api.SendRequest{ClientID: clientID(), Envelopes: []api.OutgoingEnvelope{{DeviceID: 1, Type: 1, Content: []byte("hi")}}}, nil)
		}, `"AAAAAAAAAAAAAAAAAAAAAA=="`},
		{"upload", "POST", "/v1/uploads", as(alice), func(t *testing.T) []byte {
			return marshal(t, api.UploadRequest{Size: 1, SHA256: sum, ContentType: "image/png"}, nil)
		}, `9`},
		{"channel", "POST", "/v1/channels", as(bob), func(t *testing.T) []byte {
			q := newPublisher(t)
			return marshal(t, api.CreateChannelRequest{Handle: "bobs",
				Profile: q.sign(&channel.Record{Kind: channel.KindProfile, Title: "Bob's"})}, nil)
		}, `"taken"`},
		{"views", "POST", "/v1/channels/news/views", nil, func(t *testing.T) []byte {
			return marshal(t, api.ViewsRequest{IDs: [][]byte{rec.ID[:]}}, nil)
		}, `[]`},
		{"report", "POST", "/v1/reports", as(bob), func(t *testing.T) []byte {
			return marshal(t, api.ReportRequest{Channel: "news", Category: "spam"}, nil)
		}, `"nonexistent"`},
		{"profile", "PUT", "/v1/profile", as(bob), func(t *testing.T) []byte {
			return marshal(t, api.Profile{Version: 1, Ciphertext: []byte("sealed")}, nil)
		}, `2`},
		{"moderate", "POST", "/v1/admin/channels/news/suspend", operator, func(t *testing.T) []byte {
			return marshal(t, api.ModerationRequest{Admin: "olga", Reason: "test"}, nil)
		}, `"eve"`},
	}
	for _, e := range endpoints {
		t.Run(e.name, func(t *testing.T) {
			valid := e.body(t)
			first, rest := splitFirstKey(t, valid)
			for _, bad := range []struct{ name, body string }{
				{"name in another case", `{"` + recase(first) + `"` + rest},
				{"duplicate name", `{"` + first + `":` + e.decoy + `,"` + first + `"` + rest},
				{"unknown name", `{"not_a_field":1,"` + first + `"` + rest},
				{"second value", string(valid) + ` {}`},
			} {
				resp, ae := callJSON(t, srv.URL, e.method, e.path, e.auth, []byte(bad.body))
				if resp.StatusCode != http.StatusBadRequest || ae.Code != api.CodeBadRequest || ae.Message == "" {
					t.Errorf("%s: HTTP %d %q %q, want 400 bad_request with a sentence", bad.name, resp.StatusCode, ae.Code, ae.Message)
				}
			}
			if resp, ae := callJSON(t, srv.URL, e.method, e.path, e.auth, valid); resp.StatusCode/100 != 2 {
				t.Errorf("the valid body: HTTP %d %s %q", resp.StatusCode, ae.Code, ae.Message)
			}
		})
	}
	// The sends refused above stored nothing: alice's queue holds one message.
	if frames := recvUntilEmpty(t, connect(t, alice)); len(frames) != 1 {
		t.Errorf("alice has %d messages, want 1", len(frames))
	}
}

// splitFirstKey splits an encoded object `{"k"...` into k and what follows
// its closing quote.
func splitFirstKey(t *testing.T, b []byte) (key, rest string) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(`{"`)) {
		t.Fatalf("not an object with a first key: %s", b)
	}
	end := bytes.IndexByte(b[2:], '"')
	if end < 0 {
		t.Fatalf("no first key: %s", b)
	}
	return string(b[2 : 2+end]), string(b[2+end+1:])
}

// recase upper-cases the first letter of a name.
func recase(s string) string {
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// callJSON sends body and decodes the answer as an api.Error (empty for a
// success).
func callJSON(t *testing.T, base, method, path string, auth func(*http.Request), body []byte) (*http.Response, api.Error) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ae api.Error
	if resp.StatusCode/100 != 2 {
		if err := json.NewDecoder(resp.Body).Decode(&ae); err != nil {
			t.Fatalf("%s %s: HTTP %d with no error body: %v", method, path, resp.StatusCode, err)
		}
	}
	return resp, ae
}
