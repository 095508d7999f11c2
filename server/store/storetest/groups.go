package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// shared is the envelopes of one send to many: from one device, message n,
// for each of devices, their own content cleared (EnqueueShared ignores it).
func shared(from store.Device, fromName string, n int, t0 time.Time, devices ...store.Device) []store.Envelope {
	envs := make([]store.Envelope, len(devices))
	for i, d := range devices {
		envs[i] = envelope(from, fromName, d, n, t0)
		envs[i].Type = 3
		envs[i].Content = nil
	}
	return envs
}

// withContent is envs with Content set, as Pending returns them.
func withContent(envs []store.Envelope, content []byte) []store.Envelope {
	out := slices.Clone(envs)
	for i := range out {
		out[i].Content = content
	}
	return out
}

// testEnqueueShared: one content for many devices of several accounts is
// read back on every one, in Seq order with the device's other envelopes;
// a retry is a duplicate of every envelope and keeps their Seqs, and a
// retry that reaches a device the first call did not stores only that one.
func testEnqueueShared(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, from := newAccount(t, s, "sara")
	own := addDevice(t, s, a, "sara tablet")
	b, b1 := newAccount(t, s, "tomas")
	b2 := addDevice(t, s, b, "tomas tablet")
	_, c1 := newAccount(t, s, "ulla")
	t0 := now()
	lim := store.QueueLimits{MaxQueue: 100}

	before := envelope(from, a.Username, b1, 1, t0)
	enqueue(t, s, 100, nil, &before)
	content := []byte("one sender-key message for everyone")
	envs := shared(from, a.Username, 2, t0, own, b1, b2, c1)
	dup, err := s.EnqueueShared(ctx, content, envs, lim)
	if err != nil || !slices.Equal(dup, []bool{false, false, false, false}) {
		t.Fatalf("EnqueueShared = %v, %v", dup, err)
	}
	for i, e := range envs {
		if e.Seq == 0 || !bytes.Equal(e.Content, content) {
			t.Fatalf("envelope %d after EnqueueShared: Seq %d, content %q", i, e.Seq, e.Content)
		}
		if i > 0 && e.Seq <= envs[i-1].Seq {
			t.Fatalf("Seqs %v not increasing", seqs(envs))
		}
	}
	checkPending(t, s, b1, t0, before, envs[1])
	checkPending(t, s, own, t0, envs[0])
	checkPending(t, s, b2, t0, envs[2])
	checkPending(t, s, c1, t0, envs[3])
	checkTotal(t, s, 5)

	// A retry is a duplicate everywhere and keeps the first Seqs.
	retry := shared(from, a.Username, 2, t0, own, b1, b2, c1)
	dup, err = s.EnqueueShared(ctx, []byte("another content"), retry, lim)
	if err != nil || !slices.Equal(dup, []bool{true, true, true, true}) || !slices.Equal(seqs(retry), seqs(envs)) {
		t.Fatalf("retry = %v, %v, Seqs %v; want all duplicates with Seqs %v", dup, err, seqs(retry), seqs(envs))
	}
	checkPending(t, s, c1, t0, envs[3])
	// Once a device has acked, a retry stores its envelope again, with the
	// retry's content; the others stay duplicates.
	if err := s.Ack(ctx, c1.AccountID, c1.ID, []uint64{envs[3].Seq}); err != nil {
		t.Fatal(err)
	}
	again := shared(from, a.Username, 2, t0, b1, c1)
	dup, err = s.EnqueueShared(ctx, []byte("again"), again, lim)
	if err != nil || !slices.Equal(dup, []bool{true, false}) || again[0].Seq != envs[1].Seq || again[1].Seq <= envs[3].Seq {
		t.Fatalf("retry after an ack = %v, %v, Seqs %v", dup, err, seqs(again))
	}
	checkPending(t, s, c1, t0, withContent(again[1:], []byte("again"))...)
	checkPending(t, s, b1, t0, before, envs[1])

	// Enqueue and EnqueueShared share one deduplication.
	one := envelope(from, a.Username, c1, 3, t0)
	enqueue(t, s, 100, nil, &one)
	dup, err = s.EnqueueShared(ctx, []byte("x"), shared(from, a.Username, 3, t0, c1), lim)
	if err != nil || !dup[0] {
		t.Fatalf("EnqueueShared of an Enqueue'd key = %v, %v; want a duplicate", dup, err)
	}
	checkPending(t, s, c1, t0, again[1], one)

	// An empty content is a content.
	empty := shared(from, a.Username, 4, t0, b2)
	if _, err := s.EnqueueShared(ctx, nil, empty, lim); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pending(ctx, b2.AccountID, b2.ID, envs[2].Seq, 10, t0)
	if err != nil || len(got) != 1 || len(got[0].Content) != 0 || got[0].Seq != empty[0].Seq {
		t.Fatalf("Pending of an empty shared content = %+v, %v", got, err)
	}
	if dup, err := s.EnqueueShared(ctx, content, nil, lim); err != nil || len(dup) != 0 {
		t.Fatalf("EnqueueShared of no envelopes = %v, %v", dup, err)
	}
}

