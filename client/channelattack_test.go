package client_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// The attacks of issue 10 on channels, each by a server that alters its
// own database (as an operator or an intruder could), alone or with a
// former admin's key.

func openServerDB(t *testing.T, srv *parleytest.Server) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.DataDir, "parley.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// injectRecord stores data as a new record of the channel, under a new
// Seq, bypassing every check of the server.
func injectRecord(t *testing.T, srv *parleytest.Server, handle string, data []byte) uint64 {
	t.Helper()
	db := openServerDB(t, srv)
	res, err := db.Exec(`INSERT INTO channel_records (channel_id, record_id, kind, epoch, position, time, data, created)
		SELECT id, randomblob(16), 1, 0, 0, 0, ?, 0 FROM channels WHERE handle = ?`, data, handle)
	if err != nil {
		t.Fatal(err)
	}
	seq, _ := res.LastInsertId()
	return uint64(seq)
}

// rawRecords is every record the server holds for the channel, ascending.
func rawRecords(t *testing.T, srv *parleytest.Server, handle string) []api.ChannelRecord {
	t.Helper()
	page, err := transport.New(srv.URL, nil).Records(context.Background(), handle, transport.RecordQuery{Limit: api.MaxChannelPage})
	if err != nil {
		t.Fatal(err)
	}
	return page.Records
}

