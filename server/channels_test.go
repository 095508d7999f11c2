package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
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

// publisher signs records for one channel, as a client does: each at
// the position after the chain's head, which it reads from the server
// (the last head it read if the server does not answer).
type publisher struct {
	t      testing.TB
	key    ed25519.PrivateKey
	gen    ed25519.PublicKey
	c      *transport.Client // set by create
	handle string
	pos    uint64
	prev   [channel.HashSize]byte
}

func newPublisher(t testing.TB) *publisher {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &publisher{t: t, key: key, gen: pub}
}

// next fills in r's place in the chain.
func (p *publisher) next(r *channel.Record) {
	if p.c != nil {
		if info, err := p.c.Channel(context.Background(), p.handle); err == nil {
			p.pos = info.HeadPosition
			copy(p.prev[:], info.HeadHash)
		}
	}
	r.Channel, r.Position, r.Prev, r.Time = p.gen, p.pos+1, nil, time.Now().UnixMilli()
	if r.Position > 1 {
		prev := p.prev
		r.Prev = &prev
	}
	rand.Read(r.ID[:])
}

// sign signs r with the owner key.
func (p *publisher) sign(r *channel.Record) []byte {
	p.t.Helper()
	p.next(r)
	b, err := r.Sign(p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	return b
}

// signAs signs r as an admin, with their identity key.
func (p *publisher) signAs(u *user, r *channel.Record) []byte {
	p.t.Helper()
	p.next(r)
	b, err := r.SignAdmin(u.id.Private, nil)
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
	p.c, p.handle = u.c, info.Handle
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
	if info.Handle != "news" || info.Title != "The News" || info.HeadPosition != 1 || info.LastSeq == 0 || len(info.OperatorKey) != 32 {
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
	other := newPublisher(t)
	other.pos, other.prev = p.pos, p.prev
	_, err = owner.c.PostRecord(ctx, "news", other.sign(&channel.Record{Kind: channel.KindPost, Text: "other key"}))
	wantCode(t, err, api.CodeBadRecord)
	_, err = owner.c.PostRecord(ctx, "news", []byte("junk"))
	wantCode(t, err, api.CodeBadRecord)
	// A retry of the same record is idempotent.
	again, err := owner.c.PostRecord(ctx, "news", first)
	if err != nil || !again.Duplicate || again.Seq != res.Seq {
		t.Fatalf("retry: %+v %v", again, err)
	}
	// An admin posts, signing with their identity key once the owner key
	// certified it; an edit must target a post.
	if err := owner.c.SetChannelAdmin(ctx, "news", "fan", true); err != nil {
		t.Fatal(err)
	}
	_, err = fan.c.PostRecord(ctx, "news", p.signAs(fan, &channel.Record{Kind: channel.KindPost, Text: "not certified yet"}))
	wantCode(t, err, api.CodeSignerNotAllowed)
	fanKey := fan.id.Public()
	if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindAddAdmin, Admin: &fanKey, AdminName: "fan"})); err != nil {
		t.Fatal(err)
	}
	if _, err := fan.c.PostRecord(ctx, "news", p.signAs(fan, &channel.Record{Kind: channel.KindPost, Text: "by the admin"})); err != nil {
		t.Fatal(err)
	}
	// The admin's account cannot post the owner's records, nor the owner
	// an admin's.
	_, err = fan.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindPost, Text: "as the owner"}))
	wantCode(t, err, api.CodeSignerNotAllowed)
	_, err = owner.c.PostRecord(ctx, "news", p.signAs(fan, &channel.Record{Kind: channel.KindPost, Text: "as the fan"}))
	wantCode(t, err, api.CodeSignerNotAllowed)
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
	if len(rest.Records) != 3 || rest.Next != 0 {
		t.Fatalf("second page: %d records, next %d", len(rest.Records), rest.Next)
	}
	asc, _ := anon.Records(ctx, "news", transport.RecordQuery{After: info.LastSeq})
	if len(asc.Records) != 4 || asc.Records[0].Seq != res.Seq {
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
	hist, err := owner.c.Records(ctx, "news", transport.RecordQuery{Limit: 1})
	if err != nil || len(hist.Records) != 1 {
		t.Fatalf("the profile: %v", err)
	}
	profile := hist.Records[0].Data
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
				st, _ := channel.NewState(p.gen) // a follower's view of the chain
				if _, err := st.Apply(profile); err != nil {
					bad <- err
				} else if r, err := st.Apply(f.Record); err != nil {
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
	// Its stub comes with the notice, and hashes to what the notice names
	// (spec/protocol.md §10.7).
	stub, err := channel.ParseStub(page.Records[0].Stub)
	if err != nil || stub.ID != rec.ID || stub.Text != "" {
		t.Fatalf("stub of the taken-down record: %+v, %v", stub, err)
	}
	if n, err := channel.ParseNotice(page.Records[0].Notice); err != nil || n.Hash != stub.Hash() || n.Position != stub.Position {
		t.Fatalf("notice %+v does not name the stub: %v", n, err)
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

// TestChannelAuthority: the server applies each record to the chain's
// head as a follower would. A co-admin cannot change who signs (the
// attack of issue 10: an admin handing the channel to himself); a record
// signed on a stale head is a 409 with the head's position; a removed
// admin's next record is refused.
func TestChannelAuthority(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	owner := register(t, srv, "owner", 0)
	bob := register(t, srv, "bob", 0)
	mallory := register(t, srv, "mallory", 0)
	p := newPublisher(t)
	p.create(owner, "news")
	bobKey, malloryKey := bob.id.Public(), mallory.id.Public()
	if err := owner.c.SetChannelAdmin(ctx, "news", "bob", true); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindAddAdmin, Admin: &bobKey, AdminName: "bob"})); err != nil {
		t.Fatal(err)
	}

	// The co-admin certifies a key of his own, and removes... himself
	// from being removable: both refused, nothing stored.
	before, _ := owner.c.Channel(ctx, "news")
	for _, r := range []*channel.Record{
		{Kind: channel.KindAddAdmin, Admin: &malloryKey, AdminName: "mallory"},
		{Kind: channel.KindRemoveAdmin, Admin: &bobKey},
	} {
		_, err := bob.c.PostRecord(ctx, "news", p.signAs(bob, r))
		wantCode(t, err, api.CodeSignerNotAllowed)
	}
	if after, _ := owner.c.Channel(ctx, "news"); after.HeadPosition != before.HeadPosition {
		t.Fatalf("a refused record moved the head: %d → %d", before.HeadPosition, after.HeadPosition)
	}

	// Stale head: a record for a position already taken.
	stale := p.signAs(bob, &channel.Record{Kind: channel.KindPost, Text: "stale"})
	if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindPost, Text: "first"})); err != nil {
		t.Fatal(err)
	}
	_, err := bob.c.PostRecord(ctx, "news", stale)
	wantCode(t, err, api.CodeStaleHead)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.HeadPosition != 3 || ae.Status != http.StatusConflict {
		t.Fatalf("stale head: %+v", err)
	}

	// The owner removes bob: his next record is refused, signed as he
	// may; and the server stops taking his account's records at all.
	if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindRemoveAdmin, Admin: &bobKey})); err != nil {
		t.Fatal(err)
	}
	_, err = bob.c.PostRecord(ctx, "news", p.signAs(bob, &channel.Record{Kind: channel.KindPost, Text: "still here", Time: 1}))
	wantCode(t, err, api.CodeSignerNotAllowed)
	if err := owner.c.SetChannelAdmin(ctx, "news", "bob", false); err != nil {
		t.Fatal(err)
	}
	_, err = bob.c.PostRecord(ctx, "news", p.signAs(bob, &channel.Record{Kind: channel.KindPost, Text: "still here"}))
	wantCode(t, err, api.CodeForbidden)

	// The operator key is published, and stays the same.
	si, err := transport.New(srv.URL, nil).ServerInfo(ctx)
	if info, _ := owner.c.Channel(ctx, "news"); err != nil || len(si.OperatorKey) != 32 || !bytes.Equal(si.OperatorKey, info.OperatorKey) {
		t.Fatalf("operator key: %x, %v", si.OperatorKey, err)
	}
}

