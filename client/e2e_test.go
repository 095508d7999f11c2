package client_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// waitTimeout only keeps a broken test from hanging; nothing here is timed.
const waitTimeout = 20 * time.Second

var passphrase = []byte("correct horse battery staple")

// device is one client with its events collected.
type device struct {
	*client.Client
	t      *testing.T
	path   string
	mu     sync.Mutex
	events []client.Event
	signal chan struct{}
	stop   func()
	runErr chan error
}

func config(t *testing.T, path string, d *device) client.Config {
	st, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return client.Config{Store: st, Passphrase: passphrase, Events: d.record}
}

func (d *device) record(e client.Event) {
	d.mu.Lock()
	d.events = append(d.events, e)
	d.mu.Unlock()
	select {
	case d.signal <- struct{}{}:
	default:
	}
}

func newDevice(t *testing.T) *device {
	return &device{t: t, path: filepath.Join(t.TempDir(), "client.db"), signal: make(chan struct{}, 1)}
}

// register creates an account named name on srv.
func register(t *testing.T, srv *parleytest.Server, name string) (*device, string) {
	t.Helper()
	d := newDevice(t)
	c, recovery, err := client.Create(context.Background(), config(t, d.path, d), client.CreateOptions{Server: srv.URL, Username: name, DeviceName: name + "-phone"})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	d.Client = c
	t.Cleanup(func() { c.Close() })
	return d, recovery
}

// link adds a device to from's account.
func link(t *testing.T, srv *parleytest.Server, from *device, name string) *device {
	t.Helper()
	d := newDevice(t)
	return linkDevice(t, srv, from, name, d, config(t, d.path, d))
}

// linkDevice links d, a new device opened with cfg, to from's account.
func linkDevice(t *testing.T, srv *parleytest.Server, from *device, name string, d *device, cfg client.Config) *device {
	t.Helper()
	ctx := context.Background()
	l, err := client.BeginLink(ctx, cfg, srv.URL, name)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := l.Wait(ctx)
		d.Client = c
		done <- err
	}()
	if err := from.ApproveLink(ctx, l.Code()); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("link wait: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// run processes d's envelopes in the background until the test ends.
func (d *device) run() {
	ctx, cancel := context.WithCancel(context.Background())
	d.runErr = make(chan error, 1)
	go func() { d.runErr <- d.Run(ctx) }()
	d.stop = func() { cancel(); <-d.runErr }
	d.t.Cleanup(d.stop)
	d.waitEvent(func(e client.Event) bool { _, ok := e.(*client.SyncedEvent); return ok })
}

// waitEvent waits for an event that match accepts, among those not yet
// consumed, and consumes it and those before it.
func (d *device) waitEvent(match func(client.Event) bool) client.Event {
	d.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		d.mu.Lock()
		for i, e := range d.events {
			if match(e) {
				d.events = d.events[i+1:]
				d.mu.Unlock()
				return e
			}
		}
		d.mu.Unlock()
		select {
		case <-d.signal:
		case <-deadline:
			d.t.Fatalf("%s.%d: no matching event", d.Username(), d.DeviceID())
		}
	}
}

func (d *device) waitMessage(text string) client.Message {
	d.t.Helper()
	e := d.waitEvent(func(e client.Event) bool {
		m, ok := e.(*client.MessageEvent)
		return ok && m.Message.Text == text
	})
	return e.(*client.MessageEvent).Message
}

// waitStatus waits until the message id with peer has status.
func (d *device) waitStatus(peer string, id client.MessageID, status client.MessageStatus) {
	d.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		ms, err := d.Messages(context.Background(), client.Direct(peer), 0)
		if err != nil {
			d.t.Fatal(err)
		}
		for _, m := range ms {
			if m.ID == id && m.Status == status {
				return
			}
		}
		select {
		case <-d.signal:
		case <-deadline:
			d.t.Fatalf("%s.%d: message %s never became %v", d.Username(), d.DeviceID(), id, status)
		}
	}
}

func (d *device) send(peer, text string) client.Message {
	d.t.Helper()
	m, err := d.Send(context.Background(), client.Direct(peer), text)
	if err != nil {
		d.t.Fatalf("%s sends %q: %v", d.Username(), text, err)
	}
	return m
}

// transcript is the conversation with peer as "sender: text" lines.
func (d *device) transcript(peer string) []string {
	d.t.Helper()
	return d.groupTexts(client.Direct(peer))
}

// groupTexts is a conversation's messages as "sender: text", in the
// order the device shows them.
func (d *device) groupTexts(conv client.ConversationID) []string {
	d.t.Helper()
	ms, err := d.Messages(context.Background(), conv, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if m.Kind == client.KindText {
			out = append(out, m.From+": "+m.Text)
		}
	}
	return out
}

func start(t *testing.T) *parleytest.Server { return parleytest.Start(t, server.Config{}) }

