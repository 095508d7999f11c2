// Package traffic drives one-to-one envelope traffic between paired bench
// devices (0↔1, 2↔3, ...) over their WebSockets, and measures the latency
// from a send to its SendResult ("send-ack") and to the partner's Deliver
// ("end-to-end"). Each envelope carries its send time (unix nanoseconds,
// big-endian) in its first 8 bytes; sender and receiver share one clock.
//
// With Reconnect, a device whose socket drops reconnects with backoff and
// resends what was in flight with the same ClientID, so a crash test can
// check that every acknowledged ClientID is delivered exactly once.
package traffic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/fleet"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/latency"
)

// Config is one traffic run.
type Config struct {
	Size      int     // envelope content bytes, at least 8
	Rate      float64 // total sends per second; 0: as fast as Window allows
	Window    int     // sends awaiting their SendResult, per connection
	Warmup    time.Duration
	Duration  time.Duration // the measured window, after Warmup
	Drain     time.Duration // at most this long after sending stops, for results and deliveries
	Reconnect bool
	Timeout   time.Duration // per write, and per reconnection attempt
	Acked     *IDLog        // ClientIDs with a successful SendResult; may be nil
	Delivered *IDLog        // ClientIDs of every Deliver, repeats included; may be nil
	Progress  io.Writer     // a line every Every; nil for none
	Every     time.Duration
}

// Errors not from the server's catalogue, counted with its codes.
const (
	errDisconnected = "disconnected"     // a socket dropped
	errReconnect    = "reconnect_failed" // one failed reconnection attempt
	errNoResult     = "no_result"        // a send still unanswered at the end
	errUnknownReq   = "unknown_request"  // a SendResult for no pending send
	errForeign      = "foreign_envelope" // a Deliver this run did not send
)

// Counts are envelope counts over a span of sends.
type Counts struct {
	Sent      uint64 `json:"sent"`
	Acked     uint64 `json:"acknowledged"` // SendResult without a code
	Delivered uint64 `json:"delivered"`    // distinct ClientIDs delivered
	Lost      uint64 `json:"lost"`         // acknowledged, never delivered
}

// Result is what a run measured. Window counts and latencies cover sends
// made in the measured window; Total counts cover warm-up and window.
type Result struct {
	Pairs          int                `json:"pairs"`
	Window         Counts             `json:"window"`
	Total          Counts             `json:"total"`
	DuplicateAcks  uint64             `json:"duplicate_acks"`       // SendResult with Duplicate set
	DuplicateDeliv uint64             `json:"duplicate_deliveries"` // a ClientID delivered again
	Throughput     float64            `json:"throughput"`           // deliveries per second in the window
	Reconnects     uint64             `json:"reconnects"`
	Errors         map[string]uint64  `json:"errors"`
	SendAck        *latency.Histogram `json:"-"`
	EndToEnd       *latency.Histogram `json:"-"`
}

// runner is the state one run shares between its peers.
type runner struct {
	cfg        Config
	ids        *idCodec
	winStart   time.Time
	winEnd     time.Time
	sendAck    *latency.Histogram
	endToEnd   *latency.Histogram
	okTotal    atomic.Uint64 // successful SendResults, all phases
	deliv      atomic.Uint64 // distinct deliveries, all phases
	winDeliv   atomic.Uint64 // distinct deliveries received in the window
	dupAcks    atomic.Uint64
	dupDeliv   atomic.Uint64
	reconnects atomic.Uint64
	sent       atomic.Uint64

	mu     sync.Mutex // guards errors
	errors map[string]uint64
}

func (r *runner) countError(code string) {
	r.mu.Lock()
	r.errors[code]++
	r.mu.Unlock()
}

func (r *runner) inWindow(t time.Time) bool {
	return !t.Before(r.winStart) && t.Before(r.winEnd)
}

