package server_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"testing"

	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// fromIP is an anonymous API client whose connections come from ip, an
// address of the loopback network (127.0.0.0/8 on Linux), so that one test
// can be several requesters.
func fromIP(t *testing.T, srv *parleytest.Server, ip string) *transport.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return transport.New(srv.URL, &http.Client{Transport: tr})
}

// TestViewCounting: an ID named many times in one request is one view, the
// same requester viewing again within the window adds nothing, another
// requester adds one, and a requester that has used up its views per window
// adds no more; a requester is its account when it sends credentials, else
// its IP (spec/api.md §11.5).
func TestViewCounting(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	owner := register(t, srv, "owner", 0)
	p := newPublisher(t)
	p.create(owner, "news")
	rec := &channel.Record{Kind: channel.KindPost, Text: "seen"}
	res, err := owner.c.PostRecord(ctx, "news", p.sign(rec))
	if err != nil {
		t.Fatal(err)
	}
	views := func() int64 {
		t.Helper()
		page, err := transport.New(srv.URL, nil).Records(ctx, "news", transport.RecordQuery{After: res.Seq - 1, Limit: 1})
		if err != nil || len(page.Records) != 1 || page.Records[0].Seq != res.Seq {
			t.Fatalf("records: %+v %v", page, err)
		}
		return page.Records[0].Views
	}
	hundred := make([][]byte, 100)
	for i := range hundred {
		hundred[i] = rec.ID[:]
	}

	a := fromIP(t, srv, "127.0.0.1")
	if err := a.AddViews(ctx, "news", hundred); err != nil {
		t.Fatal(err)
	}
	if got := views(); got != 1 {
		t.Fatalf("one request naming the ID 100 times: %d views, want 1", got)
	}
	if err := a.AddViews(ctx, "news", hundred[:1]); err != nil {
		t.Fatal(err)
	}
	if got := views(); got != 1 {
		t.Fatalf("the same requester again: %d views, want 1", got)
	}
	if err := fromIP(t, srv, "127.0.0.2").AddViews(ctx, "news", hundred); err != nil {
		t.Fatal(err)
	}
	if got := views(); got != 2 {
		t.Fatalf("a second requester: %d views, want 2", got)
	}

	// A requester that names 1000 other IDs first has used up its window.
	c := fromIP(t, srv, "127.0.0.3")
	for range 10 {
		ids := make([][]byte, 100)
		for i := range ids {
			ids[i] = make([]byte, 16)
			rand.Read(ids[i])
		}
		if err := c.AddViews(ctx, "news", ids); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddViews(ctx, "news", hundred[:1]); err != nil {
		t.Fatal(err)
	}
	if got := views(); got != 2 {
		t.Fatalf("a requester past its views per window: %d views, want 2", got)
	}

	// With credentials, the requester is the account: two accounts from
	// one IP count apart, and one account counts once from any IP.
	v1, v2 := register(t, srv, "viewer1", 0), register(t, srv, "viewer2", 0)
	for _, u := range []*user{v1, v2, v1} {
		if err := u.c.AddViews(ctx, "news", hundred); err != nil {
			t.Fatal(err)
		}
	}
	if got := views(); got != 4 {
		t.Fatalf("two accounts: %d views, want 4", got)
	}
	if err := fromIP(t, srv, "127.0.0.4").As(v1.creds).AddViews(ctx, "news", hundred[:1]); err != nil {
		t.Fatal(err)
	}
	if got := views(); got != 4 {
		t.Fatalf("an account from another IP: %d views, want 4", got)
	}
}
