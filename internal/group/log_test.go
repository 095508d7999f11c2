package group

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// permutations calls f with every order of n items.
func permutations(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var rec func(int)
	rec = func(k int) {
		if k == n {
			f(slices.Clone(p))
			return
		}
		for i := k; i < n; i++ {
			p[k], p[i] = p[i], p[k]
			rec(k + 1)
			p[k], p[i] = p[i], p[k]
		}
	}
	rec(0)
}

func apply(t testing.TB, st *State, b []byte) *State {
	t.Helper()
	n, err := st.Apply(mustParse(t, b))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// logOf builds a Log from records in order; each must be accepted.
func logOf(t testing.TB, recs [][]byte) *Log {
	t.Helper()
	l, err := NewLog(recs[0], Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range recs[1:] {
		if _, err := l.Add(b); err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
	}
	return l
}

// sameState fails unless a and b are the same group state.
func sameState(t testing.TB, a, b *State) {
	t.Helper()
	if a.Version() != b.Version() || a.Head() != b.Head() || !slices.Equal(a.Members(), b.Members()) ||
		a.Info().Title != b.Info().Title || a.Settings() != b.Settings() {
		t.Fatalf("states differ: v%d %v %+v / v%d %v %+v", a.Version(), names(a.Members()), a.Settings(),
			b.Version(), names(b.Members()), b.Settings())
	}
}

// TestConcurrentAdmins: alice and bob, both admins (alice outranks bob),
// sign children of one head, each branch grows, and a member only bob's
// branch has signs on it. Fed to Logs in all 120 orders, including
// children before their parents, every Log ends on alice's branch with
// the same head and state.
func TestConcurrentAdmins(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "dave")
	genesis := w.create("alice", "bob", "carol")
	st1, _ := NewState(genesis, Options{})
	promote := w.next(st1, KindPromote, "alice", func(r *Record) { r.Target = "bob" })
	st2 := apply(t, st1, promote)
	a1 := w.next(st2, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "alice's"} })
	sa1 := apply(t, st2, a1)
	a2 := w.next(sa1, KindSettings, "alice", func(r *Record) { r.Settings = &Settings{SendAdminsOnly: true} })
	b1 := w.next(st2, KindAdd, "bob", func(r *Record) { r.Members = w.members("dave") })
	sb1 := apply(t, st2, b1)
	b2 := w.next(sb1, KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: "bob's"} })
	sb2 := apply(t, sb1, b2)
	d1 := w.next(sb2, KindInfo, "dave", func(r *Record) { r.Info = &Info{Title: "dave's"} })
	want := apply(t, sa1, a2)
	recs := [][]byte{a1, a2, b1, b2, d1}

	orders := 0
	permutations(len(recs), func(p []int) {
		orders++
		l := logOf(t, [][]byte{genesis, promote})
		for _, i := range p {
			if _, err := l.Add(recs[i]); err != nil {
				t.Fatalf("order %v, record %d: %v", p, i, err)
			}
		}
		sameState(t, l.State(), want)
		if acc, pend := l.Len(); acc != 7 || pend != 0 {
			t.Fatalf("order %v: %d accepted, %d pending", p, acc, pend)
		}
		if d := l.Dropped("bob"); len(d) != 2 || d[0].Hash() != Hash(b1) || d[1].Hash() != Hash(b2) {
			t.Fatalf("order %v: bob's dropped records %v", p, d)
		}
		if d := l.Dropped("dave"); len(d) != 1 || l.Dropped("alice") != nil {
			t.Fatalf("order %v: dropped", p)
		}
	})
	if orders != 120 {
		t.Fatalf("%d orders", orders)
	}

	// Bob's branch first: the head moves to it, then to alice's.
	l := logOf(t, [][]byte{genesis, promote, b1, b2, d1})
	if v, _ := l.Head(); v != 5 || l.State().Info().Title != "dave's" {
		t.Fatalf("head %d", v)
	}
	res, err := l.Add(a1)
	if err != nil || !res.Canonical || !res.HeadChanged {
		t.Fatalf("alice's child: %+v, %v", res, err)
	}
	if v, h := l.Head(); v != 3 || h != Hash(a1) {
		t.Fatalf("head %d", v)
	}
	// Bob re-bases his changes on the new head: each is still allowed.
	for _, r := range l.Dropped("bob") {
		st := l.State()
		rb := st.Rebase(r)
		if err := st.Allowed(rb); err != nil {
			t.Fatal(err)
		}
		if res, err := l.Add(w.sign("bob", rb)); err != nil || !res.Canonical {
			t.Fatalf("re-based: %+v, %v", res, err)
		}
	}
	if st := l.State(); st.Len() != 4 || st.Info().Title != "bob's" || st.Version() != 5 {
		t.Fatalf("after re-basing: v%d %v", st.Version(), names(st.Members()))
	}
}

