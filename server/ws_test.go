package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestDeliveryWindow: a device that reads but never acknowledges gets
// MaxInFlight envelopes and then nothing more until it acks, so an
// unacknowledging client cannot make the server buffer its whole queue.
// Ephemeral deliveries still come.
func TestDeliveryWindow(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	const total = api.MaxInFlight + 100
	for i := range total {
		if _, err := sendTo(t, alice, "bob", []uint32{1}, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	s := connect(t, bob)
	var seqs []uint64
	for len(seqs) < api.MaxInFlight {
		f := recvDeliver(t, s)
		if string(f.Content) != fmt.Sprint(len(seqs)) {
			t.Fatalf("delivery %d out of order: %q", len(seqs), f.Content)
		}
		seqs = append(seqs, f.Seq)
	}
	// An ephemeral delivery (Seq 0) takes no room in the window: it comes
	// while the window is full.
	if _, err := sendEphemeral(t, alice, "bob", []uint32{1}, []byte("typing")); err != nil {
		t.Fatal(err)
	}
	if f := recvDeliver(t, s); f.Seq != 0 || string(f.Content) != "typing" {
		t.Fatalf("with the window full: seq %d %q, want the ephemeral delivery", f.Seq, f.Content)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	f, err := s.Recv(ctx)
	cancel()
	if err == nil {
		t.Fatalf("got frame type %d beyond the window", f.Type)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("connection broke: %v", err)
	}
}

// TestKeepalive: with a short ping interval an idle socket stays open and
// still delivers.
func TestKeepalive(t *testing.T) {
	srv := parleytest.Start(t, server.Config{PingInterval: 50 * time.Millisecond})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	s := connect(t, bob)
	recvUntilEmpty(t, s)
	// Pings are answered by the reader inside Recv; keep one pending
	// while the server pings several times.
	got := make(chan *api.Frame, 1)
	go func() {
		f, err := s.Recv(context.Background())
		if err == nil {
			got <- f
		}
		close(got)
	}()
	time.Sleep(300 * time.Millisecond) // several ping intervals of idleness
	if _, err := sendTo(t, alice, "bob", []uint32{1}, "after idle"); err != nil {
		t.Fatal(err)
	}
	select {
	case f, ok := <-got:
		if !ok || string(f.Content) != "after idle" {
			t.Fatalf("socket did not survive idling: %v", f)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery after idling")
	}
}

// TestSlowConsumerIsCut: a device that stops reading while large envelopes
// pile up is disconnected after the write timeout instead of holding the
// server's memory.
func TestSlowConsumerIsCut(t *testing.T) {
	srv := parleytest.Start(t, server.Config{WriteTimeout: 300 * time.Millisecond})
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)
	s := connect(t, bob)
	recvUntilEmpty(t, s)
	if got := openSockets(t, srv); got != 1 {
		t.Fatalf("%v sockets open", got)
	}
	big := string(make([]byte, 200<<10))
	for range 64 { // 12.5 MiB, more than the socket buffers hold
		if _, err := sendTo(t, alice, "bob", []uint32{1}, big); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for openSockets(t, srv) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("slow consumer still connected")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openSockets reads parley_websocket_connections from /metrics.
func openSockets(t *testing.T, srv *parleytest.Server) float64 {
	return metricValue(t, srv, "parley_websocket_connections")
}

// metricValue reads one unlabelled metric from /metrics.
func metricValue(t *testing.T, srv *parleytest.Server, name string) float64 {
	t.Helper()
	v, ok := metricSample(t, srv, name)
	if !ok {
		t.Fatalf("metric %s missing", name)
	}
	return v
}

// metricSample reads one sample from /metrics, named as the text format
// writes it (with its labels, if any), and reports whether it was there.
func metricSample(t *testing.T, srv *parleytest.Server, sample string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f, true
		}
	}
	return 0, false
}

// TestLiveDeliveryKeepsOrderUnderLoad: many senders at once to one
// connected device; every envelope arrives once, in Seq order, whether it
// came from the hub's pushes or from a queue read after falling behind.
func TestLiveDeliveryKeepsOrderUnderLoad(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	bob := register(t, srv, "bob", 0)
	const senders, each = 8, 60
	var users []*user
	for i := range senders {
		users = append(users, register(t, srv, fmt.Sprint("sender", i), 0))
	}
	s := connect(t, bob)
	recvUntilEmpty(t, s)
	errs := make(chan error, senders)
	for _, u := range users {
		go func() {
			for i := range each {
				if _, err := sendTo(t, u, "bob", []uint32{1}, fmt.Sprint(i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var last uint64
	seen := map[string]int{}
	for n := 0; n < senders*each; n++ {
		f := recvDeliver(t, s)
		if f.Seq <= last {
			t.Fatalf("Seq %d after %d: out of order", f.Seq, last)
		}
		last = f.Seq
		key := f.Sender + "/" + string(f.Content)
		seen[key]++
		if seen[key] > 1 {
			t.Fatalf("%s delivered twice", key)
		}
		if n%50 == 49 {
			if err := s.Ack(context.Background(), f.Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
