package group

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Log holds every record of a group a member has accepted, as a tree from
// the create record (two admins may sign children of one version at
// once), and the canonical chain the fork rule picks through it
// (spec/protocol.md §11.5). Every member that holds the same records has
// the same canonical chain and State, whatever order they came in.
//
// A Log is safe for concurrent use.
type Log struct {
	opts Options

	mu    sync.Mutex
	id    ID
	root  *node
	nodes map[[HashSize]byte]*node // every accepted record
	// pending holds records whose parent the Log lacks, by hash, and
	// waiting their hashes by the parent they name.
	pending map[[HashSize]byte]*Record
	waiting map[[HashSize]byte][][HashSize]byte
	chain   []*node // the canonical chain: chain[i] is at version i+1
	// head is the State at the end of chain. headShared is set once State
	// has handed it out; it is then copied before it moves on.
	head       *State
	headShared bool
	// checkpoints are States of records (the root's always), so that
	// the state at a record is rebuilt by replaying a few records.
	checkpoints map[*node]*State
	// forks are the records with more than one child.
	forks map[*node]bool
	// recent is the state at the record accepted last off the head, so
	// that a branch that grows record by record costs no replay.
	recent struct {
		node  *node
		state *State
	}
}

// node is one accepted record in the tree.
type node struct {
	rec       *Record
	parent    *node
	children  []*node
	canonical bool
}

const (
	// checkpointEvery is how often, in versions, the canonical chain
	// keeps a State; checkpointSpan how far behind the head it keeps them.
	checkpointEvery = 64
	checkpointSpan  = 4096
)

// AddResult says what Add did with a record.
type AddResult struct {
	Record      *Record // the record, parsed (a copy the caller may keep)
	Canonical   bool    // the record is on the canonical chain now
	HeadChanged bool    // the canonical head moved (on, or to another branch)
	Pending     bool    // its parent is unknown: kept until the parent arrives
	Duplicate   bool    // the Log already held the record; nothing changed
}

// NewLog starts a Log at a group's create record, which it verifies
// (NewState).
func NewLog(genesis []byte, o Options) (*Log, error) {
	r, err := Parse(genesis)
	if err != nil {
		return nil, err
	}
	st, err := genesisState(r, o)
	if err != nil {
		return nil, err
	}
	root := &node{rec: r, canonical: true}
	return &Log{
		opts: o, id: r.Group, root: root,
		nodes:       map[[HashSize]byte]*node{r.hash: root},
		pending:     map[[HashSize]byte]*Record{},
		waiting:     map[[HashSize]byte][][HashSize]byte{},
		chain:       []*node{root},
		head:        st,
		checkpoints: map[*node]*State{root: st.clone()},
		forks:       map[*node]bool{},
	}, nil
}