// TestRemovalBeatsConcurrentChange (rule 1): admin alice removes admin
// bob while bob adds carol (and goes on); alice's branch wins in every
// order, and bob's change cannot be re-based.
func TestRemovalBeatsConcurrentChange(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol")
	genesis := w.create("alice", "bob")
	st1, _ := NewState(genesis, Options{})
	promote := w.next(st1, KindPromote, "alice", func(r *Record) { r.Target = "bob" })
	st2 := apply(t, st1, promote)
	remove := w.next(st2, KindRemove, "alice", func(r *Record) { r.Target = "bob" })
	add := w.next(st2, KindAdd, "bob", func(r *Record) { r.Members = w.members("carol") })
	sb := apply(t, st2, add)
	more := w.next(sb, KindInfo, "carol", func(r *Record) { r.Info = &Info{Title: "carol's"} })
	recs := [][]byte{remove, add, more}
	permutations(len(recs), func(p []int) {
		l := logOf(t, [][]byte{genesis, promote})
		for _, i := range p {
			if _, err := l.Add(recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if v, h := l.Head(); v != 3 || h != Hash(remove) {
			t.Fatalf("order %v: head %d", p, v)
		}
		st := l.State()
		if got := strings.Join(names(st.Members()), ","); got != "alice" {
			t.Fatalf("order %v: members %s", p, got)
		}
		d := l.Dropped("bob")
		if len(d) != 1 {
			t.Fatalf("order %v: dropped %v", p, d)
		}
		if err := st.Allowed(st.Rebase(d[0])); !errors.Is(err, ErrNotAllowed) {
			t.Fatalf("re-basing a removed admin's change: %v", err)
		}
	})
}

// TestForkTieBreaks: one signer's two children, the lower hash wins; a
// member's child beats a joiner's; a non-admin's loses to an admin's.
func TestForkTieBreaks(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "mallory")
	genesis := w.create("alice", "bob", "carol")
	st1, _ := NewState(genesis, Options{})
	lk, _ := DeriveLink(bytes.Repeat([]byte{3}, 32))
	link := w.next(st1, KindLink, "alice", func(r *Record) { r.Link = lk.Link(true) })
	st2 := apply(t, st1, link)
	x := w.next(st2, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "x"} })
	y := w.next(st2, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "y"} })
	low := x
	if hx, hy := Hash(x), Hash(y); bytes.Compare(hy[:], hx[:]) < 0 {
		low = y
	}
	join := w.next(st2, KindJoin, "mallory", func(r *Record) {
		r.Proof = JoinProof(lk.ProofKey, testGroup, "mallory", w.u("mallory").key.Public())
	})
	carol := w.next(st2, KindInfo, "carol", func(r *Record) { r.Info = &Info{Title: "carol's"} })
	bob := w.next(st2, KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: "bob's"} })
	for _, c := range []struct {
		name string
		recs [][]byte
		win  []byte
	}{
		{"same signer", [][]byte{x, y}, low},
		{"member over joiner", [][]byte{join, carol}, carol},
		{"admin over member", [][]byte{carol, x}, x},
		{"earlier member over later", [][]byte{carol, bob}, bob},
		{"all", [][]byte{join, carol, bob, x, y}, low},
	} {
		permutations(len(c.recs), func(p []int) {
			l := logOf(t, [][]byte{genesis, link})
			for _, i := range p {
				if _, err := l.Add(c.recs[i]); err != nil {
					t.Fatal(err)
				}
			}
			if _, h := l.Head(); h != Hash(c.win) {
				t.Fatalf("%s, order %v: another head", c.name, p)
			}
		})
	}
}

