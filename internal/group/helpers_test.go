package group

import (
	"errors"
	"slices"
	"testing"

	"github.com/parley-chat/parley/internal/fuzztest"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/protocoltest"
)

// TestMain bounds how long the fuzzer minimises each new input
// (fuzztest.MinimizeBudget), so FuzzParse, FuzzLogAdd and FuzzOpenSnapshot
// spend a fuzzing run trying inputs.
func TestMain(m *testing.M) { fuzztest.Main(m) }

// user is an account: a username and its identity key.
type user struct {
	name string
	key  keys.PrivateKey
}

func (u user) member() Member { return Member{Username: u.name, Identity: u.key.Public()} }

// world holds the users of a test, each with a key from its own seed, and
// the randomness of their signatures.
type world struct {
	t     testing.TB
	users map[string]user
	seed  uint64
}

func newWorld(t testing.TB, names ...string) *world {
	w := &world{t: t, users: map[string]user{}, seed: 1000}
	for i, n := range names {
		k, err := keys.GeneratePrivateKey(protocoltest.Rand(uint64(i + 1)))
		if err != nil {
			t.Fatal(err)
		}
		w.users[n] = user{name: n, key: k}
	}
	return w
}

func (w *world) u(name string) user {
	u, ok := w.users[name]
	if !ok {
		w.t.Fatalf("no user %s", name)
	}
	return u
}

func (w *world) members(names ...string) []Member {
	var ms []Member
	for _, n := range names {
		ms = append(ms, w.u(n).member())
	}
	return ms
}

var testGroup = ID{0x47, 0x52, 0x50}

// create signs the create record of testGroup by creator, with the other
// members listed.
func (w *world) create(creator string, members ...string) []byte {
	w.t.Helper()
	r := &Record{Group: testGroup, Version: 1, Kind: KindCreate, Signer: creator, Time: 1,
		Members: w.members(members...), Info: &Info{Title: "Team", Description: "the team"},
		Settings: &Settings{}}
	return w.sign(creator, r)
}

// sign signs r as name, with fresh deterministic randomness.
func (w *world) sign(name string, r *Record) []byte {
	w.t.Helper()
	w.seed++
	b, err := r.Sign(w.u(name).key, protocoltest.Rand(w.seed))
	if err != nil {
		w.t.Fatalf("sign %s by %s: %v", r.Kind, name, err)
	}
	return b
}

// next signs a record of kind by name as the child of st, after fill
// sets its fields.
func (w *world) next(st *State, kind Kind, name string, fill func(*Record)) []byte {
	w.t.Helper()
	r := st.Next(kind, name)
	r.Time = int64(st.Version()) + 1
	if fill != nil {
		fill(r)
	}
	return w.sign(name, r)
}

// group is a Log and the world that signs its records.
type group struct {
	*world
	log *Log
}

func (w *world) newGroup(creator string, members ...string) *group {
	w.t.Helper()
	l, err := NewLog(w.create(creator, members...), Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	return &group{world: w, log: l}
}

// do signs a record on the head and adds it; it must become the head.
func (g *group) do(kind Kind, name string, fill func(*Record)) []byte {
	g.t.Helper()
	b := g.next(g.log.State(), kind, name, fill)
	res, err := g.log.Add(b)
	if err != nil {
		g.t.Fatalf("%s by %s: %v", kind, name, err)
	}
	if !res.Canonical || !res.HeadChanged {
		g.t.Fatalf("%s by %s: %+v", kind, name, res)
	}
	return b
}

// refuse signs a record on the head, checks that Add refuses it with
// want and that the Log is unchanged.
func (g *group) refuse(want error, kind Kind, name string, fill func(*Record)) {
	g.t.Helper()
	g.refuseBytes(want, g.next(g.log.State(), kind, name, fill))
}

func (g *group) refuseBytes(want error, b []byte) {
	g.t.Helper()
	refuseBytes(g.t, g.log, want, b)
}

func refuseBytes(t testing.TB, l *Log, want error, b []byte) {
	t.Helper()
	v, h := l.Head()
	all := l.All()
	st := l.State()
	res, err := l.Add(b)
	if !errors.Is(err, want) {
		t.Fatalf("Add: %+v, %v; want %v", res, err, want)
	}
	if v2, h2 := l.Head(); v2 != v || h2 != h {
		t.Fatal("a refused record moved the head")
	}
	if !slices.EqualFunc(all, l.All(), func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatal("a refused record changed the records")
	}
	if l.State() != st {
		t.Fatal("a refused record changed the state")
	}
}

func names(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Username)
	}
	return out
}