func recordAt(t *testing.T, srv *parleytest.Server, seq uint64) []byte {
	t.Helper()
	var data []byte
	if err := openServerDB(t, srv).QueryRow("SELECT data FROM channel_records WHERE seq = ?", seq).Scan(&data); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestAttackServerReplaysOldRecords: a server re-serves, under new Seqs,
// a deleted post, an edit that a later edit corrected, and a pin that
// was undone. Followers, caught up or new, refuse each as a replay: the
// post stays deleted, the edit stays corrected, the post stays unpinned.
func TestAttackServerReplaysOldRecords(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	alice.CreateChannel(ctx, "news", "News", "")
	gone, _ := alice.Publish(ctx, "news", "regrettable")
	kept, _ := alice.Publish(ctx, "news", "v1")
	alice.EditPost(ctx, "news", kept.ID, "wrong")
	alice.EditPost(ctx, "news", kept.ID, "right")
	alice.PinPost(ctx, "news", kept.ID, true)
	alice.PinPost(ctx, "news", kept.ID, false)
	if err := alice.DeletePost(ctx, "news", gone.ID); err != nil {
		t.Fatal(err)
	}
	bob.Follow(ctx, "news")
	posts, err := bob.Feed(ctx, "news", 0)
	if err != nil || len(posts) != 1 || posts[0].Text != "right" || posts[0].Pinned {
		t.Fatalf("bob's feed: %+v, %v", posts, err)
	}
	recs := rawRecords(t, srv, "news")
	// 1 profile, 2 gone, 3 kept, 4 wrong, 5 right, 6 pin, 7 unpin, 8 delete
	for _, replay := range []struct {
		name string
		data []byte
	}{{"deleted post", recs[1].Data}, {"corrected edit", recs[3].Data}, {"undone pin", recs[5].Data}} {
		t.Run(replay.name, func(t *testing.T) {
			seq := injectRecord(t, srv, "news", replay.data)
			_, err := bob.Feed(ctx, "news", 0)
			if !errors.Is(err, client.ErrForgedRecord) || !errors.Is(err, client.ErrReplayedRecord) {
				t.Fatalf("feed after the replay: %v, want ErrReplayedRecord", err)
			}
			stored, _ := bob.StoredPosts(ctx, "news", 0)
			if len(stored) != 1 || stored[0].Text != "right" || stored[0].Pinned {
				t.Fatalf("the replay changed the posts: %+v", stored)
			}
			// A new follower is refused the same way.
			carol, _ := register(t, srv, "carol"+replay.name[:3])
			carol.Follow(ctx, "news")
			if _, err := carol.Feed(ctx, "news", 0); !errors.Is(err, client.ErrReplayedRecord) {
				t.Fatalf("new follower: %v", err)
			}
			if _, err := openServerDB(t, srv).Exec("DELETE FROM channel_records WHERE seq = ?", seq); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A live frame replaying the deleted post is refused too.
	bob.ChannelFrameForTest(ctx, &api.Frame{Type: api.FrameChannel, Channel: "news", Seq: recs[7].Seq + 1000, Record: recs[1].Data})
	bob.waitEvent(func(e client.Event) bool { _, ok := e.(*client.ChannelForgeryEvent); return ok })
	if stored, _ := bob.StoredPosts(ctx, "news", 0); len(stored) != 1 {
		t.Fatalf("live replay: %q", texts(stored))
	}
}

// TestAttackRemovedAdminAndServer: the owner removes an admin. The
// server (altered) stores the admin's next post anyway: followers refuse
// it. The former admin and the server then fork the chain at the
// position of the removal, where his key could still sign: a follower
// who has the real records reports the fork with both records as
// evidence; a follower catching up who is served the fake branch first
// reports it as soon as it sees a real record after it. A forked channel
// takes nothing more until the user resolves it.
func TestAttackRemovedAdminAndServer(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice, bob, carol := newsWithAdmin(t, srv)
	dave, _ := register(t, srv, "dave")
	if _, err := bob.Publish(ctx, "news", "as admin"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{carol, dave} {
		d.Follow(ctx, "news")
		if _, err := d.Feed(ctx, "news", 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.RemoveChannelAdmin(ctx, "news", "bob"); err != nil {
		t.Fatal(err)
	}
	after, err := alice.Publish(ctx, "news", "after the removal")
	if err != nil {
		t.Fatal(err)
	}
	if posts, err := dave.Feed(ctx, "news", 0); err != nil || len(posts) != 2 {
		t.Fatalf("dave: %q, %v", texts(posts), err)
	}
	recs := rawRecords(t, srv, "news") // 1 profile, 2 add bob, 3 bob's post, 4 remove bob, 5 alice's post
	if len(recs) != 5 {
		t.Fatalf("%d records", len(recs))
	}

	// Bob signs a post after his removal; the server stores it anyway.
	h5 := channel.Hash(recs[4].Data)
	late, err := bob.SignAsAdminForTest(&channel.Record{Kind: channel.KindPost, Channel: genesisOf(t, recs), Position: 6, Prev: &h5, Text: "I am still an admin", Time: 1})
	if err != nil {
		t.Fatal(err)
	}
	seq := injectRecord(t, srv, "news", late)
	if _, err := dave.Feed(ctx, "news", 0); !errors.Is(err, client.ErrForgedRecord) {
		t.Fatalf("removed admin's post: %v, want ErrForgedRecord", err)
	}
	if stored, _ := dave.StoredPosts(ctx, "news", 0); len(stored) != 2 || stored[0].Text != "after the removal" {
		t.Fatalf("dave stored %q", texts(stored))
	}
	openServerDB(t, srv).Exec("DELETE FROM channel_records WHERE seq = ?", seq)

	// The fork: bob signs a competitor for position 4, where he was
	// still an admin.
	h3 := channel.Hash(recs[2].Data)
	fake, err := bob.SignAsAdminForTest(&channel.Record{Kind: channel.KindPost, Channel: genesisOf(t, recs), Position: 4, Prev: &h3, Text: "nothing happened here"})
	if err != nil {
		t.Fatal(err)
	}
	// Dave has the real position 4: the fake, served live, is a fork.
	dave.ChannelFrameForTest(ctx, &api.Frame{Type: api.FrameChannel, Channel: "news", Seq: after.Seq + 1000, Record: fake})
	e := dave.waitEvent(func(e client.Event) bool { _, ok := e.(*client.ChannelForkEvent); return ok })
	if f := e.(*client.ChannelForkEvent); f.Channel != "news" || f.Position != 4 {
		t.Fatalf("fork event: %+v", f)
	}
	fork, err := dave.ChannelFork(ctx, "news")
	if err != nil || fork == nil || fork.Position != 4 || string(fork.Theirs) != string(fake) || string(fork.Ours) != string(recs[3].Data) {
		t.Fatalf("evidence: %+v, %v", fork, err)
	}
	// Carol, catching up, is served the fake branch: the server swaps
	// the real position 4 for the fake and holds back position 5.
	db := openServerDB(t, srv)
	if _, err := db.Exec("UPDATE channel_records SET data = ? WHERE seq = ?", fake, recs[3].Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE channel_records SET channel_id = 0 WHERE seq = ?", recs[4].Seq); err != nil {
		t.Fatal(err)
	}
	if posts, err := carol.Feed(ctx, "news", 0); err != nil || len(posts) != 2 || posts[0].Text != "nothing happened here" {
		t.Fatalf("carol on the fake branch: %q, %v", texts(posts), err)
	}
	// Then the real record 5 reaches her (live, or the server slips):
	// its prev is not her position 4, and it is validly signed: a fork.
	carol.ChannelFrameForTest(ctx, &api.Frame{Type: api.FrameChannel, Channel: "news", Seq: recs[4].Seq, Record: recs[4].Data})
	carol.waitEvent(func(e client.Event) bool { _, ok := e.(*client.ChannelForkEvent); return ok })
	fork, err = carol.ChannelFork(ctx, "news")
	if err != nil || fork == nil || fork.Position != 4 || string(fork.Ours) != string(fake) || string(fork.Theirs) != string(recs[4].Data) {
		t.Fatalf("carol's evidence: %+v, %v", fork, err)
	}
	// The forked channel takes nothing more until resolved.
	if _, err := carol.Feed(ctx, "news", 0); !errors.Is(err, client.ErrChannelFork) {
		t.Fatalf("feed of a forked channel: %v", err)
	}
	// The server is honest again; carol resolves, and gets the real chain.
	if _, err := db.Exec("UPDATE channel_records SET data = ? WHERE seq = ?", recs[3].Data, recs[3].Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE channel_records SET channel_id = (SELECT id FROM channels WHERE handle = 'news') WHERE seq = ?", recs[4].Seq); err != nil {
		t.Fatal(err)
	}
	if err := carol.ResolveChannelFork(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if posts, err := carol.Feed(ctx, "news", 0); err != nil || len(posts) != 2 || posts[0].Text != "after the removal" || posts[1].Text != "as admin" {
		t.Fatalf("carol after resolving: %q, %v", texts(posts), err)
	}
	if f, _ := carol.ChannelFork(ctx, "news"); f == nil {
		t.Fatal("the evidence was dropped")
	}
}

func genesisOf(t *testing.T, recs []api.ChannelRecord) []byte {
	t.Helper()
	r, err := channel.Parse(recs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	return r.Channel
}

// TestPublishRetriesOnStaleHead: two devices of the owner publish in
// turn; each signs on the head it has, the server answers stale_head to
// the one that is behind, and the SDK catches up and signs again.
func TestPublishRetriesOnStaleHead(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	carol, _ := register(t, srv, "carol")
	alice.CreateChannel(ctx, "news", "News", "")
	laptop := link(t, srv, alice, "alice-laptop")
	for i, d := range []*device{alice, laptop, alice, laptop, alice} {
		if _, err := d.Publish(ctx, "news", string(rune('a'+i))); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if n := staleHeads(t, srv); n < 3 {
		t.Errorf("%v stale_head answers, want at least 3 (one per switch of device)", n)
	}
	carol.Follow(ctx, "news")
	posts, err := carol.Feed(ctx, "news", 0)
	if err != nil || len(texts(posts)) != 5 || posts[0].Text != "e" || posts[4].Text != "a" {
		t.Fatalf("carol's feed: %q, %v", texts(posts), err)
	}
}

// staleHeads reads from the server's metrics how many record posts it
// refused with a 4xx (in this test, only stale_head).
func staleHeads(t *testing.T, srv *parleytest.Server) float64 {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var n float64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, `parley_http_requests_total{route="POST /v1/channels/{handle}/records",status="4`) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			n += v
		}
	}
	return n
}

// TestAttackTakedownWithoutNotice: an operator's takedown carries a
// notice signed by the server's operator key, which names the record's
// position and hash: a new follower shows "removed by the server's
// operator" and verifies the records after it. A takedown whose notice
// is forged or missing, and a record simply missing, are withheld
// records, shown as such, never as a deletion; a follower who has the
// record keeps it.
func TestAttackTakedownWithoutNotice(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok"})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	bob, _ := register(t, srv, "bob")
	op := transport.New(srv.URL, nil).Admin("tok", "olga")
	alice.CreateChannel(ctx, "news", "News", "")
	alice.Publish(ctx, "news", "one")
	bad, _ := alice.Publish(ctx, "news", "infringing")
	alice.Publish(ctx, "news", "three")
	bob.Follow(ctx, "news")
	if posts, err := bob.Feed(ctx, "news", 0); err != nil || len(posts) != 3 {
		t.Fatalf("bob: %q, %v", texts(posts), err)
	}
	if err := op.TakeDown(ctx, "news", bad.ID[:], "copyright notice"); err != nil {
		t.Fatal(err)
	}
	follower := func(name string) []client.Post {
		t.Helper()
		d, _ := register(t, srv, name)
		d.Follow(ctx, "news")
		posts, err := d.Feed(ctx, "news", 0)
		if err != nil {
			t.Fatalf("%s's feed: %v", name, err)
		}
		return posts
	}
	// Genuine: the notice verifies, the chain goes on past it.
	posts := follower("carol")
	if len(posts) != 3 || posts[0].Text != "three" || posts[1].Removed != "copyright notice" || posts[1].Withheld || posts[2].Text != "one" {
		t.Fatalf("carol: %+v", posts)
	}

	db := openServerDB(t, srv)
	var notice []byte
	if err := db.QueryRow("SELECT takedown_notice FROM channel_records WHERE seq = ?", bad.Seq).Scan(&notice); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		notice any
	}{
		{"forged", append(append([]byte{}, notice[:len(notice)-1]...), notice[len(notice)-1]^1)},
		{"missing", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := db.Exec("UPDATE channel_records SET takedown_notice = ? WHERE seq = ?", c.notice, bad.Seq); err != nil {
				t.Fatal(err)
			}
			posts := follower("dave" + c.name[:3])
			if len(posts) != 2 || !posts[0].Withheld || posts[0].Seq != bad.Seq || posts[0].Removed != "" || posts[1].Text != "one" {
				t.Fatalf("withheld: %+v", posts)
			}
			// Bob has the record: a takedown without a valid notice
			// does not remove it.
			if posts, err := bob.Feed(ctx, "news", 0); err != nil || len(posts) != 3 || posts[1].Text != "infringing" {
				t.Fatalf("bob: %+v, %v", posts, err)
			}
		})
	}

	// A record simply missing: the next one's position shows the gap.
	if _, err := db.Exec("UPDATE channel_records SET takedown_notice = ?, takedown_reason = NULL, channel_id = 0 WHERE seq = ?", notice, bad.Seq); err != nil {
		t.Fatal(err)
	}
	posts = follower("erin")
	if len(posts) != 2 || !posts[0].Withheld || posts[1].Text != "one" {
		t.Fatalf("missing record: %+v", posts)
	}
}

// signNoticeAsOperator signs a takedown notice with the server's stored
// operator key, as a malicious operator can for any record, even one an
// honest server refuses to take down.
func signNoticeAsOperator(t *testing.T, srv *parleytest.Server, rec api.ChannelRecord, reason string) []byte {
	t.Helper()
	var seed []byte
	if err := openServerDB(t, srv).QueryRow("SELECT key FROM server_keys WHERE name = 'operator'").Scan(&seed); err != nil {
		t.Fatal(err)
	}
	r, err := channel.Parse(rec.Data)
	if err != nil {
		t.Fatal(err)
	}
	n := &channel.Notice{Channel: r.Channel, Position: r.Position, RecordID: r.ID, Hash: channel.Hash(rec.Data), Reason: reason, Time: 1}
	b, err := n.Sign(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAttackOperatorTakesDownRemoveAdmin: an operator working with a
// removed admin signs a takedown notice for the remove_admin record (an
// honest server refuses to). A follower who already holds the record
// keeps it: it never replaces a record that changes who signs with a
// notice, so after a restart the removed admin is still removed and his
// later post is refused as forged. A new follower, who never held the
// record, gets its stub beside the notice (spec/protocol.md §10.7): the
// stub removes the admin as the record does, and his post is refused too.
func TestAttackOperatorTakesDownRemoveAdmin(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok"})
	ctx := context.Background()
	alice, bob, carol := newsWithAdmin(t, srv)
	if err := alice.RemoveChannelAdmin(ctx, "news", "bob"); err != nil {
		t.Fatal(err)
	}
	carol.Follow(ctx, "news")
	alice.Publish(ctx, "news", "after the removal")
	if posts, err := carol.Feed(ctx, "news", 0); err != nil || len(posts) != 1 {
		t.Fatalf("carol: %q, %v", texts(posts), err)
	}
	recs := rawRecords(t, srv, "news") // 1 profile, 2 add bob, 3 remove bob, 4 alice's post
	if len(recs) != 4 {
		t.Fatalf("%d records", len(recs))
	}
	// An honest operator cannot take the removal down.
	op := transport.New(srv.URL, nil).Admin("tok", "olga")
	removal, _ := channel.Parse(recs[2].Data)
	if err := op.TakeDown(ctx, "news", removal.ID[:], "hide it"); err == nil {
		t.Fatal("the server took a remove_admin record down")
	}
	notice := signNoticeAsOperator(t, srv, recs[2], "hide it")
	if _, err := openServerDB(t, srv).Exec("UPDATE channel_records SET takedown_reason = 'hide it', takedown_notice = ? WHERE seq = ?", notice, recs[2].Seq); err != nil {
		t.Fatal(err)
	}
	// Carol reads her feed (the history carries the notice), then restarts.
	if _, err := carol.Feed(ctx, "news", 0); err != nil {
		t.Fatal(err)
	}
	carol.ChannelFrameForTest(ctx, &api.Frame{Type: api.FrameChannel, Channel: "news", Seq: recs[2].Seq, Code: api.CodeRecordTakenDown, Message: "hide it", Record: notice})
	reopen(t, carol, nil)
	if admins, err := carol.ChannelAdmins(ctx, "news"); err != nil || len(admins) != 0 {
		t.Fatalf("carol's admins after the fake takedown: %+v, %v", admins, err)
	}
	h4 := channel.Hash(recs[3].Data)
	late, err := bob.SignAsAdminForTest(&channel.Record{Kind: channel.KindPost, Channel: genesisOf(t, recs), Position: 5, Prev: &h4, Text: "I am an admin again", Time: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Dave follows only now: the history serves him the notice.
	dave, _ := register(t, srv, "dave")
	dave.Follow(ctx, "news")
	if _, err := dave.Feed(ctx, "news", 0); err != nil {
		t.Fatal(err)
	}
	if admins, err := dave.ChannelAdmins(ctx, "news"); err != nil || len(admins) != 0 {
		t.Fatalf("a new follower's admins after the fake takedown: %+v, %v", admins, err)
	}
	injectRecord(t, srv, "news", late)
	if _, err := carol.Feed(ctx, "news", 0); !errors.Is(err, client.ErrForgedRecord) {
		t.Fatalf("removed admin's post after the fake takedown: %v, want ErrForgedRecord", err)
	}
	if _, err := dave.Feed(ctx, "news", 0); !errors.Is(err, client.ErrForgedRecord) {
		t.Fatalf("a new follower took the removed admin's post: %v, want ErrForgedRecord", err)
	}
}

// TestAttackOperatorTakesDownDelete: the operator takes a delete record
// down. A follower who never held it still sees the post deleted: the
// delete's stub deletes as the record does (spec/protocol.md §10.7).
func TestAttackOperatorTakesDownDelete(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok"})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	alice.CreateChannel(ctx, "news", "News", "")
	alice.Publish(ctx, "news", "regretted")
	posts, err := alice.Feed(ctx, "news", 0)
	if err != nil || len(posts) != 1 {
		t.Fatalf("alice: %q, %v", texts(posts), err)
	}
	if err := alice.DeletePost(ctx, "news", posts[0].ID); err != nil {
		t.Fatal(err)
	}
	recs := rawRecords(t, srv, "news") // 1 profile, 2 post, 3 delete
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	del, _ := channel.Parse(recs[2].Data)
	op := transport.New(srv.URL, nil).Admin("tok", "olga")
	if err := op.TakeDown(ctx, "news", del.ID[:], "hide the deletion"); err != nil {
		t.Fatal(err)
	}
	dave, _ := register(t, srv, "dave")
	dave.Follow(ctx, "news")
	posts, err = dave.Feed(ctx, "news", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range posts {
		if p.Text == "regretted" {
			t.Fatalf("a taken-down delete brought the post back: %+v", posts)
		}
	}
}

// stalePager is a server, seen through the client's transport, that
// answers every ascending page of channel records from the start, one
// record at a time, with a Next: pages the client already has.
type stalePager struct {
	on    atomic.Bool
	pages atomic.Int64
}

func (s *stalePager) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.on.Load() && strings.HasSuffix(r.URL.Path, "/records") && r.URL.Query().Has("after") {
		s.pages.Add(1)
		r = r.Clone(r.Context())
		r.URL.RawQuery = "after=0&limit=1"
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestAttackServerServesStalePagesForever: a server answers each page of
// a catch-up with records the follower already has and a Next, as if more
// came. The follower's catch-up stops as soon as a page moves nothing on,
// instead of asking again forever.
func TestAttackServerServesStalePagesForever(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	pager := &stalePager{}
	bob := registerWith(t, srv, "bob", pager)
	alice.CreateChannel(ctx, "news", "News", "")
	alice.Publish(ctx, "news", "one")
	bob.Follow(ctx, "news")
	if posts, err := bob.Feed(ctx, "news", 0); err != nil || len(posts) != 1 {
		t.Fatalf("bob: %q, %v", texts(posts), err)
	}
	pager.on.Store(true)
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	posts, err := bob.Feed(tctx, "news", 0)
	if tctx.Err() != nil || pager.pages.Load() > 2 {
		t.Fatalf("catch-up asked for %d stale pages (%v)", pager.pages.Load(), err)
	}
	if err != nil || len(posts) != 1 || posts[0].Text != "one" {
		t.Fatalf("bob after stale pages: %+v, %v", posts, err)
	}
}

// TestConcurrentPublishersOnStaleHead: the owner and an admin publish at
// the same time, from different accounts. The server stores one record
// per position (the others get stale_head and sign again), nothing is
// lost, and a follower verifies the whole chain.
func TestConcurrentPublishersOnStaleHead(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice, bob, carol := newsWithAdmin(t, srv)
	const each = 4
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for _, d := range []*device{alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := d.Publish(ctx, "news", fmt.Sprintf("%s %d", d.Username(), i))
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	carol.Follow(ctx, "news")
	posts, err := carol.Feed(ctx, "news", 0)
	if err != nil || len(posts) != 2*each {
		t.Fatalf("carol's feed: %q, %v", texts(posts), err)
	}
	seen := map[string]bool{}
	for _, p := range posts {
		seen[p.Text] = true
	}
	if len(seen) != 2*each {
		t.Fatalf("posts stored twice or lost: %q", texts(posts))
	}
}

// TestChainCacheFollowsResolvedFork: two processes share a follower's
// store. One resolves a fork and takes the real record at the very
// position the other holds the fake one at, in its cached chain: the
// other must see that the stored head is another record (not only at
// the same position) and verify from the store, not report a fork again
// when the next real record comes.
func TestChainCacheFollowsResolvedFork(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	alice, bob, carol := newsWithAdmin(t, srv)
	bob.Publish(ctx, "news", "as admin")
	carol.Follow(ctx, "news")
	if _, err := carol.Feed(ctx, "news", 0); err != nil {
		t.Fatal(err)
	}
	alice.RemoveChannelAdmin(ctx, "news", "bob")
	alice.Publish(ctx, "news", "after the removal")
	recs := rawRecords(t, srv, "news") // 1 profile, 2 add bob, 3 bob's post, 4 remove bob, 5 alice's post
	h3 := channel.Hash(recs[2].Data)
	fake, err := bob.SignAsAdminForTest(&channel.Record{Kind: channel.KindPost, Channel: genesisOf(t, recs), Position: 4, Prev: &h3, Text: "nothing happened here"})
	if err != nil {
		t.Fatal(err)
	}
	db := openServerDB(t, srv)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec("UPDATE channel_records SET data = ? WHERE seq = ?", fake, recs[3].Seq)
	exec("UPDATE channel_records SET channel_id = 0 WHERE seq = ?", recs[4].Seq)
	if posts, err := carol.Feed(ctx, "news", 0); err != nil || posts[0].Text != "nothing happened here" {
		t.Fatalf("carol on the fake branch: %q, %v", texts(posts), err)
	}
	// A second process on carol's store sees the real record 5: a fork.
	other := &device{t: t, path: carol.path, signal: make(chan struct{}, 1)}
	oc, err := client.Open(ctx, config(t, carol.path, other))
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	other.Client = oc
	other.ChannelFrameForTest(ctx, &api.Frame{Type: api.FrameChannel, Channel: "news", Seq: recs[4].Seq, Record: recs[4].Data})
	other.waitEvent(func(e client.Event) bool { _, ok := e.(*client.ChannelForkEvent); return ok })
	// The server serves the real position 4 (still holding back 5); the
	// second process resolves and takes it.
	exec("UPDATE channel_records SET data = ? WHERE seq = ?", recs[3].Data, recs[3].Seq)
	if err := other.ResolveChannelFork(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Feed(ctx, "news", 0); err != nil {
		t.Fatal(err)
	}
	// Record 5 comes back; the first process, whose cache has the fake
	// at position 4, catches up.
	exec("UPDATE channel_records SET channel_id = (SELECT id FROM channels WHERE handle = 'news') WHERE seq = ?", recs[4].Seq)
	posts, err := carol.Feed(ctx, "news", 0)
	if err != nil || len(posts) != 2 || posts[0].Text != "after the removal" || posts[1].Text != "as admin" {
		t.Fatalf("carol after the other process resolved: %q, %v", texts(posts), err)
	}
}

// TestAttackNoticeForAnotherStub: the operator signs a notice naming
// another hash than the taken-down record's, so that the stub it serves
// and the notice disagree. A new follower refuses the pair: the record is
// withheld (a gap), never applied.
func TestAttackNoticeForAnotherStub(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "tok"})
	ctx := context.Background()
	alice, _ := register(t, srv, "alice")
	alice.CreateChannel(ctx, "news", "News", "")
	alice.Publish(ctx, "news", "one")
	alice.Publish(ctx, "news", "two")
	recs := rawRecords(t, srv, "news") // 1 profile, 2 one, 3 two
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	var seed []byte
	if err := openServerDB(t, srv).QueryRow("SELECT key FROM server_keys WHERE name = 'operator'").Scan(&seed); err != nil {
		t.Fatal(err)
	}
	r, _ := channel.Parse(recs[1].Data)
	n := &channel.Notice{Channel: r.Channel, Position: r.Position, RecordID: r.ID, Hash: channel.Hash(recs[2].Data), Reason: "hide it", Time: 1}
	notice, err := n.Sign(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openServerDB(t, srv).Exec("UPDATE channel_records SET takedown_reason = 'hide it', takedown_notice = ? WHERE seq = ?", notice, recs[1].Seq); err != nil {
		t.Fatal(err)
	}
	dave, _ := register(t, srv, "dave")
	dave.Follow(ctx, "news")
	posts, err := dave.Feed(ctx, "news", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(posts) != 1 || !posts[0].Withheld || posts[0].Seq != recs[1].Seq {
		t.Fatalf("a notice for another record: %+v, want the record withheld", posts)
	}
}

// newsWithAdmin registers alice, bob and carol; alice creates @news and
// makes bob an admin.
func newsWithAdmin(t *testing.T, srv *parleytest.Server) (alice, bob, carol *device) {
	t.Helper()
	alice, _ = register(t, srv, "alice")
	bob, _ = register(t, srv, "bob")
	carol, _ = register(t, srv, "carol")
	if _, err := alice.CreateChannel(context.Background(), "news", "News", ""); err != nil {
		t.Fatal(err)
	}
	if err := alice.AddChannelAdmin(context.Background(), "news", "bob"); err != nil {
		t.Fatal(err)
	}
	return alice, bob, carol
}
