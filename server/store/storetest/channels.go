package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/parley-chat/parley/server/store"
)

func newChannel(t *testing.T, s store.Store, handle string, owner int64) (store.Channel, store.ChannelRecord) {
	t.Helper()
	c, rec, err := s.CreateChannel(t.Context(),
		store.Channel{Handle: handle, OwnerID: owner, GenesisKey: randBytes(t, 32), Created: now()},
		store.ChannelRecord{RecordID: [16]byte{1}, Kind: 7, Position: 1, Hash: randBytes(t, 32), Time: 1, Data: []byte("profile"), Created: now(), Title: "Title of " + handle, About: "about"})
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

// nextPosition is the position after the channel's last record.
func nextPosition(t *testing.T, s store.Store, c store.Channel) uint64 {
	t.Helper()
	last, err := s.ChannelRecords(t.Context(), c.ID, store.RecordQuery{Limit: 1, Desc: true})
	if err != nil || len(last) == 0 {
		t.Fatalf("last record: %v", err)
	}
	return last[0].Position + 1
}

func post(t *testing.T, s store.Store, c store.Channel, id byte) store.ChannelRecord {
	t.Helper()
	r, err := s.AppendChannelRecord(t.Context(), store.ChannelRecord{ChannelID: c.ID, RecordID: [16]byte{id}, Kind: 1,
		Position: nextPosition(t, s, c), Hash: randBytes(t, 32), Time: int64(id), Data: []byte{id}, Created: now()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testChannelCreate(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "owner")
	c, rec := newChannel(t, s, "news", a.ID)
	if c.ID == 0 || rec.Seq == 0 || c.Title != "Title of news" || rec.Position != 1 {
		t.Fatalf("created %+v, %+v", c, rec)
	}
	got, err := s.ChannelByHandle(ctx, "news")
	if err != nil || got.ID != c.ID || !bytes.Equal(got.GenesisKey, c.GenesisKey) || got.About != "about" || got.OwnerID != a.ID {
		t.Fatalf("ChannelByHandle = %+v, %v", got, err)
	}
	if byID, err := s.ChannelByID(ctx, c.ID); err != nil || byID.Handle != "news" {
		t.Fatalf("ChannelByID = %+v, %v", byID, err)
	}
	_, _, err = s.CreateChannel(ctx, store.Channel{Handle: "news", OwnerID: a.ID, GenesisKey: randBytes(t, 32), Created: now()},
		store.ChannelRecord{RecordID: [16]byte{1}, Kind: 7, Data: []byte("x"), Created: now(), Title: "other"})
	if !errors.Is(err, store.ErrHandleTaken) {
		t.Fatalf("taken handle: %v", err)
	}
	if _, err := s.ChannelByHandle(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown handle: %v", err)
	}
	// The failed create stored no record.
	if rs, _ := s.ChannelRecords(ctx, c.ID, store.RecordQuery{}); len(rs) != 1 {
		t.Fatalf("%d records", len(rs))
	}
}

func testChannelRecords(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "owner")
	c, profile := newChannel(t, s, "news", a.ID)
	other, _ := newChannel(t, s, "other", a.ID)
	var seqs []uint64
	for i := byte(10); i < 20; i++ {
		seqs = append(seqs, post(t, s, c, i).Seq)
		post(t, s, other, i) // same record IDs in another channel are fine
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] || seqs[0] <= profile.Seq {
			t.Fatalf("seqs not increasing: %v", seqs)
		}
	}
	// A retry with the same record ID stores nothing and returns the first.
	dup, err := s.AppendChannelRecord(ctx, store.ChannelRecord{ChannelID: c.ID, RecordID: [16]byte{10}, Kind: 1, Data: []byte("changed"), Created: now()})
	if !errors.Is(err, store.ErrExists) || dup.Seq != seqs[0] || !bytes.Equal(dup.Data, []byte{10}) {
		t.Fatalf("duplicate: %+v, %v", dup, err)
	}
	asc, err := s.ChannelRecords(ctx, c.ID, store.RecordQuery{After: seqs[2], Limit: 3})
	if err != nil || len(asc) != 3 || asc[0].Seq != seqs[3] || asc[2].Seq != seqs[5] {
		t.Fatalf("after: %v %v", asc, err)
	}
	desc, err := s.ChannelRecords(ctx, c.ID, store.RecordQuery{Before: seqs[5], Limit: 2, Desc: true})
	if err != nil || len(desc) != 2 || desc[0].Seq != seqs[4] || desc[1].Seq != seqs[3] {
		t.Fatalf("before: %v %v", desc, err)
	}
	all, _ := s.ChannelRecords(ctx, c.ID, store.RecordQuery{})
	if len(all) != 11 || all[0].Kind != 7 {
		t.Fatalf("all: %d records", len(all))
	}
	if posts, _ := s.ChannelRecords(ctx, c.ID, store.RecordQuery{Kind: 1}); len(posts) != 10 {
		t.Fatalf("posts: %d", len(posts))
	}
	got, err := s.ChannelRecordByID(ctx, c.ID, [16]byte{15})
	if err != nil || got.Seq != seqs[5] || got.Time != 15 {
		t.Fatalf("by id: %+v %v", got, err)
	}

	// Positions: the next one is the last + 1, and a record for any
	// other position is refused (stale head, or a gap), storing nothing.
	pos := nextPosition(t, s, c)
	if pos != 12 || all[10].Position != 11 || len(all[10].Hash) != 32 {
		t.Fatalf("next position %d, last %+v", pos, all[10])
	}
	for _, p := range []uint64{pos - 1, pos + 1, 1} {
		_, err := s.AppendChannelRecord(ctx, store.ChannelRecord{ChannelID: c.ID, RecordID: [16]byte{40}, Kind: 1, Position: p, Data: []byte("x"), Created: now()})
		if !errors.Is(err, store.ErrStaleHead) {
			t.Fatalf("position %d of %d: %v, want ErrStaleHead", p, pos, err)
		}
	}
	if n, _ := s.ChannelRecords(ctx, c.ID, store.RecordQuery{}); len(n) != 11 {
		t.Fatalf("a refused record was stored: %d records", len(n))
	}
	// Two publishers race for one position: exactly one wins.
	var (
		wg   sync.WaitGroup
		wins = make(chan error, 8)
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AppendChannelRecord(ctx, store.ChannelRecord{ChannelID: c.ID, RecordID: [16]byte{50, byte(i)}, Kind: 1, Position: pos, Data: []byte("race"), Created: now()})
			wins <- err
		}()
	}
	wg.Wait()
	close(wins)
	won := 0
	for err := range wins {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrStaleHead):
			t.Fatalf("racing append: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d publishers won position %d", won, pos)
	}

	// A profile replaces title and about.
	target := [16]byte{10}
	if _, err := s.AppendChannelRecord(ctx, store.ChannelRecord{ChannelID: c.ID, RecordID: [16]byte{31}, Kind: 7, Position: pos + 1, Data: []byte("p"), Created: now(), Title: "New", About: "new about", Avatar: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendChannelRecord(ctx, store.ChannelRecord{ChannelID: c.ID, RecordID: [16]byte{32}, Kind: 2, Target: &target, Position: pos + 2, Data: []byte("e"), Created: now()}); err != nil {
		t.Fatal(err)
	}
	got2, _ := s.ChannelByHandle(ctx, "news")
	if got2.Title != "New" || got2.About != "new about" || !bytes.Equal(got2.Avatar, []byte{1}) {
		t.Fatalf("after a profile: %+v", got2)
	}
	edit, _ := s.ChannelRecordByID(ctx, c.ID, [16]byte{32})
	if edit.Target == nil || *edit.Target != target {
		t.Fatalf("edit target: %+v", edit)
	}

	if err := s.AddViews(ctx, c.ID, [][16]byte{{11}, {11}, {12}, {99}}); err != nil {
		t.Fatal(err)
	}
	v, _ := s.ChannelRecordByID(ctx, c.ID, [16]byte{11})
	if v.Views != 2 {
		t.Fatalf("views = %d", v.Views)
	}
}

func testChannelFollow(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	owner, _ := newAccount(t, s, "owner")
	c, _ := newChannel(t, s, "news", owner.ID)
	var followers []int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 20 {
		a, _ := newAccount(t, s, fmt.Sprintf("fan%d", i))
		followers = append(followers, a.ID)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Follow(ctx, c.ID, a.ID, now())
			if err == nil {
				err = s.Follow(ctx, c.ID, a.ID, now()) // twice is once
			}
			if err != nil {
				mu.Lock()
				t.Error(err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	got, _ := s.ChannelByHandle(ctx, "news")
	if got.Followers != 20 {
		t.Fatalf("followers = %d", got.Followers)
	}
	ids, _ := s.ChannelFollowers(ctx, c.ID)
	if len(ids) != 20 {
		t.Fatalf("follower IDs: %v", ids)
	}
	if err := s.Unfollow(ctx, c.ID, followers[0]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ChannelByHandle(ctx, "news"); got.Followers != 19 {
		t.Fatalf("after unfollow: %d", got.Followers)
	}
	fc, err := s.FollowedChannels(ctx, followers[1])
	if err != nil || len(fc) != 1 || fc[0].Handle != "news" {
		t.Fatalf("followed: %+v %v", fc, err)
	}
	if fc, _ := s.FollowedChannels(ctx, followers[0]); len(fc) != 0 {
		t.Fatalf("unfollowed still follows: %+v", fc)
	}

	if ok, _ := s.IsChannelAdmin(ctx, c.ID, followers[1]); ok {
		t.Fatal("admin before being made one")
	}
	s.SetChannelAdmin(ctx, c.ID, followers[1], true)
	if ok, _ := s.IsChannelAdmin(ctx, c.ID, followers[1]); !ok {
		t.Fatal("not admin")
	}
	if names, err := s.ChannelAdmins(ctx, c.ID); err != nil || len(names) != 1 || names[0] != "fan1" {
		t.Fatalf("admins: %v %v", names, err)
	}
	s.SetChannelAdmin(ctx, c.ID, followers[1], false)
	if ok, _ := s.IsChannelAdmin(ctx, c.ID, followers[1]); ok {
		t.Fatal("still admin")
	}
}

func testChannelSearch(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	owner, _ := newAccount(t, s, "owner")
	newChannel(t, s, "news", owner.ID)     // title "Title of news"
	newChannel(t, s, "newsroom", owner.ID) // title "Title of newsroom"
	c3, _ := newChannel(t, s, "sports", owner.ID)
	fan, _ := newAccount(t, s, "fan")
	s.Follow(ctx, c3.ID, fan.ID, now())
	got, err := s.SearchChannels(ctx, "NEWS", 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("search news: %+v %v", got, err)
	}
	if got, _ := s.SearchChannels(ctx, "of sp", 10); len(got) != 1 || got[0].Handle != "sports" || got[0].Followers != 1 {
		t.Fatalf("search title: %+v", got)
	}
	if got, _ := s.SearchChannels(ctx, "%", 10); len(got) != 0 {
		t.Fatalf("a wildcard matched: %+v", got)
	}
	if got, _ := s.SearchChannels(ctx, "", 10); len(got) != 3 || got[0].Handle != "sports" {
		t.Fatalf("all, by followers: %+v", got)
	}
	// Suspended channels disappear from search.
	if _, err := s.Moderate(ctx, store.AuditEntry{Time: now(), Admin: "op", Action: store.ActionSuspend, ChannelID: c3.ID, Reason: "spam"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SearchChannels(ctx, "sports", 10); len(got) != 0 {
		t.Fatalf("suspended channel found: %+v", got)
	}
}

func testModeration(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	owner, _ := newAccount(t, s, "owner")
	c, _ := newChannel(t, s, "news", owner.ID)
	p := post(t, s, c, 10)
	moderate := func(action string, rid *[16]byte, reason string) store.AuditEntry {
		t.Helper()
		var notice []byte
		if action == store.ActionTakedown {
			notice = []byte("signed notice: " + reason)
		}
		e, err := s.Moderate(ctx, store.AuditEntry{Time: now(), Admin: "op", Action: action, ChannelID: c.ID, RecordID: rid, Reason: reason, Notice: notice})
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		return e
	}
	moderate(store.ActionSuspend, nil, "illegal content")
	if got, _ := s.ChannelByHandle(ctx, "news"); !got.Suspended() || got.SuspendReason != "illegal content" {
		t.Fatalf("suspended: %+v", got)
	}
	moderate(store.ActionRestore, nil, "appeal granted")
	if got, _ := s.ChannelByHandle(ctx, "news"); got.Suspended() {
		t.Fatal("still suspended")
	}
	moderate(store.ActionTakedown, &p.RecordID, "copyright")
	if r, _ := s.ChannelRecordByID(ctx, c.ID, p.RecordID); r.TakedownReason != "copyright" || string(r.TakedownNotice) != "signed notice: copyright" {
		t.Fatalf("takedown: %+v", r)
	}
	moderate(store.ActionRestorePost, &p.RecordID, "counter-notice")
	if r, _ := s.ChannelRecordByID(ctx, c.ID, p.RecordID); r.TakedownReason != "" || r.TakedownNotice != nil {
		t.Fatalf("restored post: %+v", r)
	}
	// An action on nothing fails and is not logged.
	if _, err := s.Moderate(ctx, store.AuditEntry{Time: now(), Admin: "op", Action: store.ActionTakedown, ChannelID: c.ID, RecordID: &[16]byte{99}, Reason: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("takedown of an unknown record: %v", err)
	}
	log, err := s.AuditLog(ctx, 10)
	if err != nil || len(log) != 4 {
		t.Fatalf("audit log: %+v %v", log, err)
	}
	want := []string{store.ActionRestorePost, store.ActionTakedown, store.ActionRestore, store.ActionSuspend}
	for i, e := range log {
		if e.Action != want[i] || e.Admin != "op" || e.ChannelID != c.ID || e.Reason == "" {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	if log[1].RecordID == nil || *log[1].RecordID != p.RecordID {
		t.Fatalf("takedown entry names %v", log[1].RecordID)
	}

	fan, _ := newAccount(t, s, "fan")
	r, err := s.AddReport(ctx, store.Report{ChannelID: c.ID, RecordID: &p.RecordID, ReporterID: fan.ID, Category: "spam", Note: "ads", Created: now()})
	if err != nil || r.ID == 0 {
		t.Fatal(err)
	}
	s.AddReport(ctx, store.Report{ChannelID: c.ID, ReporterID: fan.ID, Category: "other", Created: now()})
	spammer, _ := newAccount(t, s, "spammer")
	if _, err := s.AddReport(ctx, store.Report{AccountID: spammer.ID, ReporterID: fan.ID, Category: "spam", Created: now()}); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Reports(ctx, 10)
	if err != nil || len(rs) != 3 || rs[1].Category != "other" || rs[2].RecordID == nil || rs[2].Note != "ads" || rs[2].ChannelID != c.ID {
		t.Fatalf("reports: %+v %v", rs, err)
	}
	if rs[0].AccountID != spammer.ID || rs[0].ChannelID != 0 || rs[0].RecordID != nil || rs[1].AccountID != 0 ||
		rs[0].AccountName != "spammer" || rs[0].ReporterName != "fan" || rs[1].AccountName != "" {
		t.Fatalf("account report: %+v", rs[0])
	}
	// A report names one of a channel and an account.
	if _, err := s.AddReport(ctx, store.Report{ChannelID: c.ID, AccountID: spammer.ID, ReporterID: fan.ID, Category: "spam", Created: now()}); err == nil {
		t.Fatal("a report of both a channel and an account was stored")
	}
	if _, err := s.AddReport(ctx, store.Report{ReporterID: fan.ID, Category: "spam", Created: now()}); err == nil {
		t.Fatal("a report of nothing was stored")
	}
}

func testOperatorKey(t *testing.T, s store.Store, reopen func() store.Store) {
	ctx := t.Context()
	first, err := s.OperatorKey(ctx, []byte("first key"))
	if err != nil || string(first) != "first key" {
		t.Fatalf("first: %q, %v", first, err)
	}
	if again, err := s.OperatorKey(ctx, []byte("second key")); err != nil || string(again) != "first key" {
		t.Fatalf("the key changed: %q, %v", again, err)
	}
	if reopen != nil {
		if kept, err := reopen().OperatorKey(ctx, []byte("third key")); err != nil || string(kept) != "first key" {
			t.Fatalf("after reopening: %q, %v", kept, err)
		}
	}
}