// Run sends traffic between devs, which must be connected; it takes over
// their sockets and closes them. An odd last device is left alone.
func Run(ctx context.Context, cfg Config, devs []*fleet.Device) (*Result, error) {
	pairs := len(devs) / 2
	switch {
	case pairs == 0:
		return nil, errors.New("traffic needs at least 2 devices (-devices)")
	case cfg.Size < 8 || cfg.Size > api.MaxEnvelope:
		return nil, fmt.Errorf("-size must be 8 to %d bytes (the first 8 hold the send time)", api.MaxEnvelope)
	case cfg.Window < 1:
		return nil, errors.New("-window must be at least 1")
	case cfg.Rate < 0:
		return nil, errors.New("-rate must be 0 (unlimited) or positive")
	}
	start := time.Now()
	r := &runner{
		cfg: cfg, ids: newIDCodec(),
		winStart: start.Add(cfg.Warmup), winEnd: start.Add(cfg.Warmup + cfg.Duration),
		sendAck: latency.New(), endToEnd: latency.New(), errors: map[string]uint64{},
	}
	peers := make([]*peer, 2*pairs)
	for i := range peers {
		peers[i] = newPeer(r, devs[i])
	}
	for i, p := range peers {
		p.partner = peers[i^1]
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	sendCtx, stopSend := context.WithDeadline(runCtx, r.winEnd)
	defer stopSend()
	var sessions, senders sync.WaitGroup
	for _, p := range peers {
		sessions.Go(func() { p.supervise(runCtx) })
	}
	for _, p := range peers {
		senders.Go(func() { p.sendLoop(runCtx, sendCtx.Done(), start, len(peers)) })
	}
	stopProgress := r.progress(start)
	senders.Wait()
	r.drain(ctx, peers)
	stopRun()
	sessions.Wait()
	stopProgress()
	return r.result(peers), ctx.Err()
}

// drain waits, at most cfg.Drain, until every send has its result and
// every acknowledged envelope has been delivered.
func (r *runner) drain(ctx context.Context, peers []*peer) {
	deadline := time.NewTimer(r.cfg.Drain)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := 0
		for _, p := range peers {
			pending += p.pending()
		}
		if pending == 0 && r.deliv.Load() >= r.okTotal.Load() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// progress prints a line every cfg.Every until the returned func is called.
func (r *runner) progress(start time.Time) (stop func()) {
	if r.cfg.Progress == nil || r.cfg.Every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.cfg.Every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				r.mu.Lock()
				nerr := 0
				for _, n := range r.errors {
					nerr += int(n)
				}
				r.mu.Unlock()
				fmt.Fprintf(r.cfg.Progress, "parley-bench: t=%s sent %d, acknowledged %d, delivered %d, errors %d\n",
					now.Sub(start).Round(time.Second), r.sent.Load(), r.okTotal.Load(), r.deliv.Load(), nerr)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// result tallies the run once every goroutine has stopped.
func (r *runner) result(peers []*peer) *Result {
	res := &Result{
		Pairs: len(peers) / 2, DuplicateAcks: r.dupAcks.Load(), DuplicateDeliv: r.dupDeliv.Load(),
		Throughput: float64(r.winDeliv.Load()) / r.cfg.Duration.Seconds(),
		Reconnects: r.reconnects.Load(), Errors: maps.Clone(r.errors),
		SendAck: r.sendAck, EndToEnd: r.endToEnd,
	}
	for _, p := range peers {
		if n := p.pending(); n > 0 {
			res.Errors[errNoResult] += uint64(n)
		}
		sent := p.sent.Load()
		delivered := p.partner.delivered // the partner records what p sent
		add := func(c *Counts, lo, hi uint64) {
			c.Sent += hi - lo
			c.Acked += p.acked.count(lo, hi, nil)
			c.Delivered += delivered.count(lo, hi, nil)
			c.Lost += p.acked.count(lo, hi, delivered)
		}
		add(&res.Total, 0, sent)
		add(&res.Window, min(p.winFirst, sent), sent)
	}
	return res
}
