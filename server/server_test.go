package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/wire"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// user is a registered account's first device.
type user struct {
	name  string
	creds api.Credentials
	c     *transport.Client
	id    keys.IdentityKeyPair // the account's identity key
}

func register(t *testing.T, srv *parleytest.Server, name string, prekeys int) *user {
	t.Helper()
	req, id, err := parleytest.Registration(name, prekeys)
	if err != nil {
		t.Fatal(err)
	}
	base := transport.New(srv.URL, nil)
	creds, err := base.Register(context.Background(), req)
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return &user{name: creds.Username, creds: creds, c: base.As(creds), id: id}
}

func clientID() []byte {
	b := make([]byte, api.ClientIDSize)
	rand.Read(b)
	return b
}

func sendTo(t *testing.T, from *user, to string, devices []uint32, content string) (api.SendResponse, error) {
	t.Helper()
	req := api.SendRequest{ClientID: clientID()}
	for _, d := range devices {
		req.Envelopes = append(req.Envelopes, api.OutgoingEnvelope{DeviceID: d, Type: 1, Content: []byte(content)})
	}
	return from.c.Send(context.Background(), to, req)
}

func connect(t *testing.T, u *user) *transport.Socket {
	t.Helper()
	s, err := u.c.Connect(context.Background())
	if err != nil {
		t.Fatalf("connect %s: %v", u.name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recvUntilEmpty reads frames up to the first FrameQueueEmpty and returns
// the deliveries before it.
func recvUntilEmpty(t *testing.T, s *transport.Socket) []*api.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*api.Frame
	for {
		f, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		switch f.Type {
		case api.FrameQueueEmpty:
			return out
		case api.FrameDeliver:
			out = append(out, f)
		default:
			t.Fatalf("unexpected frame type %d", f.Type)
		}
	}
}

func recvDeliver(t *testing.T, s *transport.Socket) *api.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		f, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if f.Type == api.FrameDeliver {
			return f
		}
	}
}

func wantCode(t *testing.T, err error, code api.Code) *api.Error {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != code {
		t.Fatalf("got %v, want error code %s", err, code)
	}
	return ae
}

