package tickets

import (
	"testing"
	"time"
)

func TestTicketIsSpentOnce(t *testing.T) {
	b := New()
	now := time.Unix(1_800_000_000, 0)
	h := Holder{Username: "alice", Account: 7, Device: 2}
	tk, exp, ok := b.Issue(h, now)
	if !ok || len(tk) != 43 || !exp.Equal(now.Add(TTL)) {
		t.Fatalf("Issue = %q, %v, %v", tk, exp, ok)
	}
	if got, ok := b.Redeem(tk, now.Add(time.Second)); !ok || got != h {
		t.Fatalf("Redeem = %+v, %v", got, ok)
	}
	if _, ok := b.Redeem(tk, now.Add(time.Second)); ok {
		t.Fatal("a ticket was spent twice")
	}
	tk2, _, _ := b.Issue(h, now)
	if _, ok := b.Redeem(tk2, now.Add(TTL)); ok {
		t.Fatal("an expired ticket was taken")
	}
	if _, ok := b.Redeem(tk2, now); ok {
		t.Fatal("an expired ticket, refused once, was taken later")
	}
	for _, bad := range []string{"", "x", tk[:42], tk + "A"} {
		if _, ok := b.Redeem(bad, now); ok {
			t.Fatalf("%q was taken", bad)
		}
	}
	if b.Len() != 0 {
		t.Fatalf("%d tickets held after all were spent", b.Len())
	}
}

func TestTicketsAreBounded(t *testing.T) {
	b := New()
	now := time.Unix(1_800_000_000, 0)
	h := Holder{Username: "alice", Account: 7, Device: 2}
	var first string
	for i := range PerDevice + 3 {
		tk, _, ok := b.Issue(h, now)
		if !ok {
			t.Fatal("refused")
		}
		if i == 0 {
			first = tk
		}
	}
	if b.Len() != PerDevice {
		t.Fatalf("%d tickets for one device, want %d", b.Len(), PerDevice)
	}
	if _, ok := b.Redeem(first, now); ok {
		t.Fatal("a device's oldest ticket, replaced, was taken")
	}
	// The node's bound: full of unexpired tickets, it refuses; once they
	// expire, it sweeps and issues again.
	for i := range MaxTickets {
		if _, _, ok := b.Issue(Holder{Account: int64(i + 100), Device: 1}, now); !ok {
			if b.Len() != MaxTickets {
				t.Fatalf("refused at %d tickets", b.Len())
			}
			break
		}
	}
	if _, _, ok := b.Issue(Holder{Account: 1, Device: 1}, now); ok {
		t.Fatal("issued past MaxTickets")
	}
	if _, _, ok := b.Issue(Holder{Account: 1, Device: 1}, now.Add(TTL)); !ok || b.Len() != 1 {
		t.Fatalf("after expiry: %v, %d held", ok, b.Len())
	}
}
