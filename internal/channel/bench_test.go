package channel

import (
	"testing"
)

// benchChain is a channel of n posts after its profile and an add_admin,
// every other post signed by the admin (XEdDSA), the others by the owner
// key (Ed25519).
func benchChain(b *testing.B, n int) [][]byte {
	owner := newKey(b, 1)
	bob := newIdentity(b, 2)
	c := newChain(b, owner)
	c.add(nil, &Record{Kind: KindAddAdmin, Admin: ptr(bob.Public()), AdminName: "bob"})
	for i := range n {
		r := &Record{Kind: KindPost, Time: int64(i), Text: "a post of a few words"}
		if i%2 == 0 {
			c.add(&bob, r)
		} else {
			c.add(nil, r)
		}
	}
	return c.recs
}

// BenchmarkApply verifies a 10,000-record chain from its owner key, as a
// follower's first catch-up or a CLI command's rebuild of the chain does
// (docs/BENCHMARKS.md, "Channel chain").
func BenchmarkApply(b *testing.B) {
	recs := benchChain(b, 10_000)
	genesis := pub(newKey(b, 1))
	b.ResetTimer()
	for b.Loop() {
		s, err := NewState(genesis)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			if _, err := s.Apply(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs))/1e3, "µs/record")
}

// BenchmarkFold folds the same verified chain into posts.
func BenchmarkFold(b *testing.B) {
	recs := benchChain(b, 10_000)
	s, _ := NewState(pub(newKey(b, 1)))
	var seq []Sequenced
	for i, r := range recs {
		rec, err := s.Apply(r)
		if err != nil {
			b.Fatal(err)
		}
		seq = append(seq, Sequenced{Seq: uint64(i + 1), Record: rec})
	}
	b.ResetTimer()
	for b.Loop() {
		if posts := Fold(seq); len(posts) != 10_000 {
			b.Fatalf("%d posts", len(posts))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs))/1e3, "µs/record")
}
