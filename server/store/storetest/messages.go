package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// enqueue enqueues the envelopes in one call, sets their Seq, and checks
// which were duplicates (nil wantDup: none).
func enqueue(t *testing.T, s store.Store, maxQueue int, wantDup []bool, envs ...*store.Envelope) {
	t.Helper()
	call := make([]store.Envelope, len(envs))
	for i, e := range envs {
		call[i] = *e
	}
	dup, err := s.Enqueue(t.Context(), call, store.QueueLimits{MaxQueue: maxQueue})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if wantDup == nil {
		wantDup = make([]bool, len(envs))
	}
	if !slices.Equal(dup, wantDup) {
		t.Fatalf("Enqueue: dup = %v, want %v", dup, wantDup)
	}
	for i, e := range envs {
		e.Seq = call[i].Seq
	}
}

// ptrs points at each element of envs.
func ptrs(envs []store.Envelope) []*store.Envelope {
	ps := make([]*store.Envelope, len(envs))
	for i := range envs {
		ps[i] = &envs[i]
	}
	return ps
}

func seqs(envs []store.Envelope) []uint64 {
	var ss []uint64
	for _, e := range envs {
		ss = append(ss, e.Seq)
	}
	return ss
}

func testEnqueueSeqs(t *testing.T, s store.Store, _ func() store.Store) {
	a, from := newAccount(t, s, "mia")
	b, to1 := newAccount(t, s, "ned")
	to2 := addDevice(t, s, b, "ned tablet")
	t0 := now()

	first := []store.Envelope{envelope(from, a.Username, to1, 1, t0), envelope(from, a.Username, to2, 1, t0), envelope(from, a.Username, to1, 2, t0)}
	enqueue(t, s, 100, nil, ptrs(first)...)
	second := []store.Envelope{envelope(from, a.Username, to1, 3, t0)}
	enqueue(t, s, 100, nil, ptrs(second)...)
	all := append(slices.Clone(first), second...)
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Fatalf("Seqs %v do not increase", seqs(all))
		}
	}
	checkPending(t, s, to1, t0, first[0], first[2], second[0])
	checkPending(t, s, to2, t0, first[1])
	checkDepth(t, s, to1, 3)
	checkDepth(t, s, to2, 1)
	checkTotal(t, s, 4)

	// A seq is never given out again, even once the newest are acked.
	if err := s.Ack(t.Context(), b.ID, to1.ID, seqs(all)); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(t.Context(), b.ID, to2.ID, seqs(all)); err != nil {
		t.Fatal(err)
	}
	checkDepth(t, s, to1, 0)
	checkTotal(t, s, 0)
	third := envelope(from, a.Username, to1, 4, t0)
	enqueue(t, s, 100, nil, &third)
	checkTotal(t, s, 1)
	if third.Seq <= second[0].Seq {
		t.Fatalf("Seq %d after acking %d: seqs went backwards", third.Seq, second[0].Seq)
	}
}

