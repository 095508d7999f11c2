package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-chat/parley/client"
)

// staleForever is a server, seen through the client's transport, that
// answers every send to many with a stale-devices answer naming
// accounts (the ones given, or none of the request's), without storing
// anything.
type staleForever struct {
	on       atomic.Bool
	accounts string // the JSON of the answer's accounts
	answered atomic.Int64
}

func (s *staleForever) RoundTrip(r *http.Request) (*http.Response, error) {
	if !s.on.Load() || r.Method != http.MethodPut || r.URL.Path != "/v1/messages" {
		return http.DefaultTransport.RoundTrip(r)
	}
	s.answered.Add(1)
	body := `{"code":"stale_devices","message":"Some recipients' devices changed.","accounts":` + s.accounts + `}`
	return &http.Response{StatusCode: http.StatusConflict, Status: "409 Conflict", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r}, nil
}

// TestAttackServerAnswersStaleForever: a server that answers a group
// change's send to many, again and again, that the devices are stale,
// whether it names an account of the send with a device that does not
// exist or accounts the send never named, gets a bounded number of
// requests and no more; the change is kept and the user told which
// members it did not reach. Nothing hangs.
func TestAttackServerAnswersStaleForever(t *testing.T) {
	for _, c := range []struct {
		name, accounts string
		most           int64
	}{
		{"an account of the send", `[{"username":"bob","missing":[7]}]`, 4}, // maxSendAttempts rounds
		{"accounts not in the send", `[{"username":"mallory","extra":[1]}]`, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := start(t)
			ctx := context.Background()
			lie := &staleForever{accounts: c.accounts}
			alice := registerWith(t, srv, "alice", lie)
			register(t, srv, "bob")
			g, err := alice.CreateGroup(ctx, "Stale", "bob")
			if err != nil {
				t.Fatal(err)
			}
			lie.on.Store(true)
			err = alice.RenameGroup(ctx, g.Conversation, "Renamed")
			var de *client.GroupDeliveryError
			if !errors.As(err, &de) || len(de.Users) != 1 || de.Users[0] != "bob" {
				t.Fatalf("RenameGroup = %v, want a delivery error naming bob", err)
			}
			if n := lie.answered.Load(); n < 1 || n > c.most {
				t.Fatalf("the client sent %d requests to the lying server, want 1 to %d", n, c.most)
			}
			got, err := alice.Group(ctx, g.Conversation)
			if err != nil || got.Title != "Renamed" {
				t.Fatalf("the change is not kept: %+v, %v", got, err)
			}
		})
	}
}
