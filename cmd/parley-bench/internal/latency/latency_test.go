package latency

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestIndexRoundTrip(t *testing.T) {
	// Every value lies in its own bucket's range, and buckets are ordered.
	vals := []uint64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64, math.MaxUint64}
	for _, v := range vals {
		i := index(v)
		if i < 0 || i >= buckets {
			t.Fatalf("index(%d) = %d, out of range", v, i)
		}
		if hi := highest(i); hi < v {
			t.Errorf("highest(index(%d)) = %d, below the value", v, hi)
		}
		if i > 0 && highest(i-1) >= v {
			t.Errorf("value %d also fits bucket %d", v, i-1)
		}
	}
}

func TestQuantileAgainstSort(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform 0-100us", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(100_000)) }},
		{"exponential mean 2ms", func(r *rand.Rand) time.Duration { return time.Duration(r.ExpFloat64() * 2e6) }},
		{"small exact", func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(128)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			h := New()
			var all []time.Duration
			for range 100_000 {
				d := tt.gen(r)
				all = append(all, d)
				h.Record(d)
			}
			slices.Sort(all)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				want := all[int(math.Ceil(q*float64(len(all))))-1]
				got := h.Quantile(q)
				if got < want || float64(got-want) > float64(want)/subCount+1 {
					t.Errorf("q=%v: got %v, want %v within 1/%d", q, got, want, subCount)
				}
			}
			if h.Max() != all[len(all)-1] {
				t.Errorf("max = %v, want %v", h.Max(), all[len(all)-1])
			}
			if h.Count() != uint64(len(all)) {
				t.Errorf("count = %d, want %d", h.Count(), len(all))
			}
		})
	}
}

func TestEmptyAndNegative(t *testing.T) {
	h := New()
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("an empty histogram must report zeros")
	}
	h.Record(-time.Second)
	if h.Quantile(1) != 0 || h.Count() != 1 {
		t.Fatalf("a negative duration must count as zero; got %v", h.Quantile(1))
	}
}

func TestConcurrentRecord(t *testing.T) {
	h := New()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(time.Duration(g*1000 + i))
			}
		})
	}
	wg.Wait()
	if h.Count() != 4000 || h.Max() != 3999 {
		t.Fatalf("count %d max %v, want 4000 and 3.999µs", h.Count(), h.Max())
	}
}
