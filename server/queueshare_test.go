package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestSenderQueueShare: one sender flooding a device's queue is stopped at
// its share with sender_queue_full, and another sender still delivers; the
// share frees up as the recipient acks (spec/api.md §6.4).
func TestSenderQueueShare(t *testing.T) {
	srv := parleytest.Start(t, server.Config{MaxQueue: 100, SenderQueue: 20, SenderQueueBytes: 64 << 10})
	ctx := context.Background()
	mallory := register(t, srv, "mallory", 0)
	alice := register(t, srv, "alice", 0)
	bob := register(t, srv, "bob", 0)

	flood := 0
	for i := range 100 {
		_, err := sendTo(t, mallory, "bob", []uint32{1}, fmt.Sprint("flood ", i))
		if err != nil {
			wantCode(t, err, api.CodeSenderQueueFull)
			break
		}
		flood++
	}
	if flood != 20 {
		t.Fatalf("the flooder queued %d envelopes, want its share of 20", flood)
	}
	if _, err := sendTo(t, alice, "bob", []uint32{1}, "hello bob"); err != nil {
		t.Fatalf("another sender after the flood: %v", err)
	}

	// The byte share: another account, 64 KiB, stopped by its second
	// 40 KiB envelope; nothing of the refused send is stored.
	big := register(t, srv, "big", 0)
	if _, err := sendTo(t, big, "bob", []uint32{1}, string(make([]byte, 40<<10))); err != nil {
		t.Fatal(err)
	}
	_, err := sendTo(t, big, "bob", []uint32{1}, string(make([]byte, 40<<10)))
	wantCode(t, err, api.CodeSenderQueueFull)

	s := connect(t, bob)
	got := recvUntilEmpty(t, s)
	if len(got) != 22 || got[20].Sender != "alice" || string(got[20].Content) != "hello bob" || got[21].Sender != "big" {
		t.Fatalf("bob got %d envelopes", len(got))
	}
	// Once Bob acks, the flooder's share is free again.
	seqs := make([]uint64, 0, len(got))
	for _, f := range got[:20] {
		seqs = append(seqs, f.Seq)
	}
	if err := s.Ack(ctx, seqs...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, err := sendTo(t, mallory, "bob", []uint32{1}, "after the acks")
		return err == nil
	})

	// An account's own devices have no share bound (sync).
	bob2 := link(t, srv, bob, "tablet")
	for i := range 25 {
		if _, err := sendTo(t, bob2, "bob", []uint32{1}, fmt.Sprint("sync ", i)); err != nil {
			t.Fatalf("self-send %d: %v", i, err)
		}
	}
}

// waitFor polls cond until it holds, for what the server does after it
// answered (an Ack has no answer), failing after 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSendRate: an account storing faster than the send rate gets
// rate_limited, and another account is not held by it (spec/api.md §2.3).
func TestSendRate(t *testing.T) {
	srv := parleytest.Start(t, server.Config{SendRate: 1, SendBurst: 10_000})
	mallory := register(t, srv, "mallory", 0)
	alice := register(t, srv, "alice", 0)
	register(t, srv, "bob", 0)
	four := string(make([]byte, 4<<10))
	for i := range 2 {
		if _, err := sendTo(t, mallory, "bob", []uint32{1}, four); err != nil {
			t.Fatalf("send %d within the burst: %v", i, err)
		}
	}
	_, err := sendTo(t, mallory, "bob", []uint32{1}, four)
	wantCode(t, err, api.CodeRateLimited)
	if _, err := sendTo(t, alice, "bob", []uint32{1}, four); err != nil {
		t.Fatalf("another sender: %v", err)
	}
}

// TestSenderQueueShareAfterRemovalAndRecovery: a flooder's full share of
// a device goes with the device: when the recipient removes it, or
// recovers the account (which replaces every device), the flooder, like
// any sender, can send to the devices that replace it, so the counters
// never leave a sender locked out of a queue it holds nothing in.
func TestSenderQueueShareAfterRemovalAndRecovery(t *testing.T) {
	srv := parleytest.Start(t, server.Config{MaxQueue: 100, SenderQueue: 3})
	mallory := register(t, srv, "mallory", 0)
	bob, key := registerRecoverable(t, srv, "bob")
	fill := func(devs []uint32) {
		t.Helper()
		for i := range 3 {
			if _, err := sendTo(t, mallory, "bob", devs, fmt.Sprint("flood ", i)); err != nil {
				t.Fatalf("send %d to %v within the share: %v", i, devs, err)
			}
		}
		_, err := sendTo(t, mallory, "bob", devs, "one too many")
		wantCode(t, err, api.CodeSenderQueueFull)
	}
	bob2 := link(t, srv, bob, "tablet")
	devs := []uint32{bob.creds.DeviceID, bob2.creds.DeviceID}
	fill(devs)

	// Removing the tablet leaves the phone's share full, as it should.
	if err := bob.c.RemoveDevice(context.Background(), bob2.creds.DeviceID); err != nil {
		t.Fatal(err)
	}
	_, err := sendTo(t, mallory, "bob", devs[:1], "still full")
	wantCode(t, err, api.CodeSenderQueueFull)
	bob3 := link(t, srv, bob, "laptop")
	_, err = sendTo(t, mallory, "bob", []uint32{bob.creds.DeviceID, bob3.creds.DeviceID}, "phone still full")
	wantCode(t, err, api.CodeSenderQueueFull)

	// Recovery replaces every device: the old shares go with them.
	rec, err := recoverAs(t, srv, "bob", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	fill([]uint32{rec.creds.DeviceID})
}
