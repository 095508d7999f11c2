package client_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
)

// TestCallbacksMayCallTheClient: events are delivered outside the
// client's lock, in order, before the call that caused them returns. A
// callback may read the client (Conversations, Messages) and even send
// from inside (an auto-reply) without a deadlock. While a callback is
// slow, another goroutine's call goes through.
func TestCallbacksMayCallTheClient(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	d := newDevice(t)
	st, err := sqlitestore.Open(ctx, d.path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		bob      *client.Client
		mu       sync.Mutex
		got      []string
		replied  bool
		inSlow   = make(chan struct{})
		release  = make(chan struct{})
		slowOnce sync.Once
	)
	events := func(e client.Event) {
		m, ok := e.(*client.MessageEvent)
		if !ok {
			return
		}
		// Reads from inside the callback: under the old lock, a deadlock.
		cs, err := bob.Conversations(ctx)
		if err != nil || len(cs) == 0 {
			t.Errorf("Conversations from a callback: %v, %d", err, len(cs))
		}
		ms, err := bob.Messages(ctx, m.Message.Conversation, 0)
		if err != nil || len(ms) == 0 {
			t.Errorf("Messages from a callback: %v", err)
		}
		mu.Lock()
		got = append(got, m.Message.Text)
		first := !replied && !m.Message.Outgoing
		replied = replied || first
		mu.Unlock()
		if first {
			if _, err := bob.Send(ctx, client.Direct("alice"), "auto-reply: away"); err != nil {
				t.Errorf("Send from a callback: %v", err)
			}
		}
		if m.Message.Text == "slow" {
			slowOnce.Do(func() { close(inSlow); <-release })
		}
	}
	bob, _, err = client.Create(ctx, client.Config{Store: st, Passphrase: passphrase, Events: events},
		client.CreateOptions{Server: srv.URL, Username: "bob", DeviceName: "bob-phone"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()

	for _, text := range []string{"one", "two", "three"} {
		alice.send("bob", text)
	}
	done := make(chan error, 1)
	go func() { done <- bob.Sync(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Sync did not return: a callback that calls the client deadlocked")
	}
	mu.Lock()
	want := []string{"one", "two", "three"}
	if len(got) != len(want) {
		t.Fatalf("events %q, want %q in order", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %q, want %q", got, want)
		}
	}
	mu.Unlock()
	syncAll(t, alice)
	if tr := alice.transcript("bob"); len(tr) == 0 || tr[len(tr)-1] != "bob: auto-reply: away" {
		t.Fatalf("the reply sent from a callback did not reach alice: %q", tr)
	}

	// A slow callback does not hold up another goroutine's call.
	alice.send("bob", "slow")
	go func() { done <- bob.Sync(ctx) }()
	<-inSlow
	read := make(chan error, 1)
	go func() { _, err := bob.Conversations(ctx); read <- err }()
	select {
	case err := <-read:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Conversations waited for another goroutine's callback")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
