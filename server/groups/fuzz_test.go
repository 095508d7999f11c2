package groups

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/api/jsonbody"
	"github.com/parley-chat/parley/internal/fuzztest"
)

func TestMain(m *testing.M) { fuzztest.Main(m) }

// FuzzParseLinkID: an accepted ID is 16 bytes whose one spelling is the
// input (FormatLinkID gives it back), and every proper prefix is refused.
func FuzzParseLinkID(f *testing.F) {
	f.Add("AAECAwQFBgcICQoLDA0ODw") // expect: ok
	f.Add("_____________________w") // expect: ok
	f.Add("AAECAwQFBgcICQoLDA0ODx") // expect: refused, padding bits set
	f.Add("AAECAwQFBgcICQoLDA0ODw==")
	f.Add("AAECAwQFBgcICQoLDA0O\nD")
	f.Add("AAECAwQFBgcICQoLDA0OD+")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseLinkID(s)
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != api.CodeBadRequest {
				t.Fatalf("ParseLinkID(%q) = %v, want a bad_request", s, err)
			}
			return
		}
		if got := FormatLinkID(id); got != s {
			t.Fatalf("ParseLinkID(%q) = %x, which is spelt %q", s, id, got)
		}
		for i := range len(s) {
			if _, err := ParseLinkID(s[:i]); err == nil {
				t.Fatalf("prefix %q of %q accepted", s[:i], s)
			}
		}
	})
}

func TestParseLinkID(t *testing.T) {
	want := [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if id, err := ParseLinkID("AAECAwQFBgcICQoLDA0ODw"); err != nil || id != want {
		t.Fatalf("ParseLinkID = %x, %v", id, err)
	}
	for _, s := range []string{"AAECAwQFBgcICQoLDA0ODx", "AAECAwQFBgcICQoLDA0OD/", "AAECAwQFBgcICQoLDA0O\rD", base64.StdEncoding.EncodeToString(want[:])} {
		if _, err := ParseLinkID(s); err == nil {
			t.Errorf("ParseLinkID(%q) accepted", s)
		}
	}
}

// FuzzMultiSendRequest: a body of PUT /v1/messages, read with the API's
// exact decoder, then checked as Send checks it before any lookup. It never
// panics; a refusal is an *api.Error with a code; a body the decoder takes
// decodes again, once re-encoded, into the same value; an accepted request
// obeys the rules check enforces.
func FuzzMultiSendRequest(f *testing.F) {
	for _, seed := range []string{
		`{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":3,"content":"aGk=","recipients":[{"username":"bob","devices":[1,2]}]}`,
		`{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":3,"content":"","ephemeral":true,"recipients":[{"username":"bob","devices":[1]},{"username":"alice","devices":[2]}]}`,
		`{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":3,"content":null,"recipients":[{"username":"Bob","devices":[1]},{"username":"bob","devices":[1]}]}`,
		`{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":3,"content":null,"recipients":[{"username":"bob","devices":[1,1]}]}`,
		`{"client_id":"AAAA","type":3,"content":null,"recipients":[]}`,
		`{"client_id":null,"type":256,"recipients":null}`,
		`{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":3,"content":"","recipients":[{"username":"","devices":null},{"username":"\u0000","devices":[4294967295]}]}`,
		`{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":0,"content":null,"recipients":[{"username":"bob","devices":null,"envelopes":[{"device_id":1,"type":2,"content":"aGk="},{"device_id":2,"type":3,"content":"aG8="}]},{"username":"carol","devices":null,"envelopes":[{"device_id":1,"type":3,"content":""}]}]}`,
		`{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":0,"content":"aGk=","recipients":[{"username":"bob","devices":null,"envelopes":[{"device_id":1,"type":2,"content":"aGk="}]}]}`,
		`{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":0,"content":null,"recipients":[{"username":"bob","devices":[1],"envelopes":[{"device_id":1,"type":2,"content":"aGk="}]}]}`,
		`{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":0,"content":null,"recipients":[{"username":"bob","devices":[1]},{"username":"carol","devices":null,"envelopes":[{"device_id":1,"type":2,"content":"aGk="}]}]}`,
		`{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":0,"content":null,"ephemeral":true,"recipients":[{"username":"bob","devices":null,"envelopes":[{"device_id":7,"type":2,"content":"aGk="},{"device_id":7,"type":2,"content":"aGk="}]}]}`,
	} {
		f.Add([]byte(seed), 2)
	}
	f.Fuzz(func(t *testing.T, body []byte, maxMembers int) {
		var req api.MultiSendRequest
		if jsonbody.DecodeRequest(bytes.NewReader(body), &req) != nil {
			return
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var req2 api.MultiSendRequest
		if err := jsonbody.DecodeRequest(bytes.NewReader(again), &req2); err != nil || !reflect.DeepEqual(req, req2) {
			t.Fatalf("re-encoded %s decodes to %+v, %v; want %+v", again, req2, err, req)
		}
		p, err := check(&req, "alice", maxMembers)
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code == "" || ae.Status < 400 || !strings.HasSuffix(ae.Message, ".") {
				t.Fatalf("check refused with %#v", err)
			}
			return
		}
		if len(req.ClientID) != api.ClientIDSize || len(req.Recipients) == 0 || len(req.Content) > api.MaxEnvelope ||
			req.Ephemeral && len(req.Content) > api.MaxEphemeral || len(p.recipients) != len(req.Recipients) {
			t.Fatalf("check accepted %+v", req)
		}
		each := slices.ContainsFunc(req.Recipients, func(r api.MultiRecipient) bool { return len(r.Envelopes) > 0 })
		if p.each != each || each && len(req.Content) > 0 {
			t.Fatalf("check accepted %+v as each=%v", req, p.each)
		}
		names := map[string]bool{}
		others := 0
		for i, r := range p.recipients {
			if each {
				if len(req.Recipients[i].Devices) > 0 || len(r.envs) != len(r.devices) {
					t.Fatalf("check accepted devices beside envelopes in %+v", req.Recipients[i])
				}
				for j, e := range r.envs {
					if e.DeviceID != r.devices[j] || len(e.Content) > api.MaxEnvelope || req.Ephemeral && len(e.Content) > api.MaxEphemeral {
						t.Fatalf("check accepted envelope %+v", e)
					}
				}
			}
			if r.name != "" {
				if names[r.name] {
					t.Fatalf("account %q accepted twice", r.name)
				}
				names[r.name] = true
			}
			if r.name != "alice" {
				others++
			}
			seen := map[uint32]bool{}
			for _, d := range r.devices {
				if seen[d] {
					t.Fatalf("device %d of %q accepted twice", d, r.asked)
				}
				seen[d] = true
			}
		}
		if others > maxMembers {
			t.Fatalf("%d accounts accepted past a bound of %d", others, maxMembers)
		}
	})
}