// TestAttackSignerNotCaller: the server ties a record's signer to the
// account that publishes it. A record validly signed by a real admin,
// published by another admin, by the owner, or by an admin of another
// channel, is refused; so is a record signed by an admin of another
// channel, and one naming the owner key's bytes as its signer. An
// add_admin naming a key already an admin, and a remove_admin of a key
// that is none, do not change who signs (spec/protocol.md §10.4).
func TestAttackSignerNotCaller(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	owner := register(t, srv, "owner", 0)
	bob := register(t, srv, "bob", 0)
	carol := register(t, srv, "carol", 0)
	other := register(t, srv, "other", 0)
	p := newPublisher(t)
	p.create(owner, "news")
	q := newPublisher(t)
	q.create(other, "sports")
	for _, u := range []*user{bob, carol} {
		k := u.id.Public()
		if err := owner.c.SetChannelAdmin(ctx, "news", u.name, true); err != nil {
			t.Fatal(err)
		}
		if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindAddAdmin, Admin: &k, AdminName: u.name})); err != nil {
			t.Fatal(err)
		}
	}
	// Mallory is an admin of sports, not of news.
	mallory := register(t, srv, "mallory", 0)
	mk := mallory.id.Public()
	other.c.SetChannelAdmin(ctx, "sports", "mallory", true)
	if _, err := other.c.PostRecord(ctx, "sports", q.sign(&channel.Record{Kind: channel.KindAddAdmin, Admin: &mk, AdminName: "mallory"})); err != nil {
		t.Fatal(err)
	}
	before, _ := owner.c.Channel(ctx, "news")

	bobs := p.signAs(bob, &channel.Record{Kind: channel.KindPost, Text: "bob's"})
	_, err := carol.c.PostRecord(ctx, "news", bobs)
	wantCode(t, err, api.CodeSignerNotAllowed)
	_, err = owner.c.PostRecord(ctx, "news", bobs)
	wantCode(t, err, api.CodeSignerNotAllowed)
	_, err = mallory.c.PostRecord(ctx, "news", bobs)
	wantCode(t, err, api.CodeForbidden)
	// Mallory signs as herself, made admin of news in the store only.
	owner.c.SetChannelAdmin(ctx, "news", "mallory", true)
	_, err = mallory.c.PostRecord(ctx, "news", p.signAs(mallory, &channel.Record{Kind: channel.KindPost, Text: "mallory's"}))
	wantCode(t, err, api.CodeSignerNotAllowed)
	// A record naming the owner key's bytes as its admin signer, from
	// bob and from the owner.
	bk := bob.id.Public()
	asOwner := bytes.Replace(p.signAs(bob, &channel.Record{Kind: channel.KindPost, Text: "owner?"}), bk[:], p.gen, 1)
	for _, u := range []*user{bob, owner} {
		_, err = u.c.PostRecord(ctx, "news", asOwner)
		wantCode(t, err, api.CodeSignerNotAllowed)
	}
	if after, _ := owner.c.Channel(ctx, "news"); after.HeadPosition != before.HeadPosition {
		t.Fatalf("a refused record moved the head: %d → %d", before.HeadPosition, after.HeadPosition)
	}

	// add_admin of a key already an admin; remove_admin of a non-admin.
	if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindAddAdmin, Admin: &bk, AdminName: "bob"})); err != nil {
		t.Fatal(err)
	}
	_, err = owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindRemoveAdmin, Admin: &mk}))
	wantCode(t, err, api.CodeBadRecord)
	// One removal of bob removes him, though he was added twice.
	if _, err := owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindRemoveAdmin, Admin: &bk})); err != nil {
		t.Fatal(err)
	}
	_, err = bob.c.PostRecord(ctx, "news", p.signAs(bob, &channel.Record{Kind: channel.KindPost, Text: "still?"}))
	wantCode(t, err, api.CodeSignerNotAllowed)
}

