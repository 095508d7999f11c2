package client_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestLinkedDeviceGetsALongGroup: a group whose chain is longer than the
// 32 KiB a link message used to carry (40 changes of a 1,000-byte
// description, about 50 KB) reaches a device linked afterwards in the link
// message itself: the device knows the group and its latest state before
// anything else arrives.
func TestLinkedDeviceGetsALongGroup(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	register(t, srv, "bob")
	g, err := alice.CreateGroup(ctx, "Long history", "bob")
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for i := range 40 {
		last = fmt.Sprintf("%03d %s", i, strings.Repeat("d", 996))
		if err := alice.SetGroupInfo(ctx, g.Conversation, "Long history", last); err != nil {
			t.Fatal(err)
		}
	}
	alice2 := link(t, srv, alice, "alice-tablet")
	got, err := alice2.Group(ctx, g.Conversation)
	if err != nil {
		t.Fatalf("the linked device lacks the group: %v", err)
	}
	if !got.Member || len(got.Members) != 2 || got.Description != last {
		t.Fatalf("the linked device sees %d members, member %v, description %.20q…", len(got.Members), got.Member, got.Description)
	}
}
