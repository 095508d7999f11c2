package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// TestChannelAdminsAndRotation: the owner gives an admin the key end to
// end; the admin publishes; removing the admin rotates the key, after
// which the admin's old key signs nothing, while the owner's other device
// got the new key and followers verify the whole chain.
func TestChannelAdminsAndRotation(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok"})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	alice2 := link(t, srv, alice, "alice-laptop")
	if _, err := alice.CreateChannel(ctx, "news", "News", ""); err != nil {
		t.Fatal(err)
	}
	alice.Publish(ctx, "news", "from the owner")
	if err := alice.AddChannelAdmin(ctx, "news", "bob"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{bob, alice2} {
		if err := d.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		e := d.waitEvent(func(e client.Event) bool { _, ok := e.(*client.ChannelKeyEvent); return ok })
		if k := e.(*client.ChannelKeyEvent); k.Err != nil || k.Channel != "news" || k.From != "alice" {
			t.Fatalf("%s: key event %+v", d.Username(), k)
		}
	}
	if _, err := bob.Publish(ctx, "news", "from the admin"); err != nil {
		t.Fatalf("admin publishes: %v", err)
	}
	if _, err := alice2.Publish(ctx, "news", "from the laptop"); err != nil {
		t.Fatalf("owner's laptop publishes: %v", err)
	}

	if err := alice.RemoveChannelAdmin(ctx, "news", "bob"); err != nil {
		t.Fatal(err)
	}
	// Bob still holds the old key, and the server no longer lets him post;
	// even were he to, the retired key's records after the handover fail.
	_, err := bob.Publish(ctx, "news", "still here?")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeForbidden {
		t.Fatalf("removed admin publishes: %v", err)
	}
	if _, err := alice.Publish(ctx, "news", "after the rotation"); err != nil {
		t.Fatal(err)
	}
	if err := alice2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	alice2.waitEvent(func(e client.Event) bool {
		k, ok := e.(*client.ChannelKeyEvent)
		return ok && k.Epoch == 1 && k.Err == nil
	})
	if _, err := alice2.Publish(ctx, "news", "laptop, new key"); err != nil {
		t.Fatalf("laptop after rotation: %v", err)
	}

	carol.Follow(ctx, "news")
	posts, err := carol.Feed(ctx, "news", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"laptop, new key", "after the rotation", "from the laptop", "from the admin", "from the owner"}
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
	if views != 5 {
		t.Errorf("views = %d, want 5 (one per post)", views)
	}
	// Feed reports the counts; reading again counts nothing more.
	again, err := carol.Feed(ctx, "news", 0)
	if err != nil || len(again) != 5 {
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
// channel, rotated its key and followed another channel publishes to the
// first with the current key and reads the second, both under the keys
// the account pinned, without waiting for a grant or a rotation.
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
	if err := alice.RotateChannelKey(ctx, "news"); err != nil {
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
	// genesis key: it was signed with the key after the rotation.
	if _, err := carol.Follow(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	posts, err = carol.Feed(ctx, "news", 0)
	if err != nil || len(texts(posts)) != 2 || posts[0].Text != "from the tablet" {
		t.Fatalf("follower's feed: %q, %v", texts(posts), err)
	}
}
