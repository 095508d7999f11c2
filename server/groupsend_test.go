package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
	"github.com/parley-chat/parley/server/groups"
)

// openDB opens the test server's SQLite file for reading, beside the
// server's own connections, to check what it holds.
func openDB(t *testing.T, srv *parleytest.Server) *sql.DB {
	t.Helper()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "query_only(ON)")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(srv.DataDir, "parley.db")), RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// storedBodies reads the shared contents the database holds: rows,
// references in all and content bytes in all; and the content bytes the
// queued envelopes hold of their own.
func storedBodies(t *testing.T, db *sql.DB) (rows, refs, size, own int64) {
	t.Helper()
	err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(refs), 0), COALESCE(SUM(length(content)), 0),
		(SELECT COALESCE(SUM(length(content)), 0) FROM messages) FROM bodies`).Scan(&rows, &refs, &size, &own)
	if err != nil {
		t.Fatal(err)
	}
	return rows, refs, size, own
}

// multi is a send to many of content from u to the recipients, each
// account with the devices given.
func multi(content []byte, recipients ...api.MultiRecipient) api.MultiSendRequest {
	return api.MultiSendRequest{ClientID: clientID(), Type: 3, Content: content, Recipients: recipients}
}

func to(name string, devices ...uint32) api.MultiRecipient {
	return api.MultiRecipient{Username: name, Devices: devices}
}

// syncAck acks seqs on s and waits until the server has stored the ack:
// a socket's frames are handled in order, so once the Send behind the Ack
// is answered, the Ack is done.
func syncAck(t *testing.T, s *transport.Socket, seqs ...uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ack(ctx, seqs...); err != nil {
		t.Fatal(err)
	}
	const id = 1 << 40
	f := &api.Frame{Type: api.FrameSend, RequestID: id, Recipient: "nobody-here", ClientID: clientID(),
		Envelopes: []api.OutgoingEnvelope{{DeviceID: 1}}}
	if err := s.Write(ctx, f); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := s.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == api.FrameSendResult && r.RequestID == id {
			return
		}
	}
}

// TestSendToManyStoredOnce: one send to 50 accounts of two devices each
// reaches every device over its WebSocket with the same content, sender,
// client ID and type, whether the device was connected when it was stored
// (pushed) or connects later (read from the store); the SQLite file holds
// the content once, with 100 references and no content in the queue rows,
// and acking every envelope deletes it.
func TestSendToManyStoredOnce(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	var devices []*user
	var recipients []api.MultiRecipient
	for i := range 50 {
		u := register(t, srv, fmt.Sprintf("member%02d", i), 0)
		devices = append(devices, u, link(t, srv, u, "tablet"))
		recipients = append(recipients, to(u.name, 1, 2))
	}
	// The first 60 devices are connected when the send is stored.
	sockets := make([]*transport.Socket, len(devices))
	for i := range 60 {
		sockets[i] = connect(t, devices[i])
		recvUntilEmpty(t, sockets[i])
	}
	content := bytes.Repeat([]byte("sender-key ciphertext "), 500) // 11,000 bytes
	req := multi(content, recipients...)
	if res, err := alice.c.SendMulti(ctx, req); err != nil || res.Duplicate {
		t.Fatalf("SendMulti = %+v, %v", res, err)
	}
	db := openDB(t, srv)
	if rows, refs, size, own := storedBodies(t, db); rows != 1 || refs != 100 || size != int64(len(content)) || own != 0 {
		t.Fatalf("stored: %d bodies, %d references, %d body bytes, %d bytes in queue rows; want 1, 100, %d, 0",
			rows, refs, size, own, len(content))
	}

	var first *api.Frame
	for i, d := range devices {
		var f *api.Frame
		if sockets[i] != nil {
			f = recvDeliver(t, sockets[i])
		} else {
			sockets[i] = connect(t, d)
			got := recvUntilEmpty(t, sockets[i])
			if len(got) != 1 {
				t.Fatalf("%s.%d: %d deliveries after connecting, want 1", d.name, d.creds.DeviceID, len(got))
			}
			f = got[0]
		}
		if first == nil {
			first = f
		}
		if f.Seq == 0 || !bytes.Equal(f.Content, content) || f.Sender != "alice" || f.SenderDevice != 1 ||
			!bytes.Equal(f.ClientID, req.ClientID) || f.EnvType != 3 || f.Timestamp != first.Timestamp {
			t.Fatalf("%s.%d: delivery seq %d, %d bytes from %s.%d, client id %x, type %d, at %d",
				d.name, d.creds.DeviceID, f.Seq, len(f.Content), f.Sender, f.SenderDevice, f.ClientID, f.EnvType, f.Timestamp)
		}
		syncAck(t, sockets[i], f.Seq)
		if i == 0 {
			if rows, refs, _, _ := storedBodies(t, db); rows != 1 || refs != 99 {
				t.Fatalf("after one ack: %d bodies, %d references; want 1, 99", rows, refs)
			}
		}
	}
	if rows, refs, size, _ := storedBodies(t, db); rows != 0 || refs != 0 || size != 0 {
		t.Fatalf("after every ack: %d bodies, %d references, %d bytes; want none", rows, refs, size)
	}
	if n := metricValue(t, srv, "parley_envelopes_in_total"); n != 100 {
		t.Fatalf("parley_envelopes_in_total = %v, want 100", n)
	}
	if n := metricValue(t, srv, "parley_queued_envelopes"); n != 0 {
		t.Fatalf("parley_queued_envelopes = %v, want 0", n)
	}
}

// TestSendToManyStale: a send whose lists are stale for several accounts
// stores nothing and names every one of them in one answer, in the
// request's order: devices missing, devices that do not exist, accounts
// that do not exist, and the sending device in the sender's own list. The
// mended send is stored.
func TestSendToManyStale(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	alice2 := link(t, srv, alice, "tablet")
	bob := register(t, srv, "bob", 0)
	bob2 := link(t, srv, bob, "tablet")
	carol := register(t, srv, "carol", 0)
	dave := register(t, srv, "dave", 0)

	_, err := alice.c.SendMulti(ctx, multi([]byte("x"),
		to("Bob", 1), to("carol", 1, 5), to("dave", 1), to("ghost", 1), to("Not A Name!", 1), to("alice", 1, 2)))
	ae := wantCode(t, err, api.CodeStaleDevices)
	want := []api.StaleAccount{
		{Username: "Bob", Missing: []uint32{2}},
		{Username: "carol", Extra: []uint32{5}},
		{Username: "ghost", Unknown: true},
		{Username: "Not A Name!", Unknown: true},
		{Username: "alice", Extra: []uint32{1}},
	}
	if ae.Status != 409 || fmt.Sprint(ae.Accounts) != fmt.Sprint(want) {
		t.Fatalf("stale answer %d %+v, want 409 %+v", ae.Status, ae.Accounts, want)
	}
	if ae.Missing != nil || ae.Extra != nil {
		t.Fatalf("a send to many answered with 1:1 fields: %+v", ae)
	}
	for _, u := range []*user{bob, bob2, carol, dave, alice2} {
		if got := recvUntilEmpty(t, connect(t, u)); len(got) != 0 {
			t.Fatalf("%s.%d got %d envelopes of a refused send", u.name, u.creds.DeviceID, len(got))
		}
	}
	// The sender's own account with no device but the sending one is
	// stale if it lists any, and adds nothing if it lists none.
	_, err = dave.c.SendMulti(ctx, multi([]byte("x"), to("bob", 1, 2), to("dave", 1)))
	if ae := wantCode(t, err, api.CodeStaleDevices); fmt.Sprint(ae.Accounts) != fmt.Sprint([]api.StaleAccount{{Username: "dave", Extra: []uint32{1}}}) {
		t.Fatalf("stale own list: %+v", ae.Accounts)
	}
	if _, err := dave.c.SendMulti(ctx, multi([]byte("from dave"), to("bob", 1, 2), to("dave"))); err != nil {
		t.Fatalf("own account listed with no devices: %v", err)
	}
	_, err = dave.c.SendMulti(ctx, multi([]byte("x"), to("dave")))
	wantCode(t, err, api.CodeBadRequest) // it reaches no device

	res, err := alice.c.SendMulti(ctx, multi([]byte("mended"), to("bob", 2, 1), to("carol", 1), to("alice", 2)))
	if err != nil || res.Duplicate {
		t.Fatalf("mended send = %+v, %v", res, err)
	}
	for _, u := range []*user{bob2, carol, alice2} {
		got := recvUntilEmpty(t, connect(t, u))
		if len(got) == 0 || string(got[len(got)-1].Content) != "mended" {
			t.Fatalf("%s.%d: %d deliveries, want the mended send last", u.name, u.creds.DeviceID, len(got))
		}
	}
}

// TestSendToManyRefused: malformed sends are bad_request, oversized ones
// too_large, before any account is looked at; nothing is stored.
func TestSendToManyRefused(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	badID := multi([]byte("x"), to("bob", 1))
	badID.ClientID = badID.ClientID[:15]
	big := multi(make([]byte, api.MaxEnvelope+1), to("bob", 1))
	bigEphemeral := multi(make([]byte, api.MaxEphemeral+1), to("bob", 1))
	bigEphemeral.Ephemeral = true
	for _, c := range []struct {
		name string
		req  api.MultiSendRequest
		code api.Code
	}{
		{"no recipients", multi([]byte("x")), api.CodeBadRequest},
		{"an account twice", multi([]byte("x"), to("bob", 1), to("BOB", 1)), api.CodeBadRequest},
		{"an unknown account twice", multi([]byte("x"), to("ghost", 1), to("ghost", 1)), api.CodeBadRequest},
		{"a device twice", multi([]byte("x"), to("bob", 1, 1)), api.CodeBadRequest},
		{"a short client_id", badID, api.CodeBadRequest},
		{"content over 256 KiB", big, api.CodeTooLarge},
		{"ephemeral content over 4 KiB", bigEphemeral, api.CodeTooLarge},
	} {
		_, err := alice.c.SendMulti(ctx, c.req)
		wantCode(t, err, c.code)
	}
	// The largest content is accepted.
	if _, err := alice.c.SendMulti(ctx, multi(make([]byte, api.MaxEnvelope), to("bob", 1))); err != nil {
		t.Fatalf("a 256 KiB content: %v", err)
	}
	if got := recvUntilEmpty(t, connect(t, bob)); len(got) != 1 {
		t.Fatalf("bob got %d envelopes, want the one accepted", len(got))
	}
}

// TestSendToManyTooManyRecipients: a send may name MaxGroupMembers
// accounts besides the sender's own; one more is too_many_recipients. The
// bound is in GET /v1/server.
func TestSendToManyTooManyRecipients(t *testing.T) {
	srv := parleytest.Start(t, server.Config{MaxGroupMembers: 2})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	link(t, srv, alice, "tablet")
	for _, n := range []string{"bob", "carol", "dave"} {
		register(t, srv, n, 0)
	}
	info, err := alice.c.ServerInfo(ctx)
	if err != nil || info.MaxGroupMembers != 2 {
		t.Fatalf("ServerInfo = %+v, %v; want max_group_members 2", info, err)
	}
	if _, err := alice.c.SendMulti(ctx, multi([]byte("x"), to("bob", 1), to("carol", 1), to("alice", 2))); err != nil {
		t.Fatalf("two members and the sender's own account: %v", err)
	}
	_, err = alice.c.SendMulti(ctx, multi([]byte("x"), to("bob", 1), to("carol", 1), to("dave", 1)))
	if ae := wantCode(t, err, api.CodeTooManyRecipients); ae.Status != 413 {
		t.Fatalf("status %d, want 413", ae.Status)
	}
	// Unknown accounts count: the bound is checked before any lookup.
	_, err = alice.c.SendMulti(ctx, multi([]byte("x"), to("bob", 1), to("ghost1", 1), to("ghost2", 1)))
	wantCode(t, err, api.CodeTooManyRecipients)

	def := parleytest.Start(t, server.Config{})
	if info, err := transport.New(def.URL, nil).ServerInfo(ctx); err != nil || info.MaxGroupMembers != api.DefaultMaxGroupMembers {
		t.Fatalf("default ServerInfo = %+v, %v; want %d", info, err, api.DefaultMaxGroupMembers)
	}
}

// TestSendToManyDuplicate: a retry with the same client_id stores nothing
// new and answers duplicate; once one device has acked, a retry reaches
// that device again (and only it), and is not a duplicate.
func TestSendToManyDuplicate(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	carol := register(t, srv, "carol", 0)
	req := multi([]byte("once"), to("bob", 1), to("carol", 1))
	for i, wantDup := range []bool{false, true, true} {
		res, err := alice.c.SendMulti(ctx, req)
		if err != nil || res.Duplicate != wantDup {
			t.Fatalf("send %d = %+v, %v; want duplicate %v", i, res, err, wantDup)
		}
	}
	db := openDB(t, srv)
	if rows, refs, _, _ := storedBodies(t, db); rows != 1 || refs != 2 {
		t.Fatalf("after retries: %d bodies, %d references; want 1, 2", rows, refs)
	}
	sb := connect(t, bob)
	got := recvUntilEmpty(t, sb)
	if len(got) != 1 {
		t.Fatalf("bob got %d envelopes, want 1", len(got))
	}
	syncAck(t, sb, got[0].Seq)
	res, err := alice.c.SendMulti(ctx, req)
	if err != nil || res.Duplicate {
		t.Fatalf("retry after bob's ack = %+v, %v; want stored", res, err)
	}
	if f := recvDeliver(t, sb); string(f.Content) != "once" || f.Seq <= got[0].Seq {
		t.Fatalf("bob's second copy: seq %d %q", f.Seq, f.Content)
	}
	if got := recvUntilEmpty(t, connect(t, carol)); len(got) != 1 {
		t.Fatalf("carol got %d envelopes, want 1", len(got))
	}
	if rows, refs, _, _ := storedBodies(t, db); rows != 2 || refs != 2 {
		t.Fatalf("after the retry: %d bodies, %d references; want 2, 2", rows, refs)
	}
}

// TestSendToManyEphemeral: an ephemeral send to many reaches the connected
// devices with Seq 0 and is stored for none.
func TestSendToManyEphemeral(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	bob2 := link(t, srv, bob, "tablet") // stays offline
	carol := register(t, srv, "carol", 0)
	sb, sc := connect(t, bob), connect(t, carol)
	recvUntilEmpty(t, sb)
	recvUntilEmpty(t, sc)
	req := multi([]byte("typing"), to("bob", 1, 2), to("carol", 1))
	req.Ephemeral = true
	if res, err := alice.c.SendMulti(ctx, req); err != nil || res.Duplicate {
		t.Fatalf("ephemeral send = %+v, %v", res, err)
	}
	for _, s := range []*transport.Socket{sb, sc} {
		if f := recvDeliver(t, s); f.Seq != 0 || string(f.Content) != "typing" || f.Sender != "alice" || f.EnvType != 3 {
			t.Fatalf("ephemeral delivery: seq %d %q from %s type %d", f.Seq, f.Content, f.Sender, f.EnvType)
		}
	}
	// Checked as a stored send is.
	stale := multi([]byte("typing"), to("bob", 1), to("carol", 1))
	stale.Ephemeral = true
	_, err := alice.c.SendMulti(ctx, stale)
	wantCode(t, err, api.CodeStaleDevices)

	if got := recvUntilEmpty(t, connect(t, bob2)); len(got) != 0 {
		t.Fatalf("the offline device got %d envelopes", len(got))
	}
	if rows, _, _, _ := storedBodies(t, openDB(t, srv)); rows != 0 {
		t.Fatalf("an ephemeral send stored %d bodies", rows)
	}
	if n := metricValue(t, srv, "parley_queued_envelopes"); n != 0 {
		t.Fatalf("parley_queued_envelopes = %v, want 0", n)
	}
}

// TestSendToManyCharges: a send to many is charged its content once plus
// a small cost per device (groups.Cost), not once per device: with a
// bucket that holds one such send, the send passes, and the next is
// rate_limited, storing nothing. A 1:1 send of the same content to the
// same devices would not fit.
func TestSendToManyCharges(t *testing.T) {
	const size, devices = 4000, 6
	burst := groups.Cost(size, devices)
	if perDevice := devices * (size + groups.SendOverhead); perDevice <= burst {
		t.Fatalf("the test is void: %d bytes charged per device fit in %d", perDevice, burst)
	}
	srv := parleytest.Start(t, server.Config{SendRate: 1e-6, SendBurst: burst})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	var rs []api.MultiRecipient
	for i := range devices {
		rs = append(rs, to(register(t, srv, fmt.Sprintf("member%d", i), 0).name, 1))
	}
	if _, err := alice.c.SendMulti(ctx, multi(make([]byte, size), rs...)); err != nil {
		t.Fatalf("a send that fits the bucket: %v", err)
	}
	_, err := alice.c.SendMulti(ctx, multi([]byte("x"), rs...))
	wantCode(t, err, api.CodeRateLimited)
	if n := metricValue(t, srv, "parley_queued_envelopes"); n != devices {
		t.Fatalf("parley_queued_envelopes = %v, want %d", n, devices)
	}
}

// TestSendToManyQueueShare: the sender's share of each device's queue
// counts the content's whole size for every device.
func TestSendToManyQueueShare(t *testing.T) {
	srv := parleytest.Start(t, server.Config{SenderQueueBytes: 1000})
	ctx := context.Background()
	alice := register(t, srv, "alice", 0)
	register(t, srv, "bob", 0)
	register(t, srv, "carol", 0)
	if _, err := alice.c.SendMulti(ctx, multi(make([]byte, 600), to("bob", 1), to("carol", 1))); err != nil {
		t.Fatal(err)
	}
	_, err := alice.c.SendMulti(ctx, multi(make([]byte, 600), to("carol", 1)))
	wantCode(t, err, api.CodeSenderQueueFull)
	if n := metricValue(t, srv, "parley_queued_envelopes"); n != 2 {
		t.Fatalf("parley_queued_envelopes = %v, want 2", n)
	}
}

// BenchmarkSendToMany1000Devices: the server accepting one send to 1000
// devices (1000 accounts), over HTTP into SQLite, content 1 KiB.
func BenchmarkSendToMany1000Devices(b *testing.B) {
	alice, names := thousandMembers(b)
	var rs []api.MultiRecipient
	for _, n := range names {
		rs = append(rs, to(n, 1))
	}
	content := make([]byte, 1024)
	benchSendMulti(b, alice, func() api.MultiSendRequest { return multi(content, rs...) })
}

// thousandMembers starts a server with no send limit and registers alice
// and 1,000 accounts of one device each, whose names it returns.
func thousandMembers(b *testing.B) (*transport.Client, []string) {
	srv := parleytest.Start(b, server.Config{SendRate: 1e12, SendBurst: 1 << 40})
	ctx := context.Background()
	req, _, err := parleytest.Registration("alice", 0)
	if err != nil {
		b.Fatal(err)
	}
	base := transport.New(srv.URL, nil)
	creds, err := base.Register(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for i := range 1000 {
		r, _, err := parleytest.Registration(fmt.Sprintf("member%04d", i), 0)
		if err != nil {
			b.Fatal(err)
		}
		c, err := base.Register(ctx, r)
		if err != nil {
			b.Fatal(err)
		}
		names = append(names, c.Username)
	}
	return base.As(creds), names
}

// benchSendMulti times alice's sends of the requests next makes, after one
// that warms the server's directory, and reports the time per device.
func benchSendMulti(b *testing.B, alice *transport.Client, next func() api.MultiSendRequest) {
	ctx := context.Background()
	if _, err := alice.SendMulti(ctx, next()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := alice.SendMulti(ctx, next()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/device")
}

// TestSendToManyBodyIsExact: PUT /v1/messages decodes its body exactly
// (spec/api.md §2.1.1), and refuses a name in another case, a name twice,
// an unknown name and a second value, storing nothing.
func TestSendToManyBodyIsExact(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	const valid = `{"client_id":"AAAAAAAAAAAAAAAAAAAAAA==","type":3,"content":"aGk=","recipients":[{"username":"bob","devices":[1]}]}`
	put := func(body string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, srv.URL+"/v1/messages", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(alice.creds.Username+".1", alice.creds.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, body := range []string{
		strings.Replace(valid, `"content"`, `"Content"`, 1),
		strings.Replace(valid, `"type":3`, `"type":3,"type":3`, 1),
		strings.Replace(valid, `"devices":[1]`, `"devices":[1],"devices":[1]`, 1),
		strings.Replace(valid, `"type":3`, `"type":3,"priority":1`, 1),
		valid + ` {}`,
	} {
		if code := put(body); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", body, code)
		}
	}
	if code := put(valid); code != http.StatusOK {
		t.Fatalf("the valid body: %d", code)
	}
	if got := recvUntilEmpty(t, connect(t, bob)); len(got) != 1 || string(got[0].Content) != "hi" {
		t.Fatalf("bob got %d envelopes, want the valid one", len(got))
	}
}
