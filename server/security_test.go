package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// endpoints are every route that needs device credentials.
var endpoints = []struct{ method, path, body string }{
	{"GET", "/v1/devices", ""},
	{"POST", "/v1/devices/link-tokens", ""},
	{"DELETE", "/v1/devices/1", ""},
	{"PUT", "/v1/keys", "{}"},
	{"GET", "/v1/keys/count", ""},
	{"GET", "/v1/keys/victim", ""},
	{"PUT", "/v1/messages/victim", `{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","envelopes":[{"device_id":1,"type":1,"content":"eA=="}]}`},
	{"PUT", "/v1/provisioning/abc", "x"},
	{"GET", "/v1/ws", ""},
	{"POST", "/v1/ws-tickets", ""},
	{"POST", "/v1/channels", "{}"},
	{"POST", "/v1/channels/news/records", "x"},
	{"PUT", "/v1/channels/news/follow", ""},
	{"DELETE", "/v1/channels/news/follow", ""},
	{"PUT", "/v1/channels/news/admins/victim", ""},
	{"DELETE", "/v1/channels/news/admins/victim", ""},
	{"GET", "/v1/following", ""},
	{"POST", "/v1/reports", "{}"},
	{"POST", "/v1/uploads", `{"size":1,"sha256":"` + strings.Repeat("0", 64) + `","content_type":"image/png"}`},
	{"PATCH", "/v1/uploads/abc", "x"},
	{"GET", "/v1/uploads/abc", ""},
	{"HEAD", "/v1/uploads/abc", ""}, // no body: the status alone is checked
	{"PUT", "/v1/profile", `{"version":1,"ciphertext":"eA=="}`},
	{"GET", "/v1/profile/victim", ""},
}

// TestAuthorizationMatrix calls every authenticated endpoint without
// credentials, with a malformed header, with one device's name and another
// device's secret (of another account, and of the same account), and with
// a removed device's credentials: every call is refused with 401 and
// changes nothing.
func TestAuthorizationMatrix(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	victim := register(t, srv, "victim", 3)
	mallory := register(t, srv, "mallory", 0)
	victim2 := link(t, srv, victim, "second")
	removed := link(t, srv, victim, "third")
	if err := victim.c.RemoveDevice(context.Background(), removed.creds.DeviceID); err != nil {
		t.Fatal(err)
	}
	basic := func(user string, dev uint32, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+"."+strconv.FormatUint(uint64(dev), 10)+":"+secret))
	}
	cases := map[string]string{
		"no credentials":             "",
		"malformed":                  "Basic !!!",
		"other account's secret":     basic("victim", 1, mallory.creds.Secret),
		"same account, other device": basic("victim", 1, victim2.creds.Secret),
		"removed device":             basic("victim", removed.creds.DeviceID, removed.creds.Secret),
		"unknown user":               basic("nobody", 1, victim.creds.Secret),
	}
	for name, auth := range cases {
		for _, e := range endpoints {
			req, err := http.NewRequest(e.method, srv.URL+e.path, strings.NewReader(e.body))
			if err != nil {
				t.Fatal(err)
			}
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			if e.path == "/v1/ws" {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || e.method != "HEAD" && !bytes.Contains(body, []byte(`"code":"unauthorized"`)) {
				t.Errorf("%s: %s %s: %d %s", name, e.method, e.path, resp.StatusCode, body)
			}
		}
	}
	// Nothing changed: the victim still has both devices, its keys, and an
	// empty queue.
	devs, err := victim.c.Devices(context.Background())
	if err != nil || len(devs) != 2 {
		t.Fatalf("victim devices: %v, %v", devs, err)
	}
	if c, err := victim.c.KeyCounts(context.Background()); err != nil || c.OneTime != 3 {
		t.Fatalf("victim prekeys: %+v, %v", c, err)
	}
	if got := recvUntilEmpty(t, connect(t, victim)); len(got) != 0 {
		t.Fatalf("victim queue has %d envelopes", len(got))
	}
	_, err = victim.c.Profile(context.Background(), "victim")
	wantCode(t, err, api.CodeNoProfile)
	// Valid credentials of another account reach only their own account.
	err = mallory.c.RemoveDevice(context.Background(), victim2.creds.DeviceID)
	wantCode(t, err, api.CodeNotFound)
}

// TestDeviceReadsAndAcksOnlyItsOwnQueue: acking another device's envelope
// deletes nothing.
func TestDeviceReadsAndAcksOnlyItsOwnQueue(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	bob2 := link(t, srv, bob, "tablet")
	if _, err := sendTo(t, alice, "bob", []uint32{1, 2}, "for both"); err != nil {
		t.Fatal(err)
	}
	s1 := connect(t, bob)
	got1 := recvUntilEmpty(t, s1)
	s2 := connect(t, bob2)
	got2 := recvUntilEmpty(t, s2)
	sa := connect(t, alice)
	recvUntilEmpty(t, sa)
	// Alice and Bob's tablet ack Bob's phone's envelope.
	for _, s := range []*transport.Socket{sa, s2} {
		if err := s.Ack(context.Background(), got1[0].Seq); err != nil {
			t.Fatal(err)
		}
	}
	if got1[0].Seq == got2[0].Seq {
		t.Fatal("two devices share a queue entry")
	}
	s1.Close()
	if again := recvUntilEmpty(t, connect(t, bob)); len(again) != 1 {
		t.Fatalf("Bob's phone lost its envelope to another device's ack: %d left", len(again))
	}
}

