package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestGroup200Members: a group of 200 accounts in one test process; one
// message reaches every member, sent once (spec/client.md §10.4). What
// goes to every member over the 1:1 sessions (the group's records, the
// sender key) goes in few requests, not one per member (spec/api.md §6.6).
func TestGroup200Members(t *testing.T) {
	if testing.Short() {
		t.Skip("registers 200 accounts")
	}
	const n = 200
	ctx := context.Background()
	srv := start(t)
	devs := make([]*device, n)
	reqs := &requestLog{}
	devs[0] = registerWith(t, srv, "member000", reqs)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := 1; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			devs[i], _ = register(t, srv, fmt.Sprintf("member%03d", i))
		}()
	}
	wg.Wait()
	owner := devs[0]
	var names []string
	for _, d := range devs[1:] {
		names = append(names, d.Username())
	}
	reqs.reset()
	g, err := owner.CreateGroup(ctx, "Two hundred", names...)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Members) != n {
		t.Fatalf("%d members", len(g.Members))
	}
	// The create record (about 14 KB with 200 names) to 199 accounts:
	// under 3 MB of envelopes, so one or two requests.
	if many, single := reqs.sends(); single != 0 || many < 1 || many > 2 {
		t.Fatalf("creating the group took %d sends to many and %d 1:1 sends; want 1 or 2 and none", many, single)
	}
	parallelSync(t, devs[1:])
	reqs.reset()
	m, err := owner.Send(ctx, g.Conversation, "to all two hundred")
	if err != nil {
		t.Fatal(err)
	}
	if m.Recipients != n-1 {
		t.Fatalf("sent to %d members", m.Recipients)
	}
	// The sender key to 199 accounts, then the message.
	if many, single := reqs.sends(); many != 2 || single != 0 {
		t.Fatalf("the first message took %d sends to many and %d 1:1 sends; want 2 and none", many, single)
	}
	parallelSync(t, devs[1:])
	for _, d := range devs[1:] {
		if got := d.groupTexts(g.Conversation); !slices.Equal(got, []string{"member000: to all two hundred"}) {
			t.Fatalf("%s shows %q", d.Username(), got)
		}
	}
	// Their delivery receipts reach the sender.
	syncAll(t, owner)
	ms, err := owner.Messages(ctx, g.Conversation, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, mm := range ms {
		if mm.ID == m.ID && mm.DeliveredTo() != n-1 {
			t.Fatalf("delivered to %d of %d", mm.DeliveredTo(), n-1)
		}
	}
	// A removal goes to the 199 in one request; the next message starts a
	// new chain, given to the 198 left in one request, then sent.
	reqs.reset()
	if err := owner.RemoveMember(ctx, g.Conversation, devs[n-1].Username()); err != nil {
		t.Fatal(err)
	}
	if many, single := reqs.sends(); many != 1 || single != 0 {
		t.Fatalf("the removal took %d sends to many and %d 1:1 sends; want 1 and none", many, single)
	}
	parallelSync(t, devs[1:])
	reqs.reset()
	if _, err := owner.Send(ctx, g.Conversation, "after the removal"); err != nil {
		t.Fatal(err)
	}
	if many, single := reqs.sends(); many != 2 || single != 0 {
		t.Fatalf("the rotation took %d sends to many and %d 1:1 sends; want 2 and none", many, single)
	}
	parallelSync(t, devs[1:])
	for _, d := range devs[1 : n-1] {
		if got := d.groupTexts(g.Conversation); !slices.Contains(got, "member000: after the removal") {
			t.Fatalf("%s shows %q", d.Username(), got)
		}
	}
	if got := devs[n-1].groupTexts(g.Conversation); slices.Contains(got, "member000: after the removal") {
		t.Fatalf("the removed member reads %q", got)
	}
}

// requestLog is an HTTP transport that notes each request's method and
// path.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.seen = append(l.seen, r.Method+" "+r.URL.Path)
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (l *requestLog) reset() {
	l.mu.Lock()
	l.seen = nil
	l.mu.Unlock()
}

// sends counts the sends to many (PUT /v1/messages) and the 1:1 sends
// (PUT /v1/messages/{username}) since the last reset.
func (l *requestLog) sends() (many, single int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.seen {
		switch {
		case r == "PUT /v1/messages":
			many++
		case strings.HasPrefix(r, "PUT /v1/messages/"):
			single++
		}
	}
	return many, single
}

// parallelSync syncs the devices, four at a time.
func parallelSync(t *testing.T, devs []*device) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make(chan error, len(devs))
	for _, d := range devs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := d.Sync(context.Background()); err != nil {
				errs <- fmt.Errorf("%s: %w", d.Username(), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestGroupMemberLimit: the server's bound on members (parleyd's
// -max-group-members) is kept: a group cannot be made or grown past it,
// and the server refuses a send to more accounts (too_many_recipients).
func TestGroupMemberLimit(t *testing.T) {
	ctx := context.Background()
	srv := parleytest.Start(t, server.Config{MaxGroupMembers: 3})
	var devs []*device
	for _, n := range []string{"alice", "bob", "carol", "dave", "erin"} {
		d, _ := register(t, srv, n)
		devs = append(devs, d)
	}
	if _, err := devs[0].CreateGroup(ctx, "Four", "bob", "carol", "dave"); !errors.Is(err, client.ErrGroupFull) {
		t.Fatalf("a group of 4 with a bound of 3: %v", err)
	}
	g, err := devs[0].CreateGroup(ctx, "Three", "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	if err := devs[0].AddMembers(ctx, g.Conversation, "dave"); !errors.Is(err, client.ErrGroupFull) {
		t.Fatalf("a fourth member with a bound of 3: %v", err)
	}
	if _, err := devs[0].Send(ctx, g.Conversation, "three of us"); err != nil {
		t.Fatal(err)
	}
	// The server's own check, whatever a client does.
	_, err = devs[0].TransportForTest().SendMulti(ctx, api.MultiSendRequest{ClientID: make([]byte, 16), Type: 3, Content: []byte{1},
		Recipients: []api.MultiRecipient{{Username: "bob", Devices: []uint32{1}}, {Username: "carol", Devices: []uint32{1}},
			{Username: "dave", Devices: []uint32{1}}, {Username: "erin", Devices: []uint32{1}}}})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeTooManyRecipients {
		t.Fatalf("a send naming 4 other accounts with a bound of 3: %v", err)
	}
}