func TestSendDeliverAckReconnect(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "Alice", 2)
	bob := register(t, srv, "bob", 2)
	if alice.name != "alice" {
		t.Fatalf("username not normalised: %q", alice.name)
	}
	// Alice fetches Bob's bundle: it parses and its signatures verify.
	bs, err := alice.c.Bundles(context.Background(), "bob", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs.Bundles) != 1 {
		t.Fatalf("%d bundles", len(bs.Bundles))
	}
	if _, err := pqxdh.ParseBundle(bs.Bundles[0]); err != nil {
		t.Fatalf("served bundle does not verify: %v", err)
	}
	for i := range 5 {
		if _, err := sendTo(t, alice, "bob", []uint32{1}, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	s := connect(t, bob)
	got := recvUntilEmpty(t, s)
	if len(got) != 5 {
		t.Fatalf("delivered %d, want 5", len(got))
	}
	for i, f := range got {
		if string(f.Content) != fmt.Sprint("m", i) || f.Sender != "alice" || f.SenderDevice != 1 {
			t.Fatalf("delivery %d: %q from %s.%d", i, f.Content, f.Sender, f.SenderDevice)
		}
	}
	// Ack the first two, reconnect: the other three come again, in order.
	if err := s.Ack(context.Background(), got[0].Seq, got[1].Seq); err != nil {
		t.Fatal(err)
	}
	// A live send arrives on the open socket at once.
	if _, err := sendTo(t, alice, "bob", []uint32{1}, "live"); err != nil {
		t.Fatal(err)
	}
	if f := recvDeliver(t, s); string(f.Content) != "live" {
		t.Fatalf("live delivery %q", f.Content)
	}
	s.Close()
	s2 := connect(t, bob)
	again := recvUntilEmpty(t, s2)
	var texts []string
	for _, f := range again {
		texts = append(texts, string(f.Content))
	}
	if fmt.Sprint(texts) != "[m2 m3 m4 live]" {
		t.Fatalf("after reconnect: %v", texts)
	}
}

func TestUsernameRules(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	register(t, srv, "carol", 0)
	c := transport.New(srv.URL, nil)
	for name, code := range map[string]api.Code{
		"CAROL": api.CodeUsernameTaken, "admin": api.CodeUsernameReserved,
		"x": api.CodeUsernameInvalid, "has space": api.CodeUsernameInvalid, "9lives": api.CodeUsernameInvalid,
	} {
		req, _, err := parleytest.Registration(name, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Register(context.Background(), req)
		wantCode(t, err, code)
	}
}

func TestRegistrationChecksKeys(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	c := transport.New(srv.URL, nil)
	req, _, err := parleytest.Registration("dave", 1)
	if err != nil {
		t.Fatal(err)
	}
	req.PreKeys.SignedPreKey.Signature[3] ^= 1
	_, err = c.Register(context.Background(), req)
	wantCode(t, err, api.CodeBadSignature)
	req.PreKeys.SignedPreKey.Signature[3] ^= 1
	req.IdentityKey = req.IdentityKey[:32]
	_, err = c.Register(context.Background(), req)
	wantCode(t, err, api.CodeBadRequest)
}

func TestInviteOnlyAndRateLimit(t *testing.T) {
	srv := parleytest.Start(t, server.Config{InviteOnly: true, RegisterRate: 0.001})
	c := transport.New(srv.URL, nil)
	req, _, err := parleytest.Registration("erin", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Register(context.Background(), req)
	wantCode(t, err, api.CodeInviteRequired)
	req.InviteCode = "not-a-real-invite"
	_, err = c.Register(context.Background(), req)
	wantCode(t, err, api.CodeInviteRequired)
	// An operator's invite works once.
	code, err := server.CreateInvite(context.Background(), srv.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	req.InviteCode = code
	if _, err := c.Register(context.Background(), req); err != nil {
		t.Fatalf("register with invite: %v", err)
	}
	req2, _, err := parleytest.Registration("frank", 0)
	if err != nil {
		t.Fatal(err)
	}
	req2.InviteCode = code
	_, err = c.Register(context.Background(), req2)
	wantCode(t, err, api.CodeInviteRequired)
	// Four registrations so far; the burst is 5 and the rate one per
	// 1000 s, so the fifth is heard and the sixth is not.
	_, err = c.Register(context.Background(), req2)
	wantCode(t, err, api.CodeInviteRequired)
	_, err = c.Register(context.Background(), req2)
	wantCode(t, err, api.CodeRateLimited)
}

func TestStaleDeviceListRefusesWholeSend(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	bob2 := link(t, srv, bob, "bob laptop")
	_, err := sendTo(t, alice, "bob", []uint32{1}, "x")
	if ae := wantCode(t, err, api.CodeStaleDevices); fmt.Sprint(ae.Missing, ae.Extra) != "[2] []" {
		t.Fatalf("missing %v extra %v", ae.Missing, ae.Extra)
	}
	_, err = sendTo(t, alice, "bob", []uint32{1, 2, 7}, "x")
	if ae := wantCode(t, err, api.CodeStaleDevices); fmt.Sprint(ae.Missing, ae.Extra) != "[] [7]" {
		t.Fatalf("missing %v extra %v", ae.Missing, ae.Extra)
	}
	// Nothing was stored by the refused sends.
	if got := recvUntilEmpty(t, connect(t, bob)); len(got) != 0 {
		t.Fatalf("refused sends stored %d envelopes", len(got))
	}
	// A sync to one's own account leaves out the sending device.
	if _, err := sendTo(t, bob, "bob", []uint32{2}, "sync"); err != nil {
		t.Fatal(err)
	}
	if got := recvUntilEmpty(t, connect(t, bob2)); len(got) != 1 || string(got[0].Content) != "sync" {
		t.Fatalf("sync transcript: %v", got)
	}
}

func link(t *testing.T, srv *parleytest.Server, u *user, name string) *user {
	t.Helper()
	tok, err := u.c.LinkToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The new device shares the account's identity key (the client moves
	// it over the provisioning mailbox), so its prekeys are signed by it.
	req := api.LinkRequest{LinkToken: tok.Token, DeviceName: name}
	if req.PreKeys, err = parleytest.PreKeys(u.id, 100, 1); err != nil {
		t.Fatal(err)
	}
	creds, err := transport.New(srv.URL, nil).Link(context.Background(), req)
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	return &user{name: creds.Username, creds: creds, c: transport.New(srv.URL, nil).As(creds), id: u.id}
}

func TestDuplicateClientIDStoredOnce(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	req := api.SendRequest{ClientID: clientID(), Envelopes: []api.OutgoingEnvelope{{DeviceID: 1, Type: 1, Content: []byte("once")}}}
	for i, wantDup := range []bool{false, true, true} {
		res, err := alice.c.Send(context.Background(), "bob", req)
		if err != nil || res.Duplicate != wantDup {
			t.Fatalf("send %d: %+v, %v", i, res, err)
		}
	}
	if got := recvUntilEmpty(t, connect(t, bob)); len(got) != 1 {
		t.Fatalf("delivered %d copies", len(got))
	}
}

func TestLimits(t *testing.T) {
	srv := parleytest.Start(t, server.Config{MaxQueue: 3})
	alice := register(t, srv, "alice", 0)
	register(t, srv, "bob", 0)
	_, err := sendTo(t, alice, "bob", []uint32{1}, string(make([]byte, api.MaxEnvelope+1)))
	wantCode(t, err, api.CodeTooLarge)
	for range 3 {
		if _, err := sendTo(t, alice, "bob", []uint32{1}, "fill"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = sendTo(t, alice, "bob", []uint32{1}, "one too many")
	wantCode(t, err, api.CodeQueueFull)
	if got := metricValue(t, srv, "parley_queued_envelopes"); got != 3 {
		t.Fatalf("parley_queued_envelopes = %v, want 3", got)
	}
	_, err = sendTo(t, alice, "nobody_here", []uint32{1}, "x")
	wantCode(t, err, api.CodeNotFound)
}

func TestConcurrentBundleFetchesNeverShareAPreKey(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	register(t, srv, "bob", 10)
	var fetchers []*user
	for i := range 8 {
		fetchers = append(fetchers, register(t, srv, fmt.Sprint("fetcher", i), 0))
	}
	var (
		mu   sync.Mutex
		seen = map[uint32]int{}
		wg   sync.WaitGroup
	)
	for _, f := range fetchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				bs, err := f.c.Bundles(context.Background(), "bob", 0)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := wire.ParsePreKeyBundle(bs.Bundles[0])
				if err != nil {
					t.Error(err)
					return
				}
				if b.HasOneTimePreKey {
					mu.Lock()
					seen[b.OneTimePreKeyID]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != 10 {
		t.Fatalf("%d distinct one-time prekeys handed out, want all 10", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("one-time prekey %d handed out %d times", id, n)
		}
	}
}

func TestProvisioningMailbox(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	anon := transport.New(srv.URL, nil)
	box, err := anon.CreateProvisioning(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := anon.TakeProvisioning(context.Background(), box.ID); err != nil || b != nil {
		t.Fatalf("empty mailbox: %q, %v", b, err)
	}
	if err := anon.PutProvisioning(context.Background(), box.ID, []byte("x")); err == nil {
		t.Fatal("unauthenticated write accepted")
	}
	if err := alice.c.PutProvisioning(context.Background(), box.ID, []byte("sealed identity")); err != nil {
		t.Fatal(err)
	}
	err = alice.c.PutProvisioning(context.Background(), box.ID, []byte("again"))
	wantCode(t, err, api.CodeAlreadyWritten)
	if b, err := anon.TakeProvisioning(context.Background(), box.ID); err != nil || !bytes.Equal(b, []byte("sealed identity")) {
		t.Fatalf("take: %q, %v", b, err)
	}
	_, err = anon.TakeProvisioning(context.Background(), box.ID)
	wantCode(t, err, api.CodeNotFound)

	// A message of MaxProvisioning bytes is taken whole; one byte more
	// is too_large, and the mailbox stays empty.
	for _, n := range []int{api.MaxProvisioning + 1, api.MaxProvisioning} {
		box, err := anon.CreateProvisioning(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte{7}, n)
		err = alice.c.PutProvisioning(context.Background(), box.ID, msg)
		if n > api.MaxProvisioning {
			wantCode(t, err, api.CodeTooLarge)
			if b, err := anon.TakeProvisioning(context.Background(), box.ID); err != nil || b != nil {
				t.Fatalf("after a refused write: %d bytes, %v", len(b), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("a message of %d bytes: %v", n, err)
		}
		if b, err := anon.TakeProvisioning(context.Background(), box.ID); err != nil || !bytes.Equal(b, msg) {
			t.Fatalf("take: %d bytes, %v", len(b), err)
		}
	}
}
