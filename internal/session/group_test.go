package session_test

import (
	"errors"
	"testing"

	"github.com/parley-chat/parley/internal/protocoltest"
	"github.com/parley-chat/parley/internal/senderkey"
)

// TestGroupOverPairwiseSessions runs Sender Keys as Signal does: Alice's
// distribution message travels to each member inside their pairwise
// session; a member who never got it cannot read the group.
func TestGroupOverPairwiseSessions(t *testing.T) {
	r := protocoltest.Rand(11)
	alice, err := protocoltest.NewParty(r, false)
	if err != nil {
		t.Fatal(err)
	}
	var members []*senderkey.Receiver
	var group [16]byte
	copy(group[:], "parley test grp!")
	sender, err := senderkey.NewSender(group, r)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		m, err := protocoltest.NewParty(r, true)
		if err != nil {
			t.Fatal(err)
		}
		as, ms, err := protocoltest.Pair(r, alice, m)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := as.Encrypt(sender.Distribution())
		if err != nil {
			t.Fatal(err)
		}
		dist, err := ms.Decrypt(sealed)
		if err != nil {
			t.Fatal(err)
		}
		recv, err := senderkey.NewReceiver(dist)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, recv)
	}
	msg, err := sender.Encrypt([]byte("to the group"), r)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range members {
		pt, err := m.Decrypt(msg)
		if err != nil || string(pt) != "to the group" {
			t.Fatalf("member %d: %q, %v", i, pt, err)
		}
	}
	var outsider senderkey.Receiver // never received the distribution
	if _, err := outsider.Decrypt(msg); !errors.Is(err, senderkey.ErrNoSenderKey) {
		t.Fatalf("outsider: got %v, want ErrNoSenderKey", err)
	}
}