// testEnqueueSharedBounds: a shared content counts its whole size for
// every device it is queued for, against the device's bounds and the
// sender's share, and frees it with each ack; a call that fails stores
// nothing, for any device, and leaves envs alone.
func testEnqueueSharedBounds(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, from := newAccount(t, s, "vera")
	b, b1 := newAccount(t, s, "wim")
	b2 := addDevice(t, s, b, "wim tablet")
	_, c1 := newAccount(t, s, "xena")
	t0 := now()
	content := make([]byte, 100)
	lim := store.QueueLimits{MaxQueue: 100, MaxBytes: 250, SenderMaxBytes: 200}

	for n := range 2 {
		if _, err := s.EnqueueShared(ctx, content, shared(from, a.Username, n, t0, b1, b2, c1), lim); err != nil {
			t.Fatalf("send %d within the bounds: %v", n, err)
		}
	}
	// A third would be 300 bytes from one sender on each device.
	call := shared(from, a.Username, 2, t0, b1, b2, c1)
	if _, err := s.EnqueueShared(ctx, content, call, lim); !errors.Is(err, store.ErrSenderQueueFull) {
		t.Fatalf("past the byte share = %v, want ErrSenderQueueFull", err)
	}
	if call[0].Seq != 0 || call[0].Content != nil {
		t.Fatalf("a failed call changed envs: %+v", call[0])
	}
	for _, d := range []store.Device{b1, b2, c1} {
		checkDepth(t, s, d, 2)
	}
	// The device's own bound counts everyone's bytes.
	_, other := newAccount(t, s, "yann")
	if _, err := s.EnqueueShared(ctx, content[:50], shared(other, "yann", 0, t0, b1, c1), lim); err != nil {
		t.Fatalf("250 bytes within the device bound: %v", err)
	}
	if _, err := s.EnqueueShared(ctx, content[:1], shared(other, "yann", 1, t0, b2, c1), lim); !errors.Is(err, store.ErrQueueFull) {
		t.Fatalf("one byte past the device bound = %v, want ErrQueueFull", err)
	}
	checkDepth(t, s, b2, 2)
	// An ack frees the bytes of the one device.
	got, err := s.Pending(ctx, c1.AccountID, c1.ID, 0, 1, t0)
	if err != nil || len(got) != 1 {
		t.Fatalf("Pending = %+v, %v", got, err)
	}
	if err := s.Ack(ctx, c1.AccountID, c1.ID, []uint64{got[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueueShared(ctx, content, shared(from, a.Username, 3, t0, c1), lim); err != nil {
		t.Fatalf("after an ack freed 100 bytes: %v", err)
	}
	if _, err := s.EnqueueShared(ctx, content, shared(from, a.Username, 4, t0, b1), lim); !errors.Is(err, store.ErrSenderQueueFull) {
		t.Fatalf("another device keeps its count: %v, want ErrSenderQueueFull", err)
	}

	// An unknown device fails the whole call.
	ghost := store.Device{AccountID: b.ID, ID: 99}
	if _, err := s.EnqueueShared(ctx, content[:1], shared(other, "yann", 5, t0, b2, ghost), store.QueueLimits{MaxQueue: 100}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("EnqueueShared to an unknown device = %v, want ErrNotFound", err)
	}
	checkDepth(t, s, b2, 2)
}

// testSharedContentGoes: shared envelopes leave every queue by each way an
// envelope goes (ack, expiry, removal of the device, recovery of the
// account), and the counts follow.
func testSharedContentGoes(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, from := newAccount(t, s, "zora")
	b, b1 := newAccount(t, s, "abel")
	b2 := addDevice(t, s, b, "abel tablet")
	_, c1 := newAccount(t, s, "bess")
	t0 := now()
	lim := store.QueueLimits{MaxQueue: 100, MaxBytes: 100}
	content := make([]byte, 100)

	envs := shared(from, a.Username, 1, t0, b1, b2, c1)
	for i := range envs {
		envs[i].Expires = t0.Add(time.Minute)
	}
	if _, err := s.EnqueueShared(ctx, content, envs, lim); err != nil {
		t.Fatal(err)
	}
	late := shared(from, a.Username, 2, t0, c1)
	late[0].Expires = t0.Add(time.Hour)
	if _, err := s.EnqueueShared(ctx, content[:0], late, lim); err != nil {
		t.Fatal(err)
	}
	checkTotal(t, s, 4)
	if err := s.RemoveDevice(ctx, b.ID, b2.ID); err != nil {
		t.Fatal(err)
	}
	checkTotal(t, s, 3)
	if err := s.Ack(ctx, b1.AccountID, b1.ID, []uint64{envs[0].Seq}); err != nil {
		t.Fatal(err)
	}
	checkDepth(t, s, b1, 0)
	// Its bytes went with it: the device's 100-byte bound takes another.
	if _, err := s.EnqueueShared(ctx, content, shared(from, a.Username, 3, t0, b1), lim); err != nil {
		t.Fatalf("after the ack: %v", err)
	}
	n, err := s.DeleteExpired(ctx, t0.Add(2*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want c1's expired shared envelope", n, err)
	}
	checkPending(t, s, c1, t0, withContent(late, content[:0])...)
	checkTotal(t, s, 2)
}

// testGroupLinks: a link is created, read, replaced and deleted by its
// owner only; another account is refused; an account holds at most max.
func testGroupLinks(t *testing.T, s store.Store, reopen func() store.Store) {
	ctx := t.Context()
	a, _ := newAccount(t, s, "cleo")
	b, _ := newAccount(t, s, "dirk")
	id := [16]byte{1, 2, 3}
	if _, err := s.GroupLink(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GroupLink of an unknown id = %v, want ErrNotFound", err)
	}
	if err := s.PutGroupLink(ctx, id, a.ID, []byte("snapshot 1"), 3); err != nil {
		t.Fatal(err)
	}
	checkLink := func(s store.Store, want string) {
		t.Helper()
		got, err := s.GroupLink(ctx, id)
		if err != nil || string(got) != want {
			t.Fatalf("GroupLink = %q, %v; want %q", got, err, want)
		}
	}
	checkLink(s, "snapshot 1")
	if err := s.PutGroupLink(ctx, id, a.ID, []byte("snapshot 2"), 3); err != nil {
		t.Fatalf("owner replaces: %v", err)
	}
	if err := s.PutGroupLink(ctx, id, b.ID, []byte("hijack"), 3); !errors.Is(err, store.ErrNotOwner) {
		t.Fatalf("another account replaces = %v, want ErrNotOwner", err)
	}
	if err := s.DeleteGroupLink(ctx, id, b.ID); !errors.Is(err, store.ErrNotOwner) {
		t.Fatalf("another account deletes = %v, want ErrNotOwner", err)
	}
	s = reopen()
	checkLink(s, "snapshot 2")

	// At most max per account; a replacement is not a new link, and
	// another account has its own count.
	for i := byte(1); i < 3; i++ {
		if err := s.PutGroupLink(ctx, [16]byte{i, 9}, a.ID, nil, 3); err != nil {
			t.Fatalf("link %d of 3: %v", i+1, err)
		}
	}
	if err := s.PutGroupLink(ctx, [16]byte{3, 9}, a.ID, nil, 3); !errors.Is(err, store.ErrTooManyLinks) {
		t.Fatalf("link 4 of 3 = %v, want ErrTooManyLinks", err)
	}
	if err := s.PutGroupLink(ctx, id, a.ID, []byte("snapshot 3"), 3); err != nil {
		t.Fatalf("replacing with 3 links: %v", err)
	}
	if err := s.PutGroupLink(ctx, [16]byte{3, 9}, b.ID, nil, 3); err != nil {
		t.Fatalf("another account's first link: %v", err)
	}
	if got, err := s.GroupLink(ctx, [16]byte{1, 9}); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("an empty snapshot = %v, %v; want a non-nil empty slice", got, err)
	}
	if err := s.PutGroupLink(ctx, [16]byte{4, 9}, 1<<40, nil, 3); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutGroupLink for an unknown account = %v, want ErrNotFound", err)
	}

	if err := s.DeleteGroupLink(ctx, id, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GroupLink(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GroupLink after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteGroupLink(ctx, id, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice = %v, want ErrNotFound", err)
	}
	// The deleted link frees a place, and its id may be taken again.
	if err := s.PutGroupLink(ctx, id, b.ID, []byte("b's now"), 3); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGroupLink(ctx, [16]byte{5, 9}, a.ID, nil, 3); err != nil {
		t.Fatalf("a place freed by the delete: %v", err)
	}
	checkLink(s, "b's now")
}