// TestLongFork: bob's branch runs 130 records past a version that alice
// then signs a child of; alice's child wins, and a Log fed every record
// newest first agrees.
func TestLongFork(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	g := w.newGroup("alice", "bob")
	g.do(KindPromote, "alice", func(r *Record) { r.Target = "bob" })
	var fork *State
	for i := range 130 {
		if i == 68 {
			fork = g.log.State() // version 70
		}
		g.do(KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: strings.Repeat("b", i%100+1)} })
	}
	if v, _ := g.log.Head(); v != 132 || fork.Version() != 70 {
		t.Fatalf("head %d, fork at %d", v, fork.Version())
	}
	a := w.next(fork, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "alice's"} })
	res, err := g.log.Add(a)
	if err != nil || !res.Canonical || !res.HeadChanged {
		t.Fatalf("%+v, %v", res, err)
	}
	if v, h := g.log.Head(); v != 71 || h != Hash(a) {
		t.Fatalf("head %d", v)
	}
	if len(g.log.Dropped("bob")) != 62 || len(g.log.Chain()) != 71 || len(g.log.Changes(68)) != 3 {
		t.Fatalf("dropped %d, chain %d", len(g.log.Dropped("bob")), len(g.log.Chain()))
	}
	// A child of the end of bob's lost branch is kept, off the chain.
	dropped := g.log.Dropped("bob")
	end := g.log.stateAt(g.log.nodes[dropped[len(dropped)-1].Hash()])
	if end.Version() != 132 {
		t.Fatalf("end of bob's branch at %d", end.Version())
	}
	c := w.next(end, KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: "on"} })
	if res, err := g.log.Add(c); err != nil || res.Canonical || res.HeadChanged || res.Pending {
		t.Fatalf("child of a lost branch: %+v, %v", res, err)
	}
	// Fed newest first (all but the create wait for their parent), a Log
	// ends in the same state.
	all := g.log.All()
	l2, err := NewLog(all[0], Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(all) - 1; i > 0; i-- {
		if _, err := l2.Add(all[i]); err != nil {
			t.Fatal(err)
		}
	}
	sameState(t, l2.State(), g.log.State())
	if len(l2.Dropped("bob")) != 63 || !slices.EqualFunc(l2.All(), all, bytes.Equal) {
		t.Fatal("the Logs differ")
	}
}

// TestPending: a record whose parent is unknown waits (at most
// MaxPending); one that turns out invalid when its parent comes is dropped.
func TestPending(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	g := w.newGroup("alice", "bob")
	st := g.log.State()
	info := w.next(st, KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: "one"} })
	sInfo := apply(t, st, info)
	bad := sInfo.Next(KindSettings, "bob") // bob is no admin
	bad.Settings = &Settings{}
	badB := w.sign("bob", bad)
	good := w.next(sInfo, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: "two"} })
	for _, b := range [][]byte{badB, good} {
		if res, err := g.log.Add(b); err != nil || !res.Pending {
			t.Fatalf("%+v, %v", res, err)
		}
	}
	if res, err := g.log.Add(good); err != nil || !res.Pending || !res.Duplicate {
		t.Fatalf("pending twice: %+v, %v", res, err)
	}
	res, err := g.log.Add(info)
	if err != nil || !res.Canonical || !res.HeadChanged {
		t.Fatalf("%+v, %v", res, err)
	}
	if v, h := g.log.Head(); v != 3 || h != Hash(good) {
		t.Fatalf("head %d", v)
	}
	if acc, pend := g.log.Len(); acc != 3 || pend != 0 {
		t.Fatalf("%d accepted, %d pending", acc, pend)
	}
	// The bound: records naming unknown parents, unsigned (pending ones
	// are not verified until their parent comes).
	for i := range MaxPending + 1 {
		r := g.log.State().Next(KindLeave, "bob")
		r.Prev = [32]byte{byte(i), byte(i >> 8), 0xee}
		b := append(r.appendBody(nil), make([]byte, signatureSize)...)
		if i < MaxPending {
			if res, err := g.log.Add(b); err != nil || !res.Pending {
				t.Fatalf("%d: %+v, %v", i, res, err)
			}
			continue
		}
		refuseBytes(t, g.log, ErrLimit, b)
	}
	if len(g.log.All()) != 3+MaxPending {
		t.Fatal("pending records are not in All")
	}
}

