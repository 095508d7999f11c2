package server_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/httpapi"
)

// sendEphemeral makes an ephemeral send of content to each of devices.
func sendEphemeral(t *testing.T, from *user, to string, devices []uint32, content []byte) (api.SendResponse, error) {
	t.Helper()
	req := api.SendRequest{ClientID: clientID(), Ephemeral: true}
	for _, d := range devices {
		req.Envelopes = append(req.Envelopes, api.OutgoingEnvelope{DeviceID: d, Type: 3, Content: content})
	}
	return from.c.Send(context.Background(), to, req)
}

// TestEphemeralReachesOnlyConnectedDevices: an ephemeral send is delivered
// at once, with Seq 0, to the recipient devices that are connected, and
// stored for none: a device that connects later finds its queue empty.
func TestEphemeralReachesOnlyConnectedDevices(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	bob2 := link(t, srv, bob, "tablet") // stays offline
	s := connect(t, bob)
	recvUntilEmpty(t, s)

	before := time.Now().UnixMilli()
	res, err := sendEphemeral(t, alice, "bob", []uint32{1, 2}, []byte("typing"))
	if err != nil || res.Duplicate {
		t.Fatalf("ephemeral send = %+v, %v", res, err)
	}
	f := recvDeliver(t, s)
	if f.Seq != 0 || string(f.Content) != "typing" || f.Sender != "alice" || f.SenderDevice != 1 || f.EnvType != 3 ||
		f.Timestamp < before || f.Timestamp > time.Now().UnixMilli() {
		t.Fatalf("ephemeral delivery = seq %d %q from %s.%d type %d at %d", f.Seq, f.Content, f.Sender, f.SenderDevice, f.EnvType, f.Timestamp)
	}
	// Acking Seq 0 is harmless; the next stored envelope still comes.
	if err := s.Write(context.Background(), &api.Frame{Type: api.FrameAck, Acks: []uint64{0}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sendTo(t, alice, "bob", []uint32{1, 2}, "stored"); err != nil {
		t.Fatal(err)
	}
	if f := recvDeliver(t, s); f.Seq == 0 || string(f.Content) != "stored" {
		t.Fatalf("after the ephemeral: seq %d %q", f.Seq, f.Content)
	}

	// The tablet was offline: it gets the stored envelope and nothing else.
	got := recvUntilEmpty(t, connect(t, bob2))
	if len(got) != 1 || string(got[0].Content) != "stored" {
		t.Fatalf("offline device got %d envelopes: %v", len(got), got)
	}
	if n := metricValue(t, srv, "parley_queued_envelopes"); n != 2 {
		t.Fatalf("parley_queued_envelopes = %v, want the 2 stored envelopes", n)
	}
	if n := metricValue(t, srv, "parley_envelopes_in_total"); n != 2 {
		t.Fatalf("parley_envelopes_in_total = %v, want 2", n)
	}
}

// TestEphemeralOverWebSocket: a Send frame with ephemeral set is answered
// like any send and delivered with Seq 0; its checks are a normal send's.
func TestEphemeralOverWebSocket(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	sa := connect(t, alice)
	recvUntilEmpty(t, sa)
	sb := connect(t, bob)
	recvUntilEmpty(t, sb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	send := func(id uint64, devices []uint32, content []byte) *api.Frame {
		t.Helper()
		f := &api.Frame{Type: api.FrameSend, RequestID: id, Recipient: "Bob", ClientID: clientID(), Ephemeral: true}
		for _, d := range devices {
			f.Envelopes = append(f.Envelopes, api.OutgoingEnvelope{DeviceID: d, Type: 3, Content: content})
		}
		if err := sa.Write(ctx, f); err != nil {
			t.Fatal(err)
		}
		for {
			r, err := sa.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Type == api.FrameSendResult && r.RequestID == id {
				return r
			}
		}
	}
	if r := send(1, []uint32{1}, []byte("typing")); r.Code != "" || r.Duplicate {
		t.Fatalf("ephemeral Send: code %q duplicate %v", r.Code, r.Duplicate)
	}
	if f := recvDeliver(t, sb); f.Seq != 0 || string(f.Content) != "typing" || f.Sender != "alice" {
		t.Fatalf("ephemeral delivery: seq %d %q from %s", f.Seq, f.Content, f.Sender)
	}
	if r := send(2, []uint32{1, 2}, []byte("x")); r.Code != api.CodeStaleDevices || fmt.Sprint(r.Missing, r.Extra) != "[] [2]" {
		t.Fatalf("stale ephemeral Send: code %q missing %v extra %v", r.Code, r.Missing, r.Extra)
	}
	if r := send(3, []uint32{1}, make([]byte, api.MaxEphemeral+1)); r.Code != api.CodeTooLarge {
		t.Fatalf("oversized ephemeral Send: code %q", r.Code)
	}
}

// TestEphemeralChecks: an ephemeral send is refused as a normal send is
// (unknown user, stale device list), and above 4 KiB of content.
func TestEphemeralChecks(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	link(t, srv, bob, "tablet")
	_, err := sendEphemeral(t, alice, "bob", []uint32{1}, []byte("typing"))
	if ae := wantCode(t, err, api.CodeStaleDevices); fmt.Sprint(ae.Missing, ae.Extra) != "[2] []" {
		t.Fatalf("missing %v extra %v", ae.Missing, ae.Extra)
	}
	_, err = sendEphemeral(t, alice, "bob", []uint32{1, 2, 9}, []byte("typing"))
	if ae := wantCode(t, err, api.CodeStaleDevices); fmt.Sprint(ae.Missing, ae.Extra) != "[] [9]" {
		t.Fatalf("missing %v extra %v", ae.Missing, ae.Extra)
	}
	_, err = sendEphemeral(t, alice, "bob", []uint32{1, 2}, make([]byte, api.MaxEphemeral+1))
	wantCode(t, err, api.CodeTooLarge)
	if _, err := sendEphemeral(t, alice, "bob", []uint32{1, 2}, make([]byte, api.MaxEphemeral)); err != nil {
		t.Fatalf("ephemeral send of exactly 4 KiB: %v", err)
	}
	_, err = sendEphemeral(t, alice, "nobody_here", []uint32{1}, []byte("typing"))
	wantCode(t, err, api.CodeNotFound)
	// Nothing was stored, even for the sends that were accepted.
	if n := metricValue(t, srv, "parley_queued_envelopes"); n != 0 {
		t.Fatalf("parley_queued_envelopes = %v after ephemeral sends", n)
	}
}

// TestEphemeralBufferDropsWhenFull: a connected device that does not read
// loses ephemeral frames beyond its small buffer instead of holding up the
// senders or the server's memory; every send succeeds at once, and each
// frame is either delivered or counted as dropped.
func TestEphemeralBufferDropsWhenFull(t *testing.T) {
	// The writer stays blocked while the test sends: a long write timeout
	// keeps a slow machine from cutting the socket meanwhile.
	srv := parleytest.Start(t, server.Config{WriteTimeout: time.Minute})
	bob := register(t, srv, "bob", 0)
	s := connect(t, bob)
	recvUntilEmpty(t, s)
	// 12.5 MiB of the largest frames, more than the socket buffers hold:
	// the server's write blocks, and the rest waits in the ephemeral
	// buffer or falls off it.
	const senders, each = 8, 400
	big := bytes.Repeat([]byte{'e'}, api.MaxEphemeral)
	errs := make(chan error, senders)
	var users []*user
	for i := range senders {
		users = append(users, register(t, srv, fmt.Sprint("typist", i), 0))
	}
	for _, u := range users {
		go func() {
			for range each {
				if _, err := sendEphemeral(t, u, "bob", []uint32{1}, big); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatalf("ephemeral send: %v", err)
		}
	}
	dropped, _ := metricSample(t, srv, `parley_ephemeral_total{outcome="dropped"}`)
	if dropped == 0 {
		t.Fatal("no ephemeral frame dropped for a socket that does not read")
	}
	// The socket still works: what was buffered comes first, then a
	// stored envelope.
	if _, err := sendTo(t, users[0], "bob", []uint32{1}, "stored"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for f := recvDeliver(t, s); f.Seq == 0; f = recvDeliver(t, s) {
		n++
	}
	if n+int(dropped) != senders*each {
		t.Fatalf("%d ephemeral frames delivered and %v dropped, want %d in all", n, dropped, senders*each)
	}
	if written, _ := metricSample(t, srv, `parley_ephemeral_total{outcome="written"}`); int(written) != n {
		t.Fatalf(`parley_ephemeral_total{outcome="written"} = %v, want %d`, written, n)
	}
}

// TestEphemeralFloodIsRateLimited: a stranger's ephemeral sends, which
// the server passes on at once to a connected device, spend the sender's
// send rate as stored ones do (spec/api.md §2.3, §6.5), so one account
// cannot push 4 KiB frames at a victim's device as fast as its line
// carries them.
func TestEphemeralFloodIsRateLimited(t *testing.T) {
	srv := parleytest.Start(t, server.Config{SendRate: 1, SendBurst: 64 << 10})
	mallory := register(t, srv, "mallory", 0)
	bob := register(t, srv, "bob", 0)
	s := connect(t, bob)
	recvUntilEmpty(t, s)

	content := make([]byte, api.MaxEphemeral)
	accepted := 0
	for range 100 {
		_, err := sendEphemeral(t, mallory, "bob", []uint32{1}, content)
		if err != nil {
			wantCode(t, err, api.CodeRateLimited)
			break
		}
		accepted++
	}
	if limit := (64 << 10) / (api.MaxEphemeral + httpapi.SendOverhead); accepted > limit {
		t.Fatalf("%d ephemeral sends of 4 KiB accepted with a 64 KiB burst, want at most %d", accepted, limit)
	}
}