func TestEveryDeviceSeesTheConversation(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice2 := link(t, srv, alice, "alice-laptop")
	if alice2.Username() != "alice" || alice2.DeviceID() == alice.DeviceID() {
		t.Fatalf("linked device is %s.%d", alice2.Username(), alice2.DeviceID())
	}
	for _, d := range []*device{alice, alice2, bob} {
		d.run()
	}

	m1 := alice.send("bob", "hi bob")
	bob.waitMessage("hi bob")
	alice2.waitMessage("hi bob") // the sync transcript
	// Bob's device acknowledges delivery to both of Alice's devices (on
	// alice2 the receipt may come before the sync transcript).
	for _, d := range []*device{alice, alice2} {
		d.waitStatus("bob", m1.ID, client.StatusDelivered)
	}

	if _, err := bob.Reply(ctx, "alice", m1.ID, "hello alice"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{alice, alice2} {
		if got := d.waitMessage("hello alice"); got.ReplyTo == nil || *got.ReplyTo != m1.ID {
			t.Errorf("%s.%d: the reply does not point at %s: %v", d.Username(), d.DeviceID(), m1.ID, got.ReplyTo)
		}
	}

	alice2.send("bob", "from my laptop")
	bob.waitMessage("from my laptop")
	alice.waitMessage("from my laptop")

	want := []string{"alice: hi bob", "bob: hello alice", "alice: from my laptop"}
	for _, c := range []struct {
		d    *device
		peer string
	}{{alice, "bob"}, {alice2, "bob"}, {bob, "alice"}} {
		if got := c.d.transcript(c.peer); !slices.Equal(got, want) {
			t.Errorf("%s.%d sees %q, want %q", c.d.Username(), c.d.DeviceID(), got, want)
		}
	}

	// Read receipts and typing.
	if err := bob.MarkRead(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(func(e client.Event) bool {
		r, ok := e.(*client.ReceiptEvent)
		return ok && r.Type == client.ReceiptRead && slices.Contains(r.IDs, m1.ID)
	})
	ms, _ := alice.Messages(ctx, "bob", 0)
	if ms[0].ID != m1.ID || ms[0].Status != client.StatusRead {
		t.Errorf("alice's first message: %v %v, want read", ms[0].Text, ms[0].Status)
	}
	convs, _ := bob.Conversations(ctx)
	if len(convs) != 1 || convs[0].ID != "alice" || convs[0].Unread != 0 {
		t.Errorf("bob's conversations after reading: %+v", convs)
	}
	// Alice reads on her phone: her laptop's unread count drops too.
	if c, _ := alice2.Conversations(ctx); len(c) != 1 || c[0].Unread != 1 {
		t.Fatalf("alice's laptop before: %+v", c)
	}
	if err := alice.MarkRead(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	alice2.waitEvent(func(e client.Event) bool {
		r, ok := e.(*client.ReadElsewhereEvent)
		return ok && r.Conversation == "bob"
	})
	if c, _ := alice2.Conversations(ctx); c[0].Unread != 0 {
		t.Fatalf("alice's laptop after reading on the phone: %+v", c)
	}
	if err := bob.SendTyping(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(func(e client.Event) bool {
		ty, ok := e.(*client.TypingEvent)
		return ok && ty.From == "bob" && ty.Started
	})
}

func TestOfflineDeviceCatchesUp(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	var want []string
	for _, text := range []string{"one", "two", "three", "four", "five"} {
		alice.send("bob", text)
		want = append(want, "alice: "+text)
	}
	// Bob was offline; he connects once and finds everything, in order.
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bob.transcript("alice"); !slices.Equal(got, want) {
		t.Fatalf("bob sees %q, want %q", got, want)
	}
	convs, _ := bob.Conversations(ctx)
	if len(convs) != 1 || convs[0].Unread != 5 {
		t.Errorf("conversations: %+v, want alice with 5 unread", convs)
	}
	// A second sync finds nothing new and stores nothing twice.
	if err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := bob.transcript("alice"); !slices.Equal(got, want) {
		t.Fatalf("after a second sync bob sees %q", got)
	}
	// Alice's messages become delivered once she syncs Bob's receipts.
	if err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ms, _ := alice.Messages(ctx, "bob", 0)
	for _, m := range ms {
		if m.Status != client.StatusDelivered {
			t.Errorf("%q is %v, want delivered", m.Text, m.Status)
		}
	}
	// Bob answered the whole catch-up with one receipt, not five.
	var receipts []*client.ReceiptEvent
	alice.mu.Lock()
	for _, e := range alice.events {
		if r, ok := e.(*client.ReceiptEvent); ok && r.Type == client.ReceiptDelivered {
			receipts = append(receipts, r)
		}
	}
	alice.mu.Unlock()
	if len(receipts) != 1 || len(receipts[0].IDs) != 5 {
		t.Errorf("alice got %d delivery receipts (%+v), want one for the 5 messages", len(receipts), receipts)
	}
}
