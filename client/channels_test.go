package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

func texts(ps []client.Post) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Text)
	}
	return out
}

func TestChannelFollowLiveAndCatchUp(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	carol, _ := register(t, srv, "carol")
	if _, err := alice.CreateChannel(ctx, "news", "News", "daily"); err != nil {
		t.Fatal(err)
	}
	first, err := alice.Publish(ctx, "news", "one")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{bob, carol} {
		if _, err := d.Follow(ctx, "@news"); err != nil {
			t.Fatal(err)
		}
	}
	bob.run()
	// Live: Bob's open socket gets the post at once, verified.
	p, err := alice.Publish(ctx, "news", "two")
	if err != nil {
		t.Fatal(err)
	}
	e := bob.waitEvent(func(e client.Event) bool { cp, ok := e.(*client.ChannelPostEvent); return ok && cp.Post.Seq == p.Seq })
	if got := e.(*client.ChannelPostEvent).Post; got.Text != "two" || got.Channel != "news" {
		t.Fatalf("live post: %+v", got)
	}
	// Bob is caught up now: the next live post is verified and stored
	// from its frame, without a request to the server.
	before := recordFetches(t, srv)
	p, err = alice.Publish(ctx, "news", "three")
	if err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(func(e client.Event) bool { cp, ok := e.(*client.ChannelPostEvent); return ok && cp.Post.Seq == p.Seq })
	if after := recordFetches(t, srv); after != before {
		t.Errorf("a live post to a caught-up follower cost %v history requests", after-before)
	}
	if stored, _ := bob.StoredPosts(ctx, "news", 0); len(stored) != 3 || stored[0].Text != "three" {
		t.Fatalf("bob stored %q", texts(stored))
	}

	// Carol is offline while 150 more posts (more than a page) go out,
	// then catches up in order.
	for i := range 150 {
		if _, err := alice.Publish(ctx, "news", fmt.Sprintf("post %03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.EditPost(ctx, "news", first.ID, "one (corrected)"); err != nil {
		t.Fatal(err)
	}
	if err := alice.PinPost(ctx, "news", first.ID, true); err != nil {
		t.Fatal(err)
	}
	posts, err := carol.Feed(ctx, "news", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(posts) != 153 || posts[0].Text != "post 149" || posts[152].Text != "one (corrected)" {
		t.Fatalf("carol's feed: %d posts, newest %q, oldest %q", len(posts), posts[0].Text, posts[len(posts)-1].Text)
	}
	for i := 1; i < len(posts); i++ {
		if posts[i].Seq >= posts[i-1].Seq {
			t.Fatalf("not newest first at %d", i)
		}
	}
	oldest := posts[152]
	if !oldest.Pinned || len(oldest.Edits) != 1 || oldest.Edits[0] != "one" {
		t.Fatalf("edited, pinned post: %+v", oldest)
	}
	if err := alice.DeletePost(ctx, "news", posts[0].ID); err != nil {
		t.Fatal(err)
	}
	if posts, _ = carol.Feed(ctx, "news", 3); len(posts) != 3 || posts[0].Text != "post 148" {
		t.Fatalf("after a delete: %q", texts(posts))
	}
	// Not a publisher: no key.
	if _, err := carol.Publish(ctx, "news", "hi"); !errors.Is(err, client.ErrNotPublisher) {
		t.Fatalf("carol publishes: %v", err)
	}
}

// TestForgedChannelPostRejected: a post altered in the server's database
// is refused by followers' clients.
func TestForgedChannelPostRejected(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice.CreateChannel(ctx, "news", "News", "")
	alice.Publish(ctx, "news", "the truth")
	if _, err := bob.Follow(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Feed(ctx, "news", 0); err != nil {
		t.Fatal(err)
	}
	p, err := alice.Publish(ctx, "news", "pay 100 to alice")
	if err != nil {
		t.Fatal(err)
	}

	// The server's operator (or an intruder) rewrites the stored post.
	alterRecord(t, srv, p.Seq, func(data []byte) {
		r, _ := channel.Parse(data)
		data[len(data)-64-len(r.Text)+len("pay ")] = '9' // the amount, inside the signed bytes
	})

	if _, err := bob.Feed(ctx, "news", 0); !errors.Is(err, client.ErrForgedRecord) {
		t.Fatalf("bob's feed after forgery: %v, want ErrForgedRecord", err)
	}
	posts, _ := bob.StoredPosts(ctx, "news", 0)
	if len(posts) != 1 || posts[0].Text != "the truth" {
		t.Fatalf("bob stored %q", texts(posts))
	}
	// A new follower is refused too; it stores nothing forged.
	carol, _ := register(t, srv, "carol")
	carol.Follow(ctx, "news")
	if _, err := carol.Feed(ctx, "news", 0); !errors.Is(err, client.ErrForgedRecord) {
		t.Fatalf("carol's feed: %v", err)
	}
}

// TestSuspendedChannel: followers are told live, and reads fail with
// ErrChannelSuspended and the operator's reason.
func TestSuspendedChannel(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok"})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice.CreateChannel(ctx, "news", "News", "")
	bob.Follow(ctx, "news")
	bob.run()
	if err := transport.New(srv.URL, nil).Admin("tok", "olga").Suspend(ctx, "news", "court order"); err != nil {
		t.Fatal(err)
	}
	e := bob.waitEvent(func(e client.Event) bool { _, ok := e.(*client.ChannelStateEvent); return ok })
	if s := e.(*client.ChannelStateEvent); !s.Suspended || s.Reason != "court order" || s.Channel != "news" {
		t.Fatalf("state event: %+v", s)
	}
	if _, err := bob.Feed(ctx, "news", 0); !errors.Is(err, client.ErrChannelSuspended) || !strings.Contains(err.Error(), "court order") {
		t.Fatalf("feed of a suspended channel: %v", err)
	}
	if _, err := alice.Publish(ctx, "news", "x"); !errors.Is(err, client.ErrChannelSuspended) {
		t.Fatalf("publish to a suspended channel: %v", err)
	}
}

// TestPublishMedia: media go up as public blobs named in the signed post,
// and a follower can fetch them and check them against the descriptor.
func TestPublishMedia(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice.CreateChannel(ctx, "news", "News", "")
	dir := t.TempDir()
	img := filepath.Join(dir, "photo.JPG")
	clip := filepath.Join(dir, "clip.mp4")
	poster := filepath.Join(dir, "still.png")
	for i, p := range []string{img, clip, poster} {
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i + 1)}, 5000*(i+1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var last, total int64
	_, err := alice.PublishMedia(ctx, "news", "look", []client.MediaFile{{Path: img}, {Path: clip, Poster: poster, DurationMS: 4000}},
		func(d, t int64) { last, total = d, t })
	if err != nil {
		t.Fatal(err)
	}
	if total != 30000 || last != total {
		t.Errorf("progress ended at %d of %d", last, total)
	}
	bob.Follow(ctx, "news")
	posts, err := bob.Feed(ctx, "news", 0)
	if err != nil || len(posts) != 1 || len(posts[0].Media) != 2 {
		t.Fatalf("feed: %+v %v", posts, err)
	}
	want := []struct {
		ctype string
		path  string
	}{{"image/jpeg", img}, {"video/mp4", clip}}
	for i, mb := range posts[0].Media {
		m, err := channel.ParseMedia(mb)
		if err != nil {
			t.Fatal(err)
		}
		if m.ContentType != want[i].ctype || (i == 1) != (m.Poster != nil) {
			t.Errorf("media %d: %+v", i, m)
		}
		rc, _, err := transport.New(srv.URL, nil).DownloadBlob(ctx, hex.EncodeToString(m.SHA256[:]), 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		orig, _ := os.ReadFile(want[i].path)
		if sha256.Sum256(got) != m.SHA256 || !bytes.Equal(got, orig) {
			t.Errorf("media %d does not match its descriptor", i)
		}
		// The SDK checks what it saves against the signed descriptor.
		var saved bytes.Buffer
		if err := bob.SaveMedia(ctx, posts[0], i, &saved, nil); err != nil || !bytes.Equal(saved.Bytes(), orig) {
			t.Errorf("SaveMedia %d: %v", i, err)
		}
	}

	// The server's copy of the image is altered on disk: saving it fails
	// and leaves no file.
	m, _ := client.MediaInfo(posts[0], 0)
	sum := hex.EncodeToString(m.SHA256[:])
	blobPath := filepath.Join(srv.DataDir, "blobs", sum[:2], sum[2:4], sum)
	b, err := os.ReadFile(blobPath)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 1
	if err := os.WriteFile(blobPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "img.jpg")
	if err := bob.SaveMediaFile(ctx, posts[0], 0, out, nil); !errors.Is(err, client.ErrMediaMismatch) {
		t.Fatalf("saving altered media: %v, want ErrMediaMismatch", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("altered media left a file: %v", err)
	}
}

// TestTakenDownPostLeavesFollowers: a post the operator takes down after
// a follower stored it becomes a placeholder with the reason on that
// follower's next Feed; restored, it comes back. A restoration whose
// bytes the server altered does not verify, and the placeholder stays.
func TestTakenDownPostLeavesFollowers(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok"})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	op := transport.New(srv.URL, nil).Admin("tok", "olga")
	alice.CreateChannel(ctx, "news", "News", "")
	alice.Publish(ctx, "news", "one")
	bad, err := alice.Publish(ctx, "news", "infringing")
	if err != nil {
		t.Fatal(err)
	}
	alice.Publish(ctx, "news", "three")
	bob.Follow(ctx, "news")
	if posts, err := bob.Feed(ctx, "news", 0); err != nil || len(posts) != 3 {
		t.Fatalf("bob's feed: %q, %v", texts(posts), err)
	}

	if err := op.TakeDown(ctx, "news", bad.ID[:], "copyright notice"); err != nil {
		t.Fatal(err)
	}
	posts, err := bob.Feed(ctx, "news", 0)
	if err != nil || len(posts) != 3 {
		t.Fatalf("after the takedown: %+v, %v", posts, err)
	}
	if p := posts[1]; p.Seq != bad.Seq || p.Removed != "copyright notice" || p.Text != "" {
		t.Fatalf("the taken-down post shows as %+v", p)
	}
	if posts[0].Text != "three" || posts[2].Text != "one" {
		t.Fatalf("the other posts: %q", texts(posts))
	}
	if cs, _ := bob.Channels(ctx); len(cs) != 1 || cs[0].Posts != 2 {
		t.Errorf("bob's channel list counts %+v, want 2 posts", cs)
	}

	if err := op.RestoreRecord(ctx, "news", bad.ID[:], "counter-notice"); err != nil {
		t.Fatal(err)
	}
	posts, err = bob.Feed(ctx, "news", 0)
	if err != nil || len(posts) != 3 || posts[1].Text != "infringing" || posts[1].Removed != "" {
		t.Fatalf("after the restoration: %+v, %v", posts, err)
	}

	// A follower online learns of a takedown and a restoration at once.
	bob.run()
	if err := op.TakeDown(ctx, "news", bad.ID[:], "live notice"); err != nil {
		t.Fatal(err)
	}
	e := bob.waitEvent(func(e client.Event) bool { m, ok := e.(*client.ChannelModerationEvent); return ok && !m.Restored })
	if m := e.(*client.ChannelModerationEvent); m.Channel != "news" || m.Seq != bad.Seq || m.Reason != "live notice" {
		t.Fatalf("takedown event: %+v", m)
	}
	if stored, _ := bob.StoredPosts(ctx, "news", 0); len(stored) != 3 || stored[1].Removed != "live notice" {
		t.Fatalf("stored after a live takedown: %+v", stored)
	}
	if err := op.RestoreRecord(ctx, "news", bad.ID[:], "live restore"); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(func(e client.Event) bool { m, ok := e.(*client.ChannelModerationEvent); return ok && m.Restored })
	if stored, _ := bob.StoredPosts(ctx, "news", 0); stored[1].Text != "infringing" || stored[1].Removed != "" {
		t.Fatalf("stored after a live restoration: %+v", stored[1])
	}

	// Taken down again, then "restored" with bytes the server altered:
	// neither the live frame nor Feed's history brings them back.
	if err := op.TakeDown(ctx, "news", bad.ID[:], "second notice"); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(func(e client.Event) bool {
		m, ok := e.(*client.ChannelModerationEvent)
		return ok && m.Reason == "second notice"
	})
	alterRecord(t, srv, bad.Seq, func(data []byte) { data[len(data)-70] ^= 1 }) // inside the signed bytes
	if err := op.RestoreRecord(ctx, "news", bad.ID[:], "mistake"); err != nil {
		t.Fatal(err)
	}
	// Frames are handled in order: once the next post is in, so is the
	// restoration's frame.
	alice.Publish(ctx, "news", "four")
	bob.waitEvent(func(e client.Event) bool { p, ok := e.(*client.ChannelPostEvent); return ok && p.Post.Text == "four" })
	if stored, _ := bob.StoredPosts(ctx, "news", 0); len(stored) != 4 || stored[2].Removed != "second notice" {
		t.Fatalf("stored after an altered live restoration: %+v", stored)
	}
	if posts, err = bob.Feed(ctx, "news", 0); err != nil || posts[2].Removed != "second notice" {
		t.Fatalf("after an altered restoration: %+v, %v", posts, err)
	}
}

// alterRecord changes the bytes of a channel record in the server's
// SQLite file, as an operator or an intruder could.
func alterRecord(t *testing.T, srv *parleytest.Server, seq uint64, change func([]byte)) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "parley.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var data []byte
	if err := db.QueryRow("SELECT data FROM channel_records WHERE seq = ?", seq).Scan(&data); err != nil {
		t.Fatal(err)
	}
	change(data)
	if _, err := db.Exec("UPDATE channel_records SET data = ? WHERE seq = ?", data, seq); err != nil {
		t.Fatal(err)
	}
}

// recordFetches reads from the server's metrics how many channel history
// requests it has answered.
func recordFetches(t *testing.T, srv *parleytest.Server) float64 {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var n float64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, `parley_http_requests_total{route="GET /v1/channels/{handle}/records"`) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			n += v
		}
	}
	return n
}

// TestForgedLiveFrameRejected: a live Channel frame whose record is the
// next one but does not verify (a server that forges a post on its way to
// online followers) is reported and stores nothing; the genuine record is
// then caught up as usual.
func TestForgedLiveFrameRejected(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice.CreateChannel(ctx, "news", "News", "")
	bob.Follow(ctx, "news")
	if _, err := bob.Feed(ctx, "news", 0); err != nil {
		t.Fatal(err)
	}
	p, err := alice.Publish(ctx, "news", "pay 100 to alice")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := bob.TransportForTest().Records(ctx, "news", transport.RecordQuery{After: p.Seq - 1, Limit: 1})
	if err != nil || len(recs.Records) != 1 {
		t.Fatalf("records: %+v %v", recs, err)
	}
	forged := bytes.Clone(recs.Records[0].Data)
	forged[len(forged)-64-len(" to alice")-1] = '9' // the amount, inside the signed bytes
	bob.ChannelFrameForTest(ctx, &api.Frame{Type: api.FrameChannel, Channel: "news", Seq: p.Seq, Record: forged})
	bob.waitEvent(func(e client.Event) bool { f, ok := e.(*client.ChannelForgeryEvent); return ok && f.Seq == p.Seq })
	if stored, _ := bob.StoredPosts(ctx, "news", 0); len(stored) != 0 {
		t.Fatalf("a forged live post was stored: %q", texts(stored))
	}
	posts, err := bob.Feed(ctx, "news", 0)
	if err != nil || len(posts) != 1 || posts[0].Text != "pay 100 to alice" {
		t.Fatalf("after the forgery, the feed: %q, %v", texts(posts), err)
	}
}
