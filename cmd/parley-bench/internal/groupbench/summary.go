package groupbench

import (
	"math"
	"slices"
	"time"
)

// Spread summarises the times from one call to each member's arrival,
// in milliseconds; percentiles by nearest rank.
type Spread struct {
	Count int     `json:"count"` // members that got it
	Of    int     `json:"of"`    // members that should have
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func spread(ds []time.Duration, of int) Spread {
	slices.Sort(ds)
	s := Spread{Count: len(ds), Of: of}
	if len(ds) > 0 {
		s.P50, s.P99, s.Max = ms(nearestRank(ds, 0.5)), ms(nearestRank(ds, 0.99)), ms(ds[len(ds)-1])
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// nearestRank is the q-quantile of sorted durations: the smallest one
// at least a fraction q of them do not exceed.
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// summarise fills in the arrivals, counts and the estimate from the
// member processes' reports (nil entries, of processes that failed, are
// skipped) and the admin's own.
func (r *run) summarise(reps []*memberReport) {
	res := r.res
	res.Counts.add(r.pool.counts())
	var logs []memberLog
	for _, rep := range reps {
		if rep != nil {
			logs = append(logs, rep.Members...)
			res.Counts.add(rep.Counts)
		}
	}
	r.admin.mu.Lock()
	admin := memberLog{Name: r.admin.name, Arrived: r.admin.arrived}
	r.admin.mu.Unlock()

	sends := []*SendResult{&res.Cold}
	for i := range res.Warm {
		sends = append(sends, &res.Warm[i])
	}
	if res.ProbeSend != nil {
		sends = append(sends, res.ProbeSend)
	}
	for i := range res.FirstSends {
		sends = append(sends, &res.FirstSends[i])
	}
	for i := range res.Rotations {
		sends = append(sends, &res.Rotations[i])
	}
	for _, s := range sends {
		if s.Tag == "" {
			continue // not sent
		}
		var ds []time.Duration
		for _, l := range append(logs, admin) {
			if at, ok := l.Arrived[s.Tag]; ok && l.Name != s.Sender {
				ds = append(ds, time.Duration(at-s.Start))
			}
		}
		s.Stored = spread(ds, s.Recipients)
	}

	res.Create.Reached = reached(logs, res.Create.start, r.records-1, "", len(r.members))
	if res.Removed != "" {
		res.Remove.Reached = reached(logs, res.Remove.start, r.records, res.Removed, len(r.members)-1)
	}

	e := &res.Rotation
	e.Measured, e.Remaining = len(res.Rotations), r.cfg.Members-1
	var sum time.Duration
	for _, s := range res.Rotations {
		sum += s.Duration
		e.MaxSeconds = max(e.MaxSeconds, s.Duration.Seconds())
	}
	if e.Measured > 0 {
		e.MeanSeconds = sum.Seconds() / float64(e.Measured)
		e.SumSeconds = e.MeanSeconds * float64(e.Remaining)
		e.Envelopes = e.Remaining * (e.Remaining - 1)
	}
}

// reached is the spread of the times from start (a call of the admin's,
// Unix ns) to each member's group change number i (from 0: the
// creation), leaving out the member skip.
func reached(logs []memberLog, start int64, i int, skip string, of int) Spread {
	if start == 0 || i < 0 {
		return Spread{Of: of}
	}
	var ds []time.Duration
	for _, l := range logs {
		if l.Name != skip && i < len(l.Changes) {
			ds = append(ds, time.Duration(l.Changes[i]-start))
		}
	}
	return spread(ds, of)
}
