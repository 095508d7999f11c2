package server_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// each is a send of envelopes of their own (spec/api.md §6.6) to the
// recipients.
func each(recipients ...api.MultiRecipient) api.MultiSendRequest {
	return api.MultiSendRequest{ClientID: clientID(), Recipients: recipients}
}

// own is an account of a send of envelopes: device, type, content, for
// each device in turn.
func own(name string, envs ...api.OutgoingEnvelope) api.MultiRecipient {
	return api.MultiRecipient{Username: name, Envelopes: envs}
}

func env(device uint32, typ uint8, content string) api.OutgoingEnvelope {
	return api.OutgoingEnvelope{DeviceID: device, Type: typ, Content: []byte(content)}
}

// TestSendToManyEnvelopes: one request carrying an envelope of its own for
// every device of three accounts (the sender's other device among them)
// reaches each device with its own content and type, the one client ID and
// one timestamp; the store holds each content in its queue row and no
// shared body. The same request again is a duplicate and delivers nothing
// new. A stale list is refused whole with every account it got wrong,
// storing nothing, as a send of one content is.
func TestSendToManyEnvelopes(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	alice2 := link(t, srv, alice, "tablet")
	bob := register(t, srv, "bob", 0)
	bob2 := link(t, srv, bob, "tablet")
	carol := register(t, srv, "carol", 0)

	_, err := alice.c.SendMulti(ctx, each(own("bob", env(1, 2, "x")), own("carol", env(1, 2, "x"), env(9, 2, "x")), own("alice", env(2, 2, "x"))))
	ae := wantCode(t, err, api.CodeStaleDevices)
	if want := []api.StaleAccount{{Username: "bob", Missing: []uint32{2}}, {Username: "carol", Extra: []uint32{9}}}; fmt.Sprint(ae.Accounts) != fmt.Sprint(want) {
		t.Fatalf("stale answer %+v, want %+v", ae.Accounts, want)
	}

	req := each(own("bob", env(2, 3, "for bob's tablet"), env(1, 2, "for bob's phone")),
		own("carol", env(1, 2, "for carol")), own("alice", env(2, 3, "for alice's tablet")))
	if res, err := alice.c.SendMulti(ctx, req); err != nil || res.Duplicate {
		t.Fatalf("SendMulti = %+v, %v", res, err)
	}
	db := openDB(t, srv)
	if rows, _, _, ownBytes := storedBodies(t, db); rows != 0 || ownBytes != int64(len("for bob's tablet")+len("for bob's phone")+len("for carol")+len("for alice's tablet")) {
		t.Fatalf("stored %d shared bodies and %d bytes in queue rows; want none shared, each content in its row", rows, ownBytes)
	}
	if res, err := alice.c.SendMulti(ctx, req); err != nil || !res.Duplicate {
		t.Fatalf("the same send again = %+v, %v; want a duplicate", res, err)
	}
	var at int64
	for _, c := range []struct {
		u    *user
		typ  uint8
		want string
	}{{bob, 2, "for bob's phone"}, {bob2, 3, "for bob's tablet"}, {carol, 2, "for carol"}, {alice2, 3, "for alice's tablet"}} {
		got := recvUntilEmpty(t, connect(t, c.u))
		if len(got) != 1 {
			t.Fatalf("%s.%d: %d deliveries, want 1", c.u.name, c.u.creds.DeviceID, len(got))
		}
		f := got[0]
		if at == 0 {
			at = f.Timestamp
		}
		if string(f.Content) != c.want || f.EnvType != c.typ || f.Sender != "alice" || f.SenderDevice != 1 ||
			!bytes.Equal(f.ClientID, req.ClientID) || f.Timestamp != at {
			t.Fatalf("%s.%d: %q type %d from %s.%d, client id %x, at %d", c.u.name, c.u.creds.DeviceID,
				f.Content, f.EnvType, f.Sender, f.SenderDevice, f.ClientID, f.Timestamp)
		}
	}
	if n := metricValue(t, srv, "parley_envelopes_in_total"); n != 8 {
		t.Fatalf("parley_envelopes_in_total = %v, want 8 (4 stored, 4 duplicates)", n)
	}
}