func TestRemovedDeviceIsCutOffAtOnce(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	bob := register(t, srv, "bob", 0)
	bob2 := link(t, srv, bob, "old phone")
	s := connect(t, bob2)
	recvUntilEmpty(t, s)
	if err := bob.c.RemoveDevice(context.Background(), bob2.creds.DeviceID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.Recv(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("removed device's socket stayed open (%v)", err)
	}
	if got := transport.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Errorf("removed device's socket closed with %v (%v), want 1001 going away", got, err)
	}
	_, err = bob2.c.Devices(context.Background())
	wantCode(t, err, api.CodeUnauthorized)
}

// TestMalformedFramesCloseTheConnection: bad frames close with 1007 (or
// 1008 for a frame a client may not send) and the server stays healthy.
func TestMalformedFramesCloseTheConnection(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	for name, c := range map[string]struct {
		typ  websocket.MessageType
		data []byte
		code websocket.StatusCode
	}{
		"garbage":        {websocket.MessageBinary, []byte{0xff, 0x00, 0x13}, websocket.StatusInvalidFramePayloadData},
		"text message":   {websocket.MessageText, []byte("hello"), websocket.StatusInvalidFramePayloadData},
		"empty":          {websocket.MessageBinary, nil, websocket.StatusInvalidFramePayloadData},
		"server's frame": {websocket.MessageBinary, api.AppendFrame(nil, &api.Frame{Type: api.FrameQueueEmpty}), websocket.StatusPolicyViolation},
	} {
		s := connect(t, alice)
		recvUntilEmpty(t, s)
		if err := s.WriteRaw(context.Background(), c.typ, c.data); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s.Recv(ctx)
		cancel()
		if got := transport.CloseStatus(err); got != c.code {
			t.Errorf("%s: closed with %v (%v), want %v", name, got, err, c.code)
		}
	}
	// Still healthy: health check, and a send reaches a live socket.
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	sb := connect(t, bob)
	recvUntilEmpty(t, sb)
	if _, err := sendTo(t, alice, "bob", []uint32{1}, "still fine"); err != nil {
		t.Fatal(err)
	}
	if f := recvDeliver(t, sb); string(f.Content) != "still fine" {
		t.Fatalf("got %q", f.Content)
	}
}

func TestSlowHeadersAreCut(t *testing.T) {
	srv := parleytest.Start(t, server.Config{ReadHeaderTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The server answers the incomplete request with an error or closes
	// the connection; either way it ends well before our 5 s deadline.
	start := time.Now()
	_, err = io.ReadAll(bufio.NewReader(conn))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("server kept a slow client for %v", time.Since(start))
	}
}

func TestRequestBodyLimit(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	big := api.SendRequest{ClientID: clientID(), Envelopes: []api.OutgoingEnvelope{{DeviceID: 1, Content: make([]byte, api.MaxBody)}}}
	_, err := alice.c.Send(context.Background(), "alice", big)
	wantCode(t, err, api.CodeTooLarge)
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsHoldNoSecrets runs a conversation with debug logging and checks
// that no credential, key or envelope content reaches the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	var logs syncBuffer
	srv := parleytest.Start(t, server.Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	alice := register(t, srv, "alice", 1)
	bob := register(t, srv, "bob", 1)
	content := "top secret envelope content"
	if _, err := sendTo(t, alice, "bob", []uint32{1}, content); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.c.Bundles(context.Background(), "bob", 0); err != nil {
		t.Fatal(err)
	}
	recvUntilEmpty(t, connect(t, bob))
	carol, recoveryKey := registerRecoverable(t, srv, "carol")
	if _, err := recoverAs(t, srv, "carol", "a wrong recovery key", nil); err == nil {
		t.Fatal("recovered with a wrong key")
	}
	if _, err := recoverAs(t, srv, "carol", recoveryKey, nil); err != nil {
		t.Fatal(err)
	}
	idk := bob.id.Public().Encode()
	out := logs.String()
	if !strings.Contains(out, "/v1/messages/{username}") {
		t.Fatal("debug request log missing: the test checks nothing")
	}
	for name, secret := range map[string]string{
		"alice's secret": alice.creds.Secret, "bob's secret": bob.creds.Secret, "content": content,
		"carol's secret": carol.creds.Secret, "recovery key": recoveryKey, "wrong recovery key": "a wrong recovery key",
		"recovery key hash (base64)": base64.StdEncoding.EncodeToString(sha256Of(recoveryKey)),
		"content (base64)":           base64.StdEncoding.EncodeToString([]byte(content)),
		"identity key (base64)":      base64.StdEncoding.EncodeToString(idk), "identity key (hex)": hex.EncodeToString(idk),
	} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %s", name)
		}
	}
}