// TestBounds: a record keeps at most MaxChildren children; a Log keeps
// at most MaxRecords records.
func TestBounds(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	genesis := w.create("alice", "bob")
	st, _ := NewState(genesis, Options{})
	var kids [][]byte
	for i := range MaxChildren + 1 {
		kids = append(kids, w.next(st, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: strings.Repeat("k", i+1)} }))
	}
	l, err := NewLog(genesis, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids[:MaxChildren] {
		if _, err := l.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	refuseBytes(t, l, ErrLimit, kids[MaxChildren])

	small, _ := NewLog(genesis, Options{MaxRecords: 3})
	for _, k := range kids[:2] {
		if _, err := small.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	refuseBytes(t, small, ErrLimit, kids[2])
}

// TestStateUnchanged: a State the Log returned never changes; Chain and
// Changes give the canonical records.
func TestStateUnchanged(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	g := w.newGroup("alice", "bob")
	st := g.log.State()
	b := g.do(KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: "new"} })
	if st.Version() != 1 || st.Info().Title != "Team" {
		t.Fatal("a returned State changed")
	}
	if ch := g.log.Changes(1); len(ch) != 1 || !bytes.Equal(ch[0].Encoded(), b) || g.log.Changes(2) != nil {
		t.Fatal("Changes")
	}
	ch := g.log.Changes(0)
	ch[1].Info.Title = "mutated"
	if g.log.Changes(1)[0].Info.Title != "new" {
		t.Fatal("a returned record shares memory with the Log")
	}
	if c := g.log.Chain(); len(c) != 2 || !bytes.Equal(c[1], b) {
		t.Fatal("Chain")
	}
}

// TestConcurrentUse: Adds and reads from several goroutines (run with
// -race).
func TestConcurrentUse(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	g := w.newGroup("alice", "bob")
	st := g.log.State()
	var recs [][]byte
	for i := range 8 {
		recs = append(recs, w.next(st, KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: strings.Repeat("c", i+1)} }))
	}
	var wg sync.WaitGroup
	for _, b := range recs {
		wg.Go(func() {
			if _, err := g.log.Add(b); err != nil {
				t.Error(err)
			}
			_ = g.log.State().Members()
			g.log.Head()
			g.log.All()
		})
	}
	wg.Wait()
	want := logOf(t, append([][]byte{g.log.Chain()[0]}, recs...))
	sameState(t, g.log.State(), want.State())
}

// TestAttackRemovedAdminBackdates: bob, an admin, is removed by alice at
// version 4. He signs a child of version 2, where he outranked carol, the
// signer of version 3: a fork he would win on rank. Carol's record's
// subtree removes him, so in every order his record loses, and his
// removal stands.
func TestAttackRemovedAdminBackdates(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "mallory")
	genesis := w.create("alice", "bob", "carol")
	st1, _ := NewState(genesis, Options{})
	promote := w.next(st1, KindPromote, "alice", func(r *Record) { r.Target = "bob" })
	st2 := apply(t, st1, promote)
	carol := w.next(st2, KindInfo, "carol", func(r *Record) { r.Info = &Info{Title: "carol's"} })
	st3 := apply(t, st2, carol)
	remove := w.next(st3, KindRemove, "alice", func(r *Record) { r.Target = "bob" })
	back := w.next(st2, KindAdd, "bob", func(r *Record) { r.Members = w.members("mallory") })
	more := w.next(apply(t, st2, back), KindRemove, "bob", func(r *Record) { r.Target = "carol" })
	recs := [][]byte{carol, remove, back, more}
	permutations(len(recs), func(p []int) {
		l := logOf(t, [][]byte{genesis, promote})
		for _, i := range p {
			if _, err := l.Add(recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if _, h := l.Head(); h != Hash(remove) {
			t.Fatalf("order %v: the removed admin's backdated branch won", p)
		}
		if got := strings.Join(names(l.State().Members()), ","); got != "alice,carol" {
			t.Fatalf("order %v: members %s", p, got)
		}
	})
}

// TestAttackLateFork: a signer who has seen a branch cannot fork above
// it: bob forks version 2 after signing version 3 himself, or after
// signing below carol's version 4; a second record of his at version 3
// loses to his first, on which carol built. He may still override
// carol's version 4 if he has signed nothing since it: he outranks her.
func TestAttackLateFork(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol")
	g := w.newGroup("alice", "bob", "carol")
	g.do(KindPromote, "alice", func(r *Record) { r.Target = "bob" })
	st2 := g.log.State()
	g.do(KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: "b3"} })
	st3 := g.log.State()
	g.do(KindInfo, "carol", func(r *Record) { r.Info = &Info{Title: "c4"} })
	chain4 := g.log.Chain()
	head := func() [32]byte { _, h := g.log.Head(); return h }
	want := head()
	for i := range 8 { // whatever its hash
		fork := g.next(st2, KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: strings.Repeat("f", i+1)} })
		if res, err := g.log.Add(fork); err != nil || res.Canonical || head() != want {
			t.Fatalf("bob's second child of version 2: %+v, %v", res, err)
		}
	}
	over := g.next(st3, KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: "over"} })
	if res, err := g.log.Add(over); err != nil || !res.Canonical || head() != Hash(over) {
		t.Fatalf("bob overrides carol's record: %+v, %v", res, err)
	}
	// On the chain up to carol's version 4, bob signs below it: now his
	// fork above it loses.
	l2 := logOf(t, chain4)
	b5 := w.next(l2.State(), KindInfo, "bob", func(r *Record) { r.Info = &Info{Title: "b5"} })
	if _, err := l2.Add(b5); err != nil {
		t.Fatal(err)
	}
	if res, err := l2.Add(over); err != nil || res.Canonical || l2.State().Head() != Hash(b5) {
		t.Fatalf("bob forks above his own record: %+v, %v", res, err)
	}
}