func testEnqueueDedup(t *testing.T, s store.Store, _ func() store.Store) {
	a, from := newAccount(t, s, "olga")
	b, to1 := newAccount(t, s, "paul")
	to2 := addDevice(t, s, b, "paul tablet")
	t0 := now()

	orig := envelope(from, a.Username, to1, 1, t0)
	enqueue(t, s, 100, nil, &orig)
	again := envelope(from, a.Username, to1, 1, t0.Add(time.Second))
	again.Content = []byte("a retry")
	enqueue(t, s, 100, []bool{true}, &again)
	if again.Seq != orig.Seq {
		t.Fatalf("duplicate got Seq %d, want the first's %d", again.Seq, orig.Seq)
	}
	checkPending(t, s, to1, t0, orig) // stored once, as first sent
	checkDepth(t, s, to1, 1)

	// The same ClientID for another destination, or from another sending
	// device, is another envelope.
	other := envelope(from, a.Username, to2, 1, t0)
	enqueue(t, s, 100, nil, &other)
	fromOther := envelope(store.Device{AccountID: a.ID, ID: 2}, a.Username, to1, 1, t0)
	fromOther.ClientID = orig.ClientID
	enqueue(t, s, 100, nil, &fromOther)

	// Mixed calls, and a duplicate within one call.
	mixed := []store.Envelope{envelope(from, a.Username, to1, 1, t0), envelope(from, a.Username, to1, 2, t0)}
	enqueue(t, s, 100, []bool{true, false}, ptrs(mixed)...)
	if mixed[0].Seq != orig.Seq || mixed[1].Seq <= fromOther.Seq {
		t.Fatalf("Seqs %v, want %d and a new one", seqs(mixed), orig.Seq)
	}
	twice := []store.Envelope{envelope(from, a.Username, to1, 3, t0), envelope(from, a.Username, to1, 3, t0)}
	enqueue(t, s, 100, []bool{false, true}, ptrs(twice)...)
	if twice[0].Seq != twice[1].Seq {
		t.Fatalf("Seqs %v for one envelope sent twice", seqs(twice))
	}
	checkPending(t, s, to1, t0, orig, fromOther, mixed[1], twice[0])
	checkDepth(t, s, to1, 4)
	checkDepth(t, s, to2, 1)
}

