package fanout

import (
	"bufio"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley/cmd/parley-bench/internal/latency"
)

// post is one published post: its Seq and its publish time (Unix
// nanoseconds, taken just before the POST).
type post struct {
	Seq uint64
	At  int64
}

// Stats are the deliveries the followers saw.
type Stats struct {
	Sockets     int    `json:"sockets"`      // open when the posts began
	Expected    uint64 `json:"expected"`     // Sockets × posts
	Received    uint64 `json:"received"`     // Channel frames of the posts, at most one per socket and post
	Duplicates  uint64 `json:"duplicates"`   // a post again on the same socket
	Unexpected  uint64 `json:"unexpected"`   // other frames, or Channel frames of no post of this run
	LostSockets int    `json:"lost_sockets"` // closed by the server during the run
	Incomplete  int    `json:"incomplete"`   // posts some socket never got
	// DeliveriesPerSecond is Received divided by FanOutSeconds, the sum
	// over posts of the time from publishing it to its last arrival.
	DeliveriesPerSecond float64 `json:"deliveries_per_second"`
	FanOutSeconds       float64 `json:"fan_out_seconds"`
	// TimeToLast is each post's time from publishing to its last arrival,
	// in milliseconds, in the order published; its percentiles are by
	// nearest rank over the posts.
	TimeToLast    []float64 `json:"time_to_last_ms"`
	TimeToLastP50 float64   `json:"time_to_last_p50_ms"`
	TimeToLastP99 float64   `json:"time_to_last_p99_ms"`
	TimeToLastMax float64   `json:"time_to_last_max_ms"`
	// Delivery is the time from publishing to each arrival.
	Delivery *latency.Histogram `json:"-"`
}

// summarise puts the followers' reports together.
func summarise(posts []post, reps []*report) Stats {
	s := Stats{Delivery: latency.New()}
	var fanOut time.Duration
	for _, r := range reps {
		s.Sockets += r.Sockets
		s.Duplicates += r.Duplicates
		s.Unexpected += r.Other
		s.LostSockets += r.Lost
	}
	s.Expected = uint64(s.Sockets) * uint64(len(posts))
	published := map[uint64]bool{}
	for _, p := range posts {
		published[p.Seq] = true
		n, last := 0, int64(math.MinInt64)
		for _, r := range reps {
			for _, at := range r.Received[p.Seq] {
				s.Delivery.Record(time.Duration(at - p.At))
				last = max(last, at)
				n++
			}
		}
		s.Received += uint64(n)
		if n < s.Sockets {
			s.Incomplete++
		}
		if n > 0 {
			fanOut += time.Duration(last - p.At)
			s.TimeToLast = append(s.TimeToLast, ms(time.Duration(last-p.At)))
		}
	}
	for _, r := range reps {
		for seq, ats := range r.Received {
			if !published[seq] {
				s.Unexpected += uint64(len(ats))
			}
		}
	}
	s.FanOutSeconds = fanOut.Seconds()
	if fanOut > 0 {
		s.DeliveriesPerSecond = float64(s.Received) / fanOut.Seconds()
	}
	sorted := slices.Sorted(slices.Values(s.TimeToLast))
	s.TimeToLastP50, s.TimeToLastP99 = nearestRank(sorted, 0.5), nearestRank(sorted, 0.99)
	if len(sorted) > 0 {
		s.TimeToLastMax = sorted[len(sorted)-1]
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// nearestRank is the q-quantile of sorted values: the smallest value at
// least a fraction q of them do not exceed. With 20 values, the p99 is
// the largest.
func nearestRank(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Metric names and labels the run reads from parleyd's /metrics.
const (
	metricChannelFrames = "parley_channel_frames_total"
	labelWritten        = `outcome="written"`
	labelDropped        = `outcome="dropped"`
)

// counters finds parley_channel_frames_total's written and dropped
// samples in a Prometheus text exposition. A counter not yet used is
// absent and counts as 0.
func counters(text string) (written, dropped float64, err error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metricChannelFrames+"{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		f := strings.Fields(value)
		if len(f) == 0 {
			return 0, 0, fmt.Errorf("fanout: /metrics: malformed line %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, 0, fmt.Errorf("fanout: /metrics: %q: %w", line, err)
		}
		switch labels {
		case labelWritten:
			written = v
		case labelDropped:
			dropped = v
		}
	}
	return written, dropped, sc.Err()
}