// TestAttackRecordIDReused: a record ID names one record of a channel.
// A second record under a post's ID is refused and moves nothing; the
// very same record again is an idempotent retry; an edit whose target is
// an edit (no post) is refused; a record for a position far beyond the
// head (2^62) is a stale head, never stored.
func TestAttackRecordIDReused(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	ctx := context.Background()
	owner := register(t, srv, "owner", 0)
	p := newPublisher(t)
	p.create(owner, "news")
	withID := func(r *channel.Record, id [16]byte) []byte {
		t.Helper()
		p.next(r)
		r.ID = id
		b, err := r.Sign(p.key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first, post := p.post(owner, "news", "first")
	postRec, _ := channel.Parse(post)
	before, _ := owner.c.Channel(ctx, "news")
	_, err := owner.c.PostRecord(ctx, "news", withID(&channel.Record{Kind: channel.KindPost, Text: "second"}, postRec.ID))
	wantCode(t, err, api.CodeBadRecord)
	if after, _ := owner.c.Channel(ctx, "news"); after.HeadPosition != before.HeadPosition {
		t.Fatalf("a reused ID moved the head: %d → %d", before.HeadPosition, after.HeadPosition)
	}
	if res, err := owner.c.PostRecord(ctx, "news", post); err != nil || !res.Duplicate || res.Seq != first.Seq {
		t.Fatalf("retry of the same record: %+v, %v", res, err)
	}
	edit := p.sign(&channel.Record{Kind: channel.KindEdit, Target: &postRec.ID, Text: "edited"})
	if _, err := owner.c.PostRecord(ctx, "news", edit); err != nil {
		t.Fatal(err)
	}
	editRec, _ := channel.Parse(edit)
	_, err = owner.c.PostRecord(ctx, "news", p.sign(&channel.Record{Kind: channel.KindPin, Target: &editRec.ID}))
	wantCode(t, err, api.CodeBadRecord)
	far := &channel.Record{Kind: channel.KindPost, Text: "far"}
	p.next(far)
	far.Position = 1 << 62
	b, err := far.Sign(p.key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = owner.c.PostRecord(ctx, "news", b)
	wantCode(t, err, api.CodeStaleHead)
	if after, _ := owner.c.Channel(ctx, "news"); after.HeadPosition != before.HeadPosition+1 {
		t.Fatalf("head at %d, want %d", after.HeadPosition, before.HeadPosition+1)
	}
}