// TestOusted: the ousting part of the fork rule on hand-made forks: a
// removal deep in a sibling's subtree, and a record of the child's signer
// below a sibling, make the child lose whatever its rank.
func TestOusted(t *testing.T) {
	w := newWorld(t, "alice", "bob")
	st, _ := NewState(w.create("alice", "bob"), Options{})
	mk := func(kind Kind, signer, target string, h byte, kids ...*node) *node {
		n := &node{rec: &Record{Kind: kind, Signer: signer, Target: target, hash: [32]byte{h}}, children: kids}
		return n
	}
	alice := mk(KindInfo, "alice", "", 1)
	deep := mk(KindInfo, "bob", "", 2, mk(KindInfo, "bob", "", 3, mk(KindRemove, "carol", "alice", 4)))
	p := &node{children: []*node{alice, deep}}
	var l Log
	if l.pick(p, st) != deep {
		t.Fatal("a child whose signer a sibling's subtree removes won")
	}
	deep.children[0].children[0].rec.Kind = KindInfo
	if l.pick(p, st) != alice {
		t.Fatal("rank did not decide")
	}
	deep.children[0].children[0].rec.Signer = "alice"
	if l.pick(p, st) != deep {
		t.Fatal("a child whose signer signed below a sibling won")
	}
}

// TestOustingReachesUp: a record that extends the head can change a fork
// above it. Bob's child of version 3 is ousted by erin's sibling, below
// which bob signed; carol's child wins. Alice then removes erin below
// carol's child: erin's child is ousted first (alice outranks bob), so it
// ousts nobody, and bob's child wins. In all 120 orders.
func TestOustingReachesUp(t *testing.T) {
	w := newWorld(t, "alice", "bob", "carol", "erin")
	genesis := w.create("alice", "bob", "carol")
	st1, _ := NewState(genesis, Options{})
	promote := w.next(st1, KindPromote, "alice", func(r *Record) { r.Target = "bob" })
	st2 := apply(t, st1, promote)
	addErin := w.next(st2, KindAdd, "alice", func(r *Record) { r.Members = w.members("erin") })
	st3 := apply(t, st2, addErin)
	info := func(title string) func(*Record) { return func(r *Record) { r.Info = &Info{Title: title} } }
	c := w.next(st3, KindInfo, "carol", info("carol's"))
	x := w.next(st3, KindInfo, "erin", info("erin's"))
	bx := w.next(apply(t, st3, x), KindInfo, "bob", info("bob below erin's"))
	y := w.next(st3, KindInfo, "bob", info("bob's"))
	n := w.next(apply(t, st3, c), KindRemove, "alice", func(r *Record) { r.Target = "erin" })
	base := [][]byte{genesis, promote, addErin}
	before := logOf(t, append(base, c, x, bx, y))
	if _, h := before.Head(); h != Hash(c) {
		t.Fatal("carol's child does not win before the removal")
	}
	recs := [][]byte{c, x, bx, y, n}
	permutations(len(recs), func(p []int) {
		l := logOf(t, base)
		for _, i := range p {
			if _, err := l.Add(recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if _, h := l.Head(); h != Hash(y) {
			t.Fatalf("order %v: bob's child does not win", p)
		}
	})
}
