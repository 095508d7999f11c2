package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// publisher signs records for one channel, as a client does.
type publisher struct {
	t     testing.TB
	key   ed25519.PrivateKey
	gen   ed25519.PublicKey
	epoch uint32
}

func newPublisher(t testing.TB) *publisher {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &publisher{t: t, key: key, gen: pub}
}

func (p *publisher) sign(r *channel.Record) []byte {
	p.t.Helper()
	r.Channel, r.Epoch, r.Time = p.gen, p.epoch, time.Now().UnixMilli()
	rand.Read(r.ID[:])
	b, err := r.Sign(p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	return b
}

func (p *publisher) create(u *user, handle string) api.ChannelInfo {
	p.t.Helper()
	info, err := u.c.CreateChannel(context.Background(), api.CreateChannelRequest{Handle: handle,
		Profile: p.sign(&channel.Record{Kind: channel.KindProfile, Title: "The " + handle, About: "News about " + handle})})
	if err != nil {
		p.t.Fatalf("create channel: %v", err)
	}
	return info
}

func (p *publisher) post(u *user, handle, text string) (api.PostResult, []byte) {
	p.t.Helper()
	b := p.sign(&channel.Record{Kind: channel.KindPost, Text: text})
	res, err := u.c.PostRecord(context.Background(), handle, b)
	if err != nil {
		p.t.Fatalf("post: %v", err)
	}
	return res, b
}

func TestChannelLifecycle(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	owner := register(t, srv, "owner", 0)
	fan := register(t, srv, "fan", 0)
	anon := transport.New(srv.URL, nil)
	p := newPublisher(t)
	info := p.create(owner, "News")
	if info.Handle != "news" || info.Title != "The News" || info.Epoch != 0 || info.LastSeq == 0 {
		t.Fatalf("created: %+v", info)
	}
	_, err := owner.c.CreateChannel(ctx, api.CreateChannelRequest{Handle: "news",
		Profile: newPublisher(t).sign(&channel.Record{Kind: channel.KindProfile, Title: "x"})})
	wantCode(t, err, api.CodeHandleTaken)
	_, err = owner.c.CreateChannel(ctx, api.CreateChannelRequest{Handle: "admin",
		Profile: newPublisher(t).sign(&channel.Record{Kind: channel.KindProfile, Title: "x"})})
	wantCode(t, err, api.CodeUsernameReserved)

	// Anyone reads it; the fan follows and sees the count.
	got, err := anon.Channel(ctx, "@news")
	if err != nil || string(got.GenesisKey) != string(p.gen) {
		t.Fatalf("anonymous read: %+v %v", got, err)
	}
	if err := fan.c.Follow(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if got, _ := anon.Channel(ctx, "news"); got.Followers != 1 {
		t.Fatalf("followers = %d", got.Followers)
	}
	if fl, err := fan.c.Following(ctx); err != nil || len(fl) != 1 || fl[0].Handle != "news" {
		t.Fatalf("following: %+v %v", fl, err)
	}

	// Posts: only the owner (or an admin) may post, and only valid records.
	res, first := p.post(owner, "news", "first post")
	if res.Seq == 0 {
		t.Fatal("no seq")
	}
	_, err = fan.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindPost, Text: "not mine"}))
	wantCode(t, err, api.CodeForbidden)
	forged := p.sign(&channel.Record{Kind: channel.KindPost, Text: "forged"})
	forged[len(forged)-70] ^= 1
	_, err = owner.c.PostRecord(ctx, "news", forged)
	wantCode(t, err, api.CodeBadSignature)
	_, err = owner.c.PostRecord(ctx, "news", newPublisher(t).sign(&channel.Record{Kind: channel.KindPost, Text: "other key"}))
	wantCode(t, err, api.CodeBadRecord)
	_, err = owner.c.PostRecord(ctx, "news", []byte("junk"))
	wantCode(t, err, api.CodeBadRecord)
	// A retry of the same record is idempotent.
	again, err := owner.c.PostRecord(ctx, "news", first)
	if err != nil || !again.Duplicate || again.Seq != res.Seq {
		t.Fatalf("retry: %+v %v", again, err)
	}
	// An admin posts; an edit must target a post.
	if err := owner.c.SetChannelAdmin(ctx, "news", "fan", true); err != nil {
		t.Fatal(err)
	}
	p.post(fan, "news", "by the admin")
	rec, _ := channel.Parse(first)
	edit := p.sign(&channel.Record{Kind: channel.KindEdit, Target: &rec.ID, Text: "first post (edited)"})
	if _, err := owner.c.PostRecord(ctx, "news", edit); err != nil {
		t.Fatal(err)
	}
	bogus := [16]byte{1}
	_, err = owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindDelete, Target: &bogus}))
	wantCode(t, err, api.CodeBadRecord)

	// History pages, newest first, and ascending after a cursor.
	page, err := anon.Records(ctx, "news", transport.RecordQuery{Newest: true, Limit: 2})
	if err != nil || len(page.Records) != 2 || page.Next == 0 {
		t.Fatalf("page: %+v %v", page, err)
	}
	if r, _ := channel.Parse(page.Records[0].Data); r.Kind != channel.KindEdit {
		t.Fatalf("newest is %v", r.Kind)
	}
	rest, _ := anon.Records(ctx, "news", transport.RecordQuery{Newest: true, Before: page.Next})
	if len(rest.Records) != 2 || rest.Next != 0 {
		t.Fatalf("second page: %d records, next %d", len(rest.Records), rest.Next)
	}
	asc, _ := anon.Records(ctx, "news", transport.RecordQuery{After: info.LastSeq})
	if len(asc.Records) != 3 || asc.Records[0].Seq != res.Seq {
		t.Fatalf("ascending: %+v", asc)
	}

	// Views are counted without saying who, once per requester (views_test.go).
	if err := anon.AddViews(ctx, "news", [][]byte{rec.ID[:], rec.ID[:]}); err != nil {
		t.Fatal(err)
	}
	asc, _ = anon.Records(ctx, "news", transport.RecordQuery{After: info.LastSeq, Limit: 1})
	if asc.Records[0].Views != 1 {
		t.Fatalf("views = %d", asc.Records[0].Views)
	}

	// Key rotation: a handover, then only the new key posts.
	next, nextKey, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindHandover, NewKey: next})); err != nil {
		t.Fatal(err)
	}
	_, err = owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindPost, Text: "old key"}))
	wantCode(t, err, api.CodeBadRecord)
	p.key, p.epoch = nextKey, 1
	p.post(owner, "news", "new key")
	if got, _ := anon.Channel(ctx, "news"); got.Epoch != 1 {
		t.Fatalf("epoch %d", got.Epoch)
	}

	// Search, unfollow, report.
	if cs, err := anon.SearchChannels(ctx, "NEW"); err != nil || len(cs) != 1 {
		t.Fatalf("search: %+v %v", cs, err)
	}
	if err := fan.c.Report(ctx, api.ReportRequest{Channel: "news", RecordID: rec.ID[:], Category: "spam", Note: "ads"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, fan.c.Report(ctx, api.ReportRequest{Channel: "news", Category: "boring"}), api.CodeBadRequest)
	if err := fan.c.Unfollow(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	if got, _ := anon.Channel(ctx, "news"); got.Followers != 0 {
		t.Fatalf("followers after unfollow = %d", got.Followers)
	}
}

// TestChannelFanOut: a post with text, an image and a clip reaches every
// online follower at once over its WebSocket: 1,000 followers in this
// process.
func TestChannelFanOut(t *testing.T) {
	const n = 1000
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	owner := register(t, srv, "owner", 0)
	p := newPublisher(t)
	p.create(owner, "news")

	socks := make([]*transport.Socket, n)
	// Each follower keeps reading from the moment it has connected, as a
	// client does, so it answers the server's keepalive pings however long
	// the others take to set up; its first Channel frame lands here.
	type result struct {
		f   *api.Frame
		err error
	}
	recvd := make([]chan result, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			req, _, err := parleytest.Registration(fmt.Sprintf("fan%d", i), 0)
			if err != nil {
				errs <- err
				return
			}
			c := transport.New(srv.URL, nil)
			creds, err := c.Register(ctx, req)
			if err != nil {
				errs <- err
				return
			}
			c = c.As(creds)
			if err := c.Follow(ctx, "news"); err != nil {
				errs <- err
				return
			}
			s, err := c.Connect(ctx)
			if err != nil {
				errs <- err
				return
			}
			for { // read through the (empty) queue
				f, err := s.Recv(ctx)
				if err != nil {
					errs <- err
					return
				}
				if f.Type == api.FrameQueueEmpty {
					break
				}
			}
			socks[i] = s
			recvd[i] = make(chan result, 1)
			go func() {
				for {
					f, err := s.Recv(ctx)
					if err != nil || f.Type == api.FrameChannel {
						recvd[i] <- result{f, err}
						return
					}
				}
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range socks {
			s.Close()
		}
	})

	// One post with text, an image and a clip.
	img := upload(t, owner, []byte("an image, as far as this test cares"), "image/png")
	clip := upload(t, owner, bytes.Repeat([]byte("clip"), 5000), "video/mp4")
	data := p.sign(&channel.Record{Kind: channel.KindPost, Text: "hello, everyone", Media: [][]byte{img.Marshal(), clip.Marshal()}})
	res, err := owner.c.PostRecord(ctx, "news", data)
	if err != nil {
		t.Fatal(err)
	}
	chain, _ := channel.NewChain(p.gen)
	var got sync.WaitGroup
	bad := make(chan error, n)
	for i := range socks {
		got.Add(1)
		go func() {
			defer got.Done()
			var r result
			select {
			case r = <-recvd[i]:
			case <-time.After(2 * time.Minute): // a hang guard for loaded machines
				r.err = fmt.Errorf("follower %d: no frame", i)
			}
			f, err := r.f, r.err
			switch {
			case err != nil:
				bad <- err
			case f.Seq != res.Seq || f.Channel != "news" || string(f.Record) != string(data):
				bad <- fmt.Errorf("frame %+v", f)
			default:
				if r, err := chain.Verify(f.Record); err != nil {
					bad <- err
				} else if len(r.Media) != 2 || r.Text != "hello, everyone" {
					bad <- fmt.Errorf("record %+v", r)
				}
			}
		}()
	}
	got.Wait()
	close(bad)
	for err := range bad {
		t.Fatal(err)
	}
}

// TestChannelSuspension: the operator suspends a channel with a reason;
// it then answers 451 with the reason on every channel endpoint,
// disappears from search, and its online followers are told at once.
// Restoring it undoes all that; both actions are in the audit log.
func TestChannelSuspension(t *testing.T) {
	srv := parleytest.Start(t, server.Config{AdminToken: "operator-secret"})
	ctx := context.Background()
	owner := register(t, srv, "owner", 0)
	fan := register(t, srv, "fan", 0)
	p := newPublisher(t)
	p.create(owner, "news")
	_, post := p.post(owner, "news", "something")
	rec, _ := channel.Parse(post)
	if err := fan.c.Follow(ctx, "news"); err != nil {
		t.Fatal(err)
	}
	s := connect(t, fan)
	recvUntilEmpty(t, s)

	anon := transport.New(srv.URL, nil)
	wantCode(t, anon.Admin("wrong", "eve").Suspend(ctx, "news", "x"), api.CodeUnauthorized)
	if err := transport.New(srv.URL, nil).Admin("", "eve").Suspend(ctx, "news", "x"); err == nil {
		t.Fatal("an empty token was accepted")
	}
	op := anon.Admin("operator-secret", "olga")
	wantCode(t, op.Suspend(ctx, "news", ""), api.CodeBadRequest)
	if err := op.Suspend(ctx, "news", "court order 123"); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	f, err := s.Recv(rctx)
	if err != nil || f.Type != api.FrameChannel || f.Code != api.CodeChannelSuspended || f.Message != "court order 123" || f.Channel != "news" {
		t.Fatalf("follower told: %+v %v", f, err)
	}
	for name, call := range map[string]func() error{
		"info":    func() error { _, err := anon.Channel(ctx, "news"); return err },
		"records": func() error { _, err := anon.Records(ctx, "news", transport.RecordQuery{}); return err },
		"post": func() error {
			_, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindPost}))
			return err
		},
		"follow": func() error { return fan.c.Follow(ctx, "news") },
		"views":  func() error { return anon.AddViews(ctx, "news", nil) },
		"admins": func() error { return owner.c.SetChannelAdmin(ctx, "news", "fan", true) },
	} {
		ae := wantCode(t, call(), api.CodeChannelSuspended)
		if ae.Status != 451 || !strings.Contains(ae.Message, "court order 123") {
			t.Errorf("%s: %d %q", name, ae.Status, ae.Message)
		}
	}
	if cs, _ := anon.SearchChannels(ctx, "news"); len(cs) != 0 {
		t.Errorf("suspended channel in search: %+v", cs)
	}
	// Unfollowing stays possible.
	if err := fan.c.Unfollow(ctx, "news"); err != nil {
		t.Fatal(err)
	}

	if err := op.Restore(ctx, "news", "appeal granted"); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Channel(ctx, "news"); err != nil {
		t.Fatalf("after restore: %v", err)
	}
	// A single post is taken down: history shows the reason, not the post.
	if err := op.TakeDown(ctx, "news", rec.ID[:], "copyright notice"); err != nil {
		t.Fatal(err)
	}
	page, _ := anon.Records(ctx, "news", transport.RecordQuery{Newest: true})
	if page.Records[0].TakenDown != "copyright notice" || page.Records[0].Data != nil {
		t.Fatalf("taken-down record served: %+v", page.Records[0])
	}
	wantCode(t, op.TakeDown(ctx, "news", make([]byte, 16), "no such post"), api.CodeNotFound)

	log, err := op.Audit(ctx)
	if err != nil || len(log) != 3 {
		t.Fatalf("audit: %+v %v", log, err)
	}
	if log[0].Action != "takedown" || log[1].Action != "restore" || log[2].Action != "suspend" ||
		log[2].Admin != "olga" || log[2].Reason != "court order 123" || log[2].Channel != "news" || log[2].Time == 0 {
		t.Fatalf("audit entries: %+v", log)
	}
	if err := fan.c.Report(ctx, api.ReportRequest{Channel: "news", RecordID: rec.ID[:], Category: "copyright"}); err != nil {
		t.Fatal(err)
	}
	reports, err := op.Reports(ctx)
	if err != nil || len(reports) != 1 || reports[0].Category != "copyright" || reports[0].Channel != "news" {
		t.Fatalf("reports: %+v %v", reports, err)
	}
}

// TestAdminAPIOffWithoutToken: with no operator token the API does not exist.
func TestAdminAPIOffWithoutToken(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	wantCode(t, transport.New(srv.URL, nil).Admin("", "x").Suspend(context.Background(), "news", "r"), api.CodeNotFound)
}
