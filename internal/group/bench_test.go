package group

import (
	"fmt"
	"testing"
)

// BenchmarkAddThousandMembers parses, verifies and applies an add record
// of MaxRecordUsers members, the largest a record carries.
func BenchmarkAddThousandMembers(b *testing.B) {
	w := newWorld(b, "alice")
	st, err := NewState(w.create("alice"), Options{MaxMembers: 2 * MaxRecordUsers})
	if err != nil {
		b.Fatal(err)
	}
	add := w.next(st, KindAdd, "alice", func(r *Record) {
		for i := range MaxRecordUsers {
			r.Members = append(r.Members, Member{Username: fmt.Sprintf("user_%04d", i), Identity: [32]byte{byte(i)}})
		}
	})
	b.SetBytes(int64(len(add)))
	for b.Loop() {
		r, err := Parse(add)
		if err != nil {
			b.Fatal(err)
		}
		if next, err := st.Apply(r); err != nil || next.Len() != MaxRecordUsers+1 {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogFromChain builds a Log from a 1000-record canonical chain
// (an add of one member every fourth record, info changes between), as a
// client does from its stored records at start or a new member from a
// snapshot.
func BenchmarkLogFromChain(b *testing.B) {
	w := newWorld(b, "alice")
	g := w.newGroup("alice")
	for i := range 999 {
		if i%4 == 0 {
			g.do(KindAdd, "alice", func(r *Record) {
				r.Members = []Member{{Username: fmt.Sprintf("user_%04d", i), Identity: [32]byte{byte(i)}}}
			})
			continue
		}
		g.do(KindInfo, "alice", func(r *Record) { r.Info = &Info{Title: fmt.Sprintf("title %d", i)} })
	}
	chain := g.log.Chain()
	b.ResetTimer()
	for b.Loop() {
		l := logOf(b, chain)
		if v, _ := l.Head(); v != 1000 {
			b.Fatalf("head %d", v)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(chain))/1e3, "µs/record")
}