// Add verifies an encoded record against the state of its parent and
// keeps it, moving the canonical chain if the fork rule says so. A record
// whose parent the Log lacks is kept as pending (at most MaxPending) and
// added when its parent is. A record the Log holds is a Duplicate, no
// error. An invalid record is an error (ErrMalformed, ErrSignature,
// ErrNotAllowed, ErrStale, ErrUnknownParent, ErrLimit) and changes nothing.
func (l *Log) Add(b []byte) (AddResult, error) {
	r, err := Parse(b)
	if err != nil {
		return AddResult{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Group != l.id {
		return AddResult{}, fmt.Errorf("%w: record of another group", ErrMalformed)
	}
	if n, ok := l.nodes[r.hash]; ok {
		return AddResult{Record: n.rec.clone(), Canonical: n.canonical, Duplicate: true}, nil
	}
	if _, ok := l.pending[r.hash]; ok {
		return AddResult{Record: r, Pending: true, Duplicate: true}, nil
	}
	if r.Kind == KindCreate {
		return AddResult{}, fmt.Errorf("%w: the group has another create record", ErrNotAllowed)
	}
	parent, ok := l.nodes[r.Prev]
	if !ok {
		if len(l.pending) >= MaxPending {
			return AddResult{}, fmt.Errorf("%w: %d records wait for their parent", ErrLimit, len(l.pending))
		}
		l.pending[r.hash] = r
		l.waiting[r.Prev] = append(l.waiting[r.Prev], r.hash)
		return AddResult{Record: r.clone(), Pending: true}, nil
	}
	n, moved, err := l.insert(parent, r)
	if err != nil {
		return AddResult{}, err
	}
	if l.drain(n) {
		moved = true
	}
	return AddResult{Record: r.clone(), Canonical: n.canonical, HeadChanged: moved}, nil
}

// insert verifies r as a child of parent and adds it to the tree,
// reporting whether the canonical head moved.
func (l *Log) insert(parent *node, r *Record) (*node, bool, error) {
	atHead := parent == l.headNode()
	st := l.head
	if !atHead {
		st = l.stateAt(parent)
	}
	if err := st.allowed(r); err != nil {
		return nil, false, err
	}
	if err := st.verifySignature(r); err != nil {
		return nil, false, err
	}
	if len(l.nodes) >= l.opts.maxRecords() {
		return nil, false, fmt.Errorf("%w: the log holds %d records", ErrLimit, len(l.nodes))
	}
	if len(parent.children) >= MaxChildren {
		return nil, false, fmt.Errorf("%w: version %d has %d children", ErrLimit, parent.rec.Version, MaxChildren)
	}
	n := &node{rec: r, parent: parent}
	parent.children = append(parent.children, n)
	l.nodes[r.hash] = n
	if len(parent.children) == 2 {
		l.forks[parent] = true
	}
	if atHead {
		l.advance(n)
		l.recheck(n, n.rec.Version)
		return n, true, nil
	}
	st.apply(r)
	l.recent.node, l.recent.state = n, st
	// n is off the canonical chain, below its last record on it, p. The
	// forks above p hold n in their canonical child's subtree, and it may
	// oust a sibling there (recheck); the fork at p may go another way.
	p := parent
	for !p.canonical {
		p = p.parent
	}
	if l.recheck(n, p.rec.Version) {
		return n, true, nil
	}
	stp := l.stateAt(p)
	if l.pick(p, stp) == l.chain[p.rec.Version] {
		return n, false, nil
	}
	l.rebuild(p, stp)
	return n, true, nil
}

// recheck applies the fork rule again at the canonical forks before
// version below, root first, after n joined the subtree of their
// canonical child, and rebuilds the chain from the first whose winner
// changes. n can change a fork's winner only by ousting a sibling of the
// canonical child: if it removes or demotes, or if its signer signed a
// sibling; only those forks are looked at.
func (l *Log) recheck(n *node, below uint64) bool {
	var forks []*node
	for f := range l.forks {
		if f.canonical && f.rec.Version < below && l.touches(f, n) {
			forks = append(forks, f)
		}
	}
	slices.SortFunc(forks, func(a, b *node) int { return cmp.Compare(a.rec.Version, b.rec.Version) })
	for _, f := range forks {
		st := l.stateAt(f)
		if l.pick(f, st) != l.chain[f.rec.Version] {
			l.rebuild(f, st)
			return true
		}
	}
	return false
}

// touches reports whether n, in the subtree of f's canonical child, may
// oust another child of f.
func (l *Log) touches(f, n *node) bool {
	if n.rec.Kind == KindRemove || n.rec.Kind == KindDemote {
		return true
	}
	for _, c := range f.children {
		if !c.canonical && c.rec.Signer == n.rec.Signer {
			return true
		}
	}
	return false
}

// headNode is the canonical chain's last record.
func (l *Log) headNode() *node { return l.chain[len(l.chain)-1] }

// advance moves the head on to n, its only child.
func (l *Log) advance(n *node) {
	if l.headShared {
		l.head, l.headShared = l.head.clone(), false
	}
	l.head.apply(n.rec)
	n.canonical = true
	l.chain = append(l.chain, n)
	l.checkpoint(n, l.head)
}

// rebuild follows the fork rule from p, whose state is st (which it takes
// over), to a leaf: the canonical chain after p.
func (l *Log) rebuild(p *node, st *State) {
	for _, n := range l.chain[p.rec.Version:] {
		n.canonical = false
	}
	l.chain = l.chain[:p.rec.Version]
	for c := l.pick(p, st); c != nil; c = l.pick(c, st) {
		st.apply(c.rec)
		c.canonical = true
		l.chain = append(l.chain, c)
		l.checkpoint(c, st)
	}
	l.head, l.headShared = st, false
}

// checkpoint keeps a copy of st, the state at canonical record n, every
// checkpointEvery versions, and drops checkpoints far behind it.
func (l *Log) checkpoint(n *node, st *State) {
	v := n.rec.Version
	if v%checkpointEvery != 0 {
		return
	}
	l.checkpoints[n] = st.clone()
	for m := range l.checkpoints {
		if m != l.root && m.rec.Version+checkpointSpan < v {
			delete(l.checkpoints, m)
		}
	}
}

// stateAt returns a new State at n, replayed from the nearest state kept.
func (l *Log) stateAt(n *node) *State {
	var path []*node
	var base *State
	for m := n; base == nil; m = m.parent {
		switch {
		case m == l.headNode():
			base = l.head
		case m == l.recent.node:
			base = l.recent.state
		case l.checkpoints[m] != nil:
			base = l.checkpoints[m]
		default:
			path = append(path, m)
		}
	}
	st := base.clone()
	for i := len(path) - 1; i >= 0; i-- {
		st.apply(path[i].rec)
	}
	return st
}

// pick is the fork rule (spec/protocol.md §11.5) at p, whose state is
// st: the canonical child of p, nil if p has none. Every child is valid in
// st.
//
// Rule 1: a child X is ousted by a sibling D whose subtree (D and its
// descendants) removes or demotes X's signer, or holds a record X's
// signer signed below D (the signer had seen D: X is a late fork). Two
// children may oust each other (a removed admin's backdated branch that
// removes whoever signed the sibling); the ousting whose signer ranks
// highest in st is applied first, and an ousted child ousts nobody.
// Rule 2: of the children left, the one whose signer ranks highest in st
// wins; rule 3: between two of one signer, the one whose subtree has more
// distinct signers, then the lower hash.
func (l *Log) pick(p *node, st *State) *node {
	switch len(p.children) {
	case 0:
		return nil
	case 1:
		return p.children[0]
	}
	kids := p.children
	sums := make([]summary, len(kids))
	for i, c := range kids {
		sums[i] = summarize(c)
	}
	type ousting struct {
		from, to int
		by       string
	}
	var events []ousting
	for i := range kids {
		for j, x := range kids {
			if i == j {
				continue
			}
			by, ok := "", false
			for _, o := range sums[i].ousters[x.rec.Signer] {
				if !ok || rankCmp(st, o, by) < 0 {
					by, ok = o, true
				}
			}
			if sums[i].below[x.rec.Signer] && (!ok || rankCmp(st, x.rec.Signer, by) < 0) {
				by, ok = x.rec.Signer, true
			}
			if ok {
				events = append(events, ousting{from: i, to: j, by: by})
			}
		}
	}
	slices.SortFunc(events, func(a, b ousting) int {
		if c := rankCmp(st, a.by, b.by); c != 0 {
			return c
		}
		if c := bytes.Compare(kids[a.from].rec.hash[:], kids[b.from].rec.hash[:]); c != 0 {
			return c
		}
		return bytes.Compare(kids[a.to].rec.hash[:], kids[b.to].rec.hash[:])
	})
	out := make([]bool, len(kids))
	for _, e := range events {
		if !out[e.from] && !out[e.to] {
			out[e.to] = true
		}
	}
	// The child that ousted last is never ousted, so one is left.
	best := -1
	for i, c := range kids {
		if !out[i] && (best < 0 || forkCmp(st, c, kids[best], sums[i], sums[best]) < 0) {
			best = i
		}
	}
	return kids[best]
}

// summary is what the fork rule needs of a child's subtree.
type summary struct {
	below   map[string]bool     // signers of the child's descendants
	ousters map[string][]string // member removed or demoted in the subtree -> who signed it
	signed  int                 // distinct signers in the subtree, the child's included
}

func summarize(c *node) summary {
	s := summary{below: map[string]bool{}, ousters: map[string][]string{}}
	all := map[string]bool{c.rec.Signer: true}
	var walk func(*node)
	walk = func(m *node) {
		if m.rec.Kind == KindRemove || m.rec.Kind == KindDemote {
			s.ousters[m.rec.Target] = append(s.ousters[m.rec.Target], m.rec.Signer)
		}
		for _, d := range m.children {
			s.below[d.rec.Signer], all[d.rec.Signer] = true, true
			walk(d)
		}
	}
	walk(c)
	s.signed = len(all)
	return s
}

// rankCmp orders usernames by rank in st: members first, by rank; then
// others by username.
func rankCmp(st *State, a, b string) int {
	ma, oka := st.members[a]
	mb, okb := st.members[b]
	switch {
	case a == b:
		return 0
	case oka != okb:
		if oka {
			return -1
		}
		return 1
	case oka:
		if outranks(ma, mb) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// forkCmp orders two children a and b of a state st: a member's record
// before a joiner's, a higher-ranking signer's first; for one signer (or
// two joiners) the subtree with more distinct signers, then the lower hash.
func forkCmp(st *State, a, b *node, sa, sb summary) int {
	ma, oka := st.members[a.rec.Signer]
	mb, okb := st.members[b.rec.Signer]
	switch {
	case oka != okb:
		if oka {
			return -1
		}
		return 1
	case oka && a.rec.Signer != b.rec.Signer:
		if outranks(ma, mb) {
			return -1
		}
		return 1
	case sa.signed != sb.signed:
		return cmp.Compare(sb.signed, sa.signed)
	}
	return bytes.Compare(a.rec.hash[:], b.rec.hash[:])
}

// drain adds the pending records that wait for n, and for those, and
// reports whether the head moved. A pending record that turns out
// invalid is dropped.
func (l *Log) drain(n *node) bool {
	moved := false
	queue := []*node{n}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		hashes := l.waiting[p.rec.hash]
		delete(l.waiting, p.rec.hash)
		for _, h := range hashes {
			r := l.pending[h]
			delete(l.pending, h)
			if c, m, err := l.insert(p, r); err == nil {
				moved = moved || m
				queue = append(queue, c)
			}
		}
	}
	return moved
}

// State returns the state at the canonical head. The Log never changes
// a State it has returned.
func (l *Log) State() *State {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.headShared = true
	return l.head
}

// Head returns the canonical head's version and hash.
func (l *Log) Head() (version uint64, hash [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head.version, l.head.head
}

// Chain returns the canonical chain's records, the create record first:
// what a new member or a newly linked device is given.
func (l *Log) Chain() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([][]byte, len(l.chain))
	for i, n := range l.chain {
		out[i] = n.rec.Encoded()
	}
	return out
}

// All returns every record the Log holds, for persistence: the accepted
// ones, parents before children (by version, then hash), then the
// pending ones. Adding them in this order to a NewLog of the first gives
// the same Log.
func (l *Log) All() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs := make([]*Record, 0, len(l.nodes))
	for _, n := range l.nodes {
		recs = append(recs, n.rec)
	}
	sortRecords(recs)
	pend := make([]*Record, 0, len(l.pending))
	for _, r := range l.pending {
		pend = append(pend, r)
	}
	sortRecords(pend)
	out := make([][]byte, 0, len(recs)+len(pend))
	for _, r := range append(recs, pend...) {
		out = append(out, r.Encoded())
	}
	return out
}

// Dropped returns the signer's accepted records that are not on the
// canonical chain (they lost a fork, or continue a branch that did), by
// version: the changes the signer's client may sign again on the head
// (State.Rebase) if they are still allowed. A dropped record stays in the
// Log (and in Dropped) after it is re-based: the client remembers which it
// has re-based, by hash.
func (l *Log) Dropped(signer string) []*Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Record
	for _, n := range l.nodes {
		if !n.canonical && n.rec.Signer == signer {
			out = append(out, n.rec.clone())
		}
	}
	sortRecords(out)
	return out
}

// Changes returns the canonical records after version from, in order:
// what to show as system lines since the client last looked.
func (l *Log) Changes(from uint64) []*Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from >= uint64(len(l.chain)) {
		return nil
	}
	out := make([]*Record, 0, uint64(len(l.chain))-from)
	for _, n := range l.chain[from:] {
		out = append(out, n.rec.clone())
	}
	return out
}

// Len returns the number of records the Log holds, accepted and pending.
func (l *Log) Len() (accepted, pending int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.nodes), len(l.pending)
}

func sortRecords(rs []*Record) {
	slices.SortFunc(rs, func(a, b *Record) int {
		if c := cmp.Compare(a.Version, b.Version); c != 0 {
			return c
		}
		return bytes.Compare(a.hash[:], b.hash[:])
	})
}