// testEnqueueDedupOnlyWhileQueued: an envelope is a duplicate only of one
// still queued. Expired counts as queued until DeleteExpired removes it.
func testEnqueueDedupOnlyWhileQueued(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, from := newAccount(t, s, "dora")
	b, to := newAccount(t, s, "dirk")
	t0 := now()

	acked := envelope(from, a.Username, to, 1, t0)
	enqueue(t, s, 100, nil, &acked)
	if err := s.Ack(ctx, b.ID, to.ID, []uint64{acked.Seq}); err != nil {
		t.Fatal(err)
	}
	again := envelope(from, a.Username, to, 1, t0)
	enqueue(t, s, 100, []bool{false}, &again)
	if again.Seq <= acked.Seq {
		t.Fatalf("re-sent after its ack: Seq %d, want a new one after %d", again.Seq, acked.Seq)
	}

	expired := envelope(from, a.Username, to, 2, t0)
	expired.Expires = t0.Add(time.Minute)
	enqueue(t, s, 100, nil, &expired)
	stillQueued := envelope(from, a.Username, to, 2, t0)
	enqueue(t, s, 100, []bool{true}, &stillQueued)
	if stillQueued.Seq != expired.Seq {
		t.Fatalf("duplicate of an expired envelope: Seq %d, want %d", stillQueued.Seq, expired.Seq)
	}
	if _, err := s.DeleteExpired(ctx, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	afterDelete := envelope(from, a.Username, to, 2, t0)
	enqueue(t, s, 100, []bool{false}, &afterDelete)
	if afterDelete.Seq <= expired.Seq {
		t.Fatalf("re-sent after DeleteExpired: Seq %d, want a new one after %d", afterDelete.Seq, expired.Seq)
	}
	checkPending(t, s, to, t0, again, afterDelete)
	checkDepth(t, s, to, 2)
}

func testEnqueueQueueFull(t *testing.T, s store.Store, _ func() store.Store) {
	const max = 3
	ctx := t.Context()
	a, from := newAccount(t, s, "quinn")
	b, full := newAccount(t, s, "rose")
	other := addDevice(t, s, b, "rose tablet")
	t0 := now()

	var queued []store.Envelope
	for i := range max {
		e := envelope(from, a.Username, full, i, t0)
		enqueue(t, s, max, nil, &e)
		queued = append(queued, e)
	}
	// The call fails whole: the envelope for the other device is not
	// stored either, and the caller's envelopes get no Seq.
	call := []store.Envelope{envelope(from, a.Username, other, 10, t0), envelope(from, a.Username, full, 11, t0)}
	if _, err := s.Enqueue(ctx, call, store.QueueLimits{MaxQueue: max}); !errors.Is(err, store.ErrQueueFull) {
		t.Fatalf("Enqueue to a full queue = %v, want ErrQueueFull", err)
	}
	if call[0].Seq != 0 || call[1].Seq != 0 {
		t.Fatalf("a failed Enqueue set Seqs %v", seqs(call))
	}
	checkPending(t, s, other, t0)
	checkPending(t, s, full, t0, queued...)
	checkDepth(t, s, full, max)

	// A duplicate of a queued envelope is not stored again, so a full
	// queue does not refuse it, nor does a bound below 1.
	dupe := envelope(from, a.Username, full, 0, t0)
	enqueue(t, s, max, []bool{true}, &dupe)
	enqueue(t, s, 0, []bool{true}, &dupe)
	if dupe.Seq != queued[0].Seq {
		t.Fatalf("duplicate got Seq %d, want %d", dupe.Seq, queued[0].Seq)
	}
	// A bound below 1 refuses every new envelope.
	for _, bound := range []int{0, -1} {
		fresh := []store.Envelope{envelope(from, a.Username, other, 20, t0)}
		if _, err := s.Enqueue(ctx, fresh, store.QueueLimits{MaxQueue: bound}); !errors.Is(err, store.ErrQueueFull) {
			t.Fatalf("Enqueue(maxQueue %d) = %v, want ErrQueueFull", bound, err)
		}
	}
	checkDepth(t, s, other, 0)

	// A call never takes a queue past maxQueue.
	if err := s.Ack(ctx, b.ID, full.ID, []uint64{queued[0].Seq}); err != nil {
		t.Fatal(err)
	}
	two := []store.Envelope{envelope(from, a.Username, full, 12, t0), envelope(from, a.Username, full, 13, t0)}
	if _, err := s.Enqueue(ctx, two, store.QueueLimits{MaxQueue: max}); !errors.Is(err, store.ErrQueueFull) {
		t.Fatalf("Enqueue past the bound = %v, want ErrQueueFull", err)
	}
	checkDepth(t, s, full, max-1)
	// The same envelope twice in one call is stored once and counts once.
	twice := []store.Envelope{two[0], two[0]}
	enqueue(t, s, max, []bool{false, true}, ptrs(twice)...)
	checkPending(t, s, full, t0, queued[1], queued[2], twice[0])
	checkDepth(t, s, full, max)
}

func testEnqueueUnknownDevice(t *testing.T, s store.Store, _ func() store.Store) {
	a, d := newAccount(t, s, "sam")
	t0 := now()
	call := []store.Envelope{envelope(d, a.Username, d, 1, t0), envelope(d, a.Username, store.Device{AccountID: a.ID, ID: 99}, 2, t0)}
	if _, err := s.Enqueue(t.Context(), call, store.QueueLimits{MaxQueue: 100}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Enqueue(unknown device) = %v, want ErrNotFound", err)
	}
	checkDepth(t, s, d, 0)
}

func testPendingAfterLimit(t *testing.T, s store.Store, _ func() store.Store) {
	a, d := newAccount(t, s, "tina")
	t0 := now()
	var envs []store.Envelope
	for i := range 10 {
		envs = append(envs, envelope(d, a.Username, d, i, t0))
	}
	enqueue(t, s, 100, nil, ptrs(envs)...)
	checkPending(t, s, d, t0, envs...)

	var got []store.Envelope
	after := uint64(0)
	for page := 0; ; page++ {
		p, err := s.Pending(t.Context(), a.ID, d.ID, after, 4, t0)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(4, len(envs)-len(got)); len(p) != want {
			t.Fatalf("page %d after %d: %d envelopes, want %d", page, after, len(p), want)
		}
		if len(p) == 0 {
			break
		}
		got = append(got, p...)
		after = p[len(p)-1].Seq
	}
	if !slices.Equal(seqs(got), seqs(envs)) {
		t.Fatalf("pages gave seqs %v, want %v", seqs(got), seqs(envs))
	}
}

func testExpiry(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d := newAccount(t, s, "uma")
	other := addDevice(t, s, a, "uma tablet")
	t0 := now()
	short := envelope(d, a.Username, d, 1, t0)
	short.Expires = t0.Add(time.Minute)
	long := envelope(d, a.Username, d, 2, t0)
	long.Expires = t0.Add(time.Hour)
	elsewhere := envelope(d, a.Username, other, 3, t0)
	elsewhere.Expires = t0.Add(time.Minute)
	enqueue(t, s, 100, nil, &short, &long, &elsewhere)

	checkPending(t, s, d, t0, short, long)
	checkPending(t, s, d, t0.Add(2*time.Minute), long)

	if n, err := s.DeleteExpired(ctx, t0.Add(30*time.Second)); err != nil || n != 0 {
		t.Fatalf("DeleteExpired(before any expiry) = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteExpired(ctx, t0.Add(2*time.Minute)); err != nil || n != 2 {
		t.Fatalf("DeleteExpired = %d, %v; want 2", n, err)
	}
	checkPending(t, s, d, t0, long)
	checkPending(t, s, other, t0)
	checkDepth(t, s, d, 1)
	checkDepth(t, s, other, 0)
	if n, err := s.DeleteExpired(ctx, t0.Add(2*time.Minute)); err != nil || n != 0 {
		t.Fatalf("DeleteExpired again = %d, %v; want 0", n, err)
	}
}

func testAckOwnQueueOnly(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	a, d1 := newAccount(t, s, "vera")
	d2 := addDevice(t, s, a, "vera tablet")
	b, bd := newAccount(t, s, "walt")
	t0 := now()
	q1 := []store.Envelope{envelope(bd, b.Username, d1, 1, t0), envelope(bd, b.Username, d1, 2, t0)}
	q2 := []store.Envelope{envelope(bd, b.Username, d2, 1, t0), envelope(bd, b.Username, d2, 2, t0)}
	both := append(q1, q2...)
	enqueue(t, s, 100, nil, ptrs(both)...)
	q1, q2 = both[:2], both[2:]
	all := append(seqs(q1), seqs(q2)...)
	checkPending(t, s, d1, t0, q1...)

	// Seqs of another device's queue, on this account or another.
	if err := s.Ack(ctx, a.ID, d1.ID, seqs(q2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, b.ID, bd.ID, all); err != nil {
		t.Fatal(err)
	}
	checkPending(t, s, d1, t0, q1...)
	checkPending(t, s, d2, t0, q2...)

	if err := s.Ack(ctx, a.ID, d1.ID, []uint64{q1[0].Seq, q1[1].Seq + 1000}); err != nil {
		t.Fatal(err)
	}
	checkPending(t, s, d1, t0, q1[1])
	checkDepth(t, s, d1, 1)
	if err := s.Ack(ctx, a.ID, d1.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, a.ID, d2.ID, all); err != nil {
		t.Fatal(err)
	}
	checkPending(t, s, d2, t0)
	checkDepth(t, s, d2, 0)
	checkDepth(t, s, d1, 1)
}

// testEnqueueConcurrent has 32 senders enqueue 100 envelopes each, one per
// call, to 4 devices: every envelope is stored with a unique Seq, and each
// queue holds every sender's envelopes in the order it sent them.
func testEnqueueConcurrent(t *testing.T, s store.Store, _ func() store.Store) {
	const senders, perSender = 32, 100
	a, d := newAccount(t, s, "xena")
	dests := []store.Device{d, addDevice(t, s, a, "b"), addDevice(t, s, a, "c"), addDevice(t, s, a, "d")}
	t0 := now()

	type sent struct{ sender, n int }
	var (
		mu    sync.Mutex
		bySeq = map[uint64]sent{}
		wg    sync.WaitGroup
	)
	for g := range senders {
		from := store.Device{AccountID: a.ID + 1, ID: uint32(g + 1)}
		wg.Go(func() {
			for n := range perSender {
				call := []store.Envelope{envelope(from, "sender", dests[(g+n)%len(dests)], n, t0)}
				dup, err := s.Enqueue(t.Context(), call, store.QueueLimits{MaxQueue: senders * perSender})
				if err != nil || dup[0] {
					t.Errorf("Enqueue = %v, %v", dup, err)
					return
				}
				e := call[0]
				mu.Lock()
				if prev, ok := bySeq[e.Seq]; ok {
					t.Errorf("Seq %d given to %v and %v", e.Seq, prev, sent{g, n})
				}
				bySeq[e.Seq] = sent{g, n}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := 0
	for _, dest := range dests {
		got, err := s.Pending(t.Context(), dest.AccountID, dest.ID, 0, senders*perSender, t0)
		if err != nil {
			t.Fatal(err)
		}
		total += len(got)
		checkDepth(t, s, dest, len(got))
		last := map[int]int{} // sender -> last n seen in this queue
		for i, e := range got {
			if i > 0 && e.Seq <= got[i-1].Seq {
				t.Fatalf("device %d: Pending not in Seq order at %d", dest.ID, i)
			}
			who, ok := bySeq[e.Seq]
			if !ok || e.SenderDevice != uint32(who.sender+1) || e.ClientID != envelope(store.Device{AccountID: a.ID + 1, ID: e.SenderDevice}, "", dest, who.n, t0).ClientID {
				t.Fatalf("device %d: envelope with Seq %d is not the one Enqueue gave it", dest.ID, e.Seq)
			}
			if n, ok := last[who.sender]; ok && who.n <= n {
				t.Fatalf("device %d: sender %d's envelope %d queued after its %d", dest.ID, who.sender, who.n, n)
			}
			last[who.sender] = who.n
		}
	}
	if total != senders*perSender {
		t.Fatalf("%d envelopes queued, want %d", total, senders*perSender)
	}
}

func testDurability(t *testing.T, s store.Store, reopen func() store.Store) {
	a, d := newAccount(t, s, "yuri")
	uploadKeys(t, s, d, 4, 2)
	t0 := now()
	var envs []store.Envelope
	for i := range 5 {
		envs = append(envs, envelope(d, a.Username, d, i, t0))
	}
	enqueue(t, s, 100, nil, ptrs(envs)...)
	if err := s.Ack(t.Context(), a.ID, d.ID, []uint64{envs[0].Seq}); err != nil {
		t.Fatal(err)
	}

	s = reopen()
	if got, err := s.AccountByName(t.Context(), "yuri"); err != nil || got.ID != a.ID {
		t.Fatalf("after reopen: AccountByName = %+v, %v", got, err)
	}
	checkPending(t, s, d, t0, envs[1:]...)
	checkDepth(t, s, d, 4)
	if c, err := s.PreKeyCounts(t.Context(), a.ID, d.ID); err != nil || c != (store.PreKeyCounts{OneTime: 4, KEMOneTime: 2}) {
		t.Fatalf("after reopen: PreKeyCounts = %+v, %v", c, err)
	}

	// Seqs keep increasing across a reopen, even with every queue empty.
	if err := s.Ack(t.Context(), a.ID, d.ID, seqs(envs)); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	e := envelope(d, a.Username, d, 99, t0)
	enqueue(t, s, 100, nil, &e)
	if e.Seq <= envs[len(envs)-1].Seq {
		t.Fatalf("after reopen: Seq %d, not after %d", e.Seq, envs[len(envs)-1].Seq)
	}
	checkPending(t, s, d, t0, e)
	checkDepth(t, s, d, 1)
}

// testEnqueueSenderShare: one sender's share of another account's device
// queue is bounded in envelopes and bytes (ErrSenderQueueFull, storing
// nothing of the call), other senders and the account's own devices are
// not held by it, the total byte bound is ErrQueueFull, and acks, expiry
// and duplicates count as they do for QueueDepth.
func testEnqueueSenderShare(t *testing.T, s store.Store, _ func() store.Store) {
	ctx := t.Context()
	m, flooder := newAccount(t, s, "mallet")
	a, other := newAccount(t, s, "alba")
	b, dest := newAccount(t, s, "bram")
	own := addDevice(t, s, b, "bram tablet")
	t0 := now()
	lim := store.QueueLimits{MaxQueue: 100, SenderMax: 3}

	var queued []store.Envelope
	for i := range 3 {
		e := envelope(flooder, m.Username, dest, i, t0)
		if _, err := s.Enqueue(ctx, []store.Envelope{e}, lim); err != nil {
			t.Fatalf("Enqueue %d within the share: %v", i, err)
		}
		queued = append(queued, e)
	}
	// The call fails whole: its envelope for another device is not stored.
	call := []store.Envelope{envelope(flooder, m.Username, own, 10, t0), envelope(flooder, m.Username, dest, 11, t0)}
	if _, err := s.Enqueue(ctx, call, lim); !errors.Is(err, store.ErrSenderQueueFull) {
		t.Fatalf("Enqueue past the share = %v, want ErrSenderQueueFull", err)
	}
	checkDepth(t, s, own, 0)
	checkDepth(t, s, dest, 3)
	// A duplicate is not stored, so the full share does not refuse it.
	if dup, err := s.Enqueue(ctx, queued[:1], lim); err != nil || !dup[0] {
		t.Fatalf("duplicate with a full share = %v, %v", dup, err)
	}
	// Another sender, and the account's own devices, still get through.
	for i := range 3 {
		if _, err := s.Enqueue(ctx, []store.Envelope{envelope(other, a.Username, dest, i, t0)}, lim); err != nil {
			t.Fatalf("another sender %d: %v", i, err)
		}
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{envelope(other, a.Username, dest, 3, t0)}, lim); !errors.Is(err, store.ErrSenderQueueFull) {
		t.Fatalf("the other sender past its own share = %v, want ErrSenderQueueFull", err)
	}
	checkDepth(t, s, dest, 6)
	for i := range 5 {
		if _, err := s.Enqueue(ctx, []store.Envelope{envelope(own, b.Username, dest, i, t0)}, lim); err != nil {
			t.Fatalf("own device %d: %v", i, err)
		}
	}
	checkDepth(t, s, dest, 11)

	// An ack frees the share.
	pending, err := s.Pending(ctx, dest.AccountID, dest.ID, 0, 1, t0)
	if err != nil || len(pending) != 1 || pending[0].SenderAccount != m.ID {
		t.Fatalf("Pending = %+v, %v", pending, err)
	}
	if err := s.Ack(ctx, dest.AccountID, dest.ID, []uint64{pending[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{envelope(flooder, m.Username, dest, 20, t0)}, lim); err != nil {
		t.Fatalf("Enqueue after an ack freed the share: %v", err)
	}

	// Bytes: the sender's share, then the device's total.
	_, fresh := newAccount(t, s, "cato")
	_, big := newAccount(t, s, "dora")
	bytesLim := store.QueueLimits{MaxQueue: 100, MaxBytes: 250, SenderMaxBytes: 100}
	sized := func(from store.Device, n, size int) store.Envelope {
		e := envelope(from, "x", fresh, n, t0)
		e.Content = make([]byte, size)
		return e
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{sized(big, 1, 60), sized(big, 2, 40)}, bytesLim); err != nil {
		t.Fatalf("100 bytes within a 100-byte share: %v", err)
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{sized(big, 3, 1)}, bytesLim); !errors.Is(err, store.ErrSenderQueueFull) {
		t.Fatalf("one byte past the byte share = %v, want ErrSenderQueueFull", err)
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{sized(other, 4, 100), sized(flooder, 5, 50)}, bytesLim); err != nil {
		t.Fatalf("250 bytes within the 250-byte total: %v", err)
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{sized(dest, 6, 1)}, bytesLim); !errors.Is(err, store.ErrQueueFull) {
		t.Fatalf("one byte past the device's bytes = %v, want ErrQueueFull", err)
	}
	checkDepth(t, s, fresh, 4)

	// Expired envelopes count until DeleteExpired removes them; then the
	// share is free.
	if _, err := s.DeleteExpired(ctx, t0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{sized(big, 7, 100)}, bytesLim); err != nil {
		t.Fatalf("Enqueue after the janitor: %v", err)
	}
}