// TestSendToManyEnvelopesRefused: a request mixing the two forms, naming
// a device twice or carrying an envelope over the bounds is refused before
// any account is looked at, and stores nothing.
func TestSendToManyEnvelopesRefused(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	register(t, srv, "carol", 0)
	withContent := each(own("bob", env(1, 2, "x")))
	withContent.Content = []byte("shared")
	both := each(api.MultiRecipient{Username: "bob", Devices: []uint32{1}, Envelopes: []api.OutgoingEnvelope{env(1, 2, "x")}})
	mixed := each(to("bob", 1), own("carol", env(1, 2, "x")))
	big := each(own("bob", api.OutgoingEnvelope{DeviceID: 1, Content: make([]byte, api.MaxEnvelope+1)}))
	bigEphemeral := each(own("bob", api.OutgoingEnvelope{DeviceID: 1, Content: make([]byte, api.MaxEphemeral+1)}))
	bigEphemeral.Ephemeral = true
	for _, c := range []struct {
		name string
		req  api.MultiSendRequest
		code api.Code
	}{
		{"envelopes and a shared content", withContent, api.CodeBadRequest},
		{"devices and envelopes in one account", both, api.CodeBadRequest},
		{"devices for one account, envelopes for another", mixed, api.CodeBadRequest},
		{"a device twice", each(own("bob", env(1, 2, "x"), env(1, 2, "y"))), api.CodeBadRequest},
		{"an envelope over 256 KiB", big, api.CodeTooLarge},
		{"an ephemeral envelope over 4 KiB", bigEphemeral, api.CodeTooLarge},
	} {
		_, err := alice.c.SendMulti(ctx, c.req)
		if ae := wantCode(t, err, c.code); ae.Message == "" {
			t.Fatalf("%s: no message", c.name)
		}
	}
	if got := recvUntilEmpty(t, connect(t, bob)); len(got) != 0 {
		t.Fatalf("bob got %d envelopes of refused sends", len(got))
	}
	// The largest envelope is accepted.
	if _, err := alice.c.SendMulti(ctx, each(own("bob", api.OutgoingEnvelope{DeviceID: 1, Content: make([]byte, api.MaxEnvelope)}))); err != nil {
		t.Fatalf("a 256 KiB envelope: %v", err)
	}
}

// TestSendToManyEnvelopesEphemeral: an ephemeral send of envelopes gives
// each connected device its own, with Seq 0, and stores nothing.
func TestSendToManyEnvelopesEphemeral(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	carol := register(t, srv, "carol", 0)
	sb, sc := connect(t, bob), connect(t, carol)
	recvUntilEmpty(t, sb)
	recvUntilEmpty(t, sc)
	req := each(own("bob", env(1, 2, "typing, bob")), own("carol", env(1, 3, "typing, carol")))
	req.Ephemeral = true
	if _, err := alice.c.SendMulti(ctx, req); err != nil {
		t.Fatal(err)
	}
	for i, s := range []*transport.Socket{sb, sc} {
		want := []string{"typing, bob", "typing, carol"}[i]
		if f := recvDeliver(t, s); f.Seq != 0 || string(f.Content) != want || f.EnvType != uint8(2+i) {
			t.Fatalf("ephemeral delivery: seq %d %q type %d, want %q", f.Seq, f.Content, f.EnvType, want)
		}
	}
	if n := metricValue(t, srv, "parley_queued_envelopes"); n != 0 {
		t.Fatalf("parley_queued_envelopes = %v, want 0", n)
	}
}

// BenchmarkSendToManyEnvelopes1000Devices: accept one send of an envelope
// of its own (300 B, about a sender-key distribution in a Double Ratchet
// message) to each of 1,000 devices.
func BenchmarkSendToManyEnvelopes1000Devices(b *testing.B) {
	alice, names := thousandMembers(b)
	var rs []api.MultiRecipient
	for _, n := range names {
		rs = append(rs, own(n, api.OutgoingEnvelope{DeviceID: 1, Type: 2, Content: make([]byte, 300)}))
	}
	benchSendMulti(b, alice, func() api.MultiSendRequest { return each(rs...) })
}
