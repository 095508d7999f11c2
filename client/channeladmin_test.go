package client_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestChannelAdmins: the owner certifies an admin's identity key in the
// chain; the admin publishes from any of their devices with no key
// shared; removing the admin revokes exactly that key, so the server and
// every follower refuse what it signs next, while the owner's linked
// device keeps publishing with the owner key.
func TestChannelAdmins(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok"})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	bob2 := link(t, srv, bob, "bob-phone")
	if _, err := alice.CreateChannel(ctx, "news", "News", ""); err != nil {
		t.Fatal(err)
	}
	alice2 := link(t, srv, alice, "alice-laptop") // gets the owner key in the link message
	alice.Publish(ctx, "news", "from the owner")
	if err := alice.AddChannelAdmin(ctx, "news", "bob"); err != nil {
		t.Fatal(err)
	}
	if admins, err := alice.ChannelAdmins(ctx, "news"); err != nil || len(admins) != 1 || admins[0].Username != "bob" ||
		!bytes.Equal(admins[0].Key.Encode(), bob.IdentityKey()) {
		t.Fatalf("admins: %+v, %v", admins, err)
	}
	if _, err := bob.Publish(ctx, "news", "from the admin"); err != nil {
		t.Fatalf("admin publishes: %v", err)
	}
	if _, err := bob2.Publish(ctx, "news", "from the admin's phone"); err != nil {
		t.Fatalf("admin's other device publishes: %v", err)
	}
	if _, err := alice2.Publish(ctx, "news", "from the laptop"); err != nil {
		t.Fatalf("owner's laptop publishes: %v", err)
	}
	// An admin cannot change who signs.
	if err := bob.AddChannelAdmin(ctx, "news", "carol"); !errors.Is(err, client.ErrNotPublisher) {
		t.Fatalf("admin adds an admin: %v", err)
	}

	if err := alice.RemoveChannelAdmin(ctx, "news", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Publish(ctx, "news", "still here?"); !errors.Is(err, client.ErrNotPublisher) {
		t.Fatalf("removed admin publishes: %v", err)
	}
	if _, err := alice.Publish(ctx, "news", "after the removal"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice2.Publish(ctx, "news", "laptop, later"); err != nil {
		t.Fatalf("laptop after the removal: %v", err)
	}

	carol.Follow(ctx, "news")
	posts, err := carol.Feed(ctx, "news", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"laptop, later", "after the removal", "from the laptop", "from the admin's phone", "from the admin", "from the owner"}
	if got := texts(posts); len(got) != len(want) {
		t.Fatalf("carol's feed: %q", got)
	}
	for i := range want {
		if posts[i].Text != want[i] {
			t.Fatalf("carol's feed: %q", texts(posts))
		}
	}

	// Carol's reading counted one view per post; she reports one.
	recs, _ := transport.New(srv.URL, nil).Records(ctx, "news", transport.RecordQuery{Newest: true, Kind: 0, Limit: 100})
	var views int64
	for _, r := range recs.Records {
		views += r.Views
	}
	if views != 6 {
		t.Errorf("views = %d, want 6 (one per post)", views)
	}
	// Feed reports the counts; reading again counts nothing more.
	again, err := carol.Feed(ctx, "news", 0)
	if err != nil || len(again) != 6 {
		t.Fatalf("feed again: %d posts, %v", len(again), err)
	}
	for _, p := range again {
		if p.Views != 1 {
			t.Errorf("post #%d shows %d views, want 1", p.Seq, p.Views)
		}
	}
	if err := carol.ReportChannel(ctx, "news", &posts[0].ID, "spam", "ads"); err != nil {
		t.Fatal(err)
	}
	if rs, err := transport.New(srv.URL, nil).Admin("tok", "olga").Reports(ctx); err != nil || len(rs) != 1 || rs[0].Category != "spam" {
		t.Fatalf("reports: %+v %v", rs, err)
	}

	// A new title and an avatar.
	avatar := filepath.Join(t.TempDir(), "me.png")
	os.WriteFile(avatar, []byte("png bytes"), 0o600)
	if err := alice.SetChannelProfile(ctx, "news", "News, daily", "about", avatar); err != nil {
		t.Fatal(err)
	}
	if info, _ := transport.New(srv.URL, nil).Channel(ctx, "news"); info.Title != "News, daily" || info.Avatar == nil {
		t.Fatalf("profile: %+v", info)
	}
}

// TestLinkedDeviceGetsChannels: a device linked after its account made a
// channel and followed another publishes to the first with the owner key
// and reads the second, both under the keys the account pinned.
func TestLinkedDeviceGetsChannels(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	if _, err := alice.CreateChannel(ctx, "news", "News", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Publish(ctx, "news", "before the rotation"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.CreateChannel(ctx, "sport", "Sport", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Publish(ctx, "sport", "goal"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Follow(ctx, "sport"); err != nil {
		t.Fatal(err)
	}

	tablet := link(t, srv, alice, "alice-tablet")
	if _, err := tablet.Publish(ctx, "news", "from the tablet"); err != nil {
		t.Fatalf("linked device publishes: %v", err)
	}
	posts, err := tablet.Feed(ctx, "sport", 0)
	if err != nil || len(posts) != 1 || posts[0].Text != "goal" {
		t.Fatalf("linked device reads a followed channel: %q, %v", texts(posts), err)
	}
	if _, err := tablet.Feed(ctx, "news", 0); err != nil {
		t.Fatal(err)
	}
	cs, err := tablet.Channels(ctx)
	if err != nil || len(cs) != 2 {
		t.Fatalf("tablet's channels: %+v, %v", cs, err)
	}
	if n := cs[0]; n.Handle != "news" || !n.Publisher || n.Follows || n.Posts != 2 {
		t.Errorf("tablet's #news: %+v, want published, not followed, 2 posts", n)
	}
	if s := cs[1]; s.Handle != "sport" || s.Publisher || !s.Follows || s.Posts != 1 || s.Last.IsZero() {
		t.Errorf("tablet's #sport: %+v, want followed, 1 post", s)
	}
	// A follower verifies the tablet's post against the chain from the
	// genesis key.
	if _, err := carol.Follow(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	posts, err = carol.Feed(ctx, "news", 0)
	if err != nil || len(texts(posts)) != 2 || posts[0].Text != "from the tablet" {
		t.Fatalf("follower's feed: %q, %v", texts(posts), err)
	}
}

// TestRecoveredAdminAddedAgain: an admin who recovers his account has a
// new identity key, which signs nothing until the owner adds him again;
// adding him certifies the new key (as the owner's device learned it) and
// revokes the old one, which a lost device may still hold.
func TestRecoveredAdminAddedAgain(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, recovery := register(t, srv, "bob")
	alice.CreateChannel(ctx, "news", "News", "")
	if err := alice.AddChannelAdmin(ctx, "news", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Publish(ctx, "news", "before"); err != nil {
		t.Fatal(err)
	}
	oldKey := bob.IdentityKey()
	bob.Close()
	bob2 := newDevice(t)
	c, _, err := client.Recover(ctx, config(t, bob2.path, bob2), srv.URL, "bob", recovery, "bob-new-phone")
	if err != nil {
		t.Fatal(err)
	}
	bob2.Client = c
	t.Cleanup(func() { c.Close() })
	if _, err := bob2.Publish(ctx, "news", "new key"); !errors.Is(err, client.ErrNotPublisher) {
		t.Fatalf("recovered admin publishes: %v, want ErrNotPublisher", err)
	}
	// Alice learns bob's new key by messaging him, then adds him again.
	alice.send("bob", "your new key?")
	if err := alice.AddChannelAdmin(ctx, "news", "bob"); err != nil {
		t.Fatal(err)
	}
	admins, err := alice.ChannelAdmins(ctx, "news")
	if err != nil || len(admins) != 1 || !bytes.Equal(admins[0].Key.Encode(), bob2.IdentityKey()) || bytes.Equal(oldKey, bob2.IdentityKey()) {
		t.Fatalf("admins: %+v, %v", admins, err)
	}
	if _, err := bob2.Publish(ctx, "news", "new key"); err != nil {
		t.Fatalf("re-added admin publishes: %v", err)
	}
}
