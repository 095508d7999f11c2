// Package clientpath drives one-to-one conversations through the full
// client SDK (package client), as the parley CLI would: each message is
// encrypted, stored by the sender, sent, made durable by the server,
// delivered, decrypted and stored by the recipient, acknowledged to the
// server, and answered with a delivery receipt (itself an encrypted send
// that the sender decrypts and stores). Every account is a real client
// with its own sealed SQLite store in a temporary directory.
//
// Pairs of accounts (0→1, 2→3, ...) send in a closed loop: a sender has
// one message outstanding and sends the next once the recipient has
// stored it. Each text starts with its sequence number and send time, so
// the recipient measures the end-to-end latency and the run checks that
// every sent message arrived exactly once. The first message of each
// stream carries the PQXDH handshake; it is measured apart, before the
// measured window begins.
package clientpath

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/cmd/parley-bench/internal/latency"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/procstat"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/sdklog"
)

// Sizes of a message's text.
const (
	MinSize = 48       // the header "seq nanos " takes at most 42 bytes
	MaxSize = 64 << 10 // the SDK's limit on a text
)

// Config is one run.
type Config struct {
	Server   string // parleyd's base URL
	Prefix   string // usernames are Prefix followed by the account's index
	Pairs    int
	Duplex   bool          // both accounts of a pair send, each to the other
	Size     int           // bytes of text per message, MinSize to MaxSize
	Duration time.Duration // the measured window, which starts once every first message is in
	Drain    time.Duration // at most this long after sending stops, for delivery receipts
	Timeout  time.Duration // per account creation, per connection, and per message (send and delivery)
	Creators int           // accounts created at once; each runs Argon2id with 64 MiB
	// Dir is where the temporary directory of the stores is made; ""
	// means os.TempDir.
	Dir string
	// ServerPID, if not 0, is parleyd's pid, to report its CPU use.
	ServerPID int
	Progress  io.Writer // progress lines and the first error of each kind; nil for none
	Every     time.Duration
}

// Counts are messages over a span of sends, counted by (stream, sequence
// number).
type Counts struct {
	Sent       uint64 `json:"sent"`       // Send returned nil
	Failed     uint64 `json:"failed"`     // Send returned an error
	Delivered  uint64 `json:"delivered"`  // distinct messages the recipient stored
	Duplicates uint64 `json:"duplicates"` // messages stored (reported) more than once
	Lost       uint64 `json:"lost"`       // sent, never reported by the recipient
}

// Result is what a run measured.
type Result struct {
	Pairs          int     `json:"pairs"`
	Streams        int     `json:"streams"` // Pairs, or twice that with Duplex
	Size           int     `json:"size"`
	CreateSeconds  float64 `json:"create_seconds"`
	ConnectSeconds float64 `json:"connect_seconds"` // until every client had synced
	FirstSeconds   float64 `json:"first_seconds"`   // until every first message was in
	WindowSeconds  float64 `json:"window_seconds"`  // from the window's start until the last sender stopped
	First          Counts  `json:"first"`           // each stream's first message
	Steady         Counts  `json:"steady"`          // the others
	// Throughput is steady messages stored by their recipients within
	// the measured window, per second of it.
	Throughput float64 `json:"throughput"`
	// Receipts is how many messages senders saw delivery receipts for.
	Receipts           uint64            `json:"receipts"`
	DecryptionFailures uint64            `json:"decryption_failures"`
	Unexpected         uint64            `json:"unexpected_messages"` // messages this run did not send
	Errors             map[string]uint64 `json:"errors"`
	Warnings           map[string]uint64 `json:"sdk_warnings"` // the SDK's log messages at Warn and above
	// CPU use in the measured window, in cores: this process (clients)
	// and, with ServerPID, parleyd. Zero if /proc could not be read.
	BenchCPU  float64 `json:"bench_cpu_cores"`
	ServerCPU float64 `json:"server_cpu_cores,omitempty"`
	// Latencies. Send is the duration of Client.Send; EndToEnd runs from
	// the call to Send until the recipient reports the stored message.
	Send, EndToEnd           *latency.Histogram `json:"-"`
	FirstSend, FirstEndToEnd *latency.Histogram `json:"-"`
}

// Errors not from the server's catalogue, counted with its codes.
const (
	errTimeout     = "timeout"      // Send did not return within Timeout
	errNoDelivery  = "not_received" // the recipient did not report it within Timeout
	errSendFailed  = "send_failed"  // any other error from Send
	errNoSuchUser  = "no_such_user"
	errNotVerified = "identity_not_verified"
	errRunStopped  = "run_stopped" // a client's Run returned before the end
)

// runner is the state one run shares between its accounts and streams.
type runner struct {
	cfg     Config
	base    time.Time           // texts carry their send time as an offset from base
	hc      *http.Client        // shared by every client
	log     *slog.Logger        // every client's
	warn    *sdklog.WarnCounter // behind log
	started chan struct{}       // closed when the measured window starts
	// The window's end, as an offset from base; set before started is
	// closed. Steady messages are all sent after the window's start.
	winEnd atomic.Int64

	send, e2e, firstSend, firstE2E *latency.Histogram

	winDeliv    atomic.Uint64 // steady messages stored within the window
	stored      atomic.Uint64 // distinct messages stored, all phases
	receipts    atomic.Uint64
	decryptFail atomic.Uint64
	unexpected  atomic.Uint64

	mu     sync.Mutex // guards errors
	errors map[string]uint64
}

// Run creates 2×cfg.Pairs accounts, connects them, sends until
// cfg.Duration has passed, and removes the accounts' stores. The Result
// is nil only if setup failed.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	switch {
	case cfg.Pairs < 1:
		return nil, errors.New("clientpath: need at least one pair")
	case cfg.Size < MinSize || cfg.Size > MaxSize:
		return nil, fmt.Errorf("clientpath: the size must be %d to %d bytes", MinSize, MaxSize)
	case cfg.Duration <= 0 || cfg.Timeout <= 0 || cfg.Drain < 0:
		return nil, errors.New("clientpath: the duration and timeout must be positive, the drain not negative")
	}
	r := newRunner(cfg)
	defer r.hc.CloseIdleConnections()
	dir, err := os.MkdirTemp(cfg.Dir, "parley-bench-stores-")
	if err != nil {
		return nil, fmt.Errorf("clientpath: %w", err)
	}
	defer os.RemoveAll(dir)

	res := &Result{Pairs: cfg.Pairs, Size: cfg.Size}
	t0 := time.Now()
	accts, err := r.create(ctx, dir, 2*cfg.Pairs)
	defer closeAll(accts)
	if err != nil {
		return nil, err
	}
	res.CreateSeconds = time.Since(t0).Seconds()
	streams := r.pair(accts)
	res.Streams = len(streams)

	runCtx, stopRuns := context.WithCancel(ctx)
	var runs sync.WaitGroup
	defer func() { stopRuns(); runs.Wait() }() // before closeAll
	t0 = time.Now()
	if err := r.connect(ctx, runCtx, &runs, accts); err != nil {
		return nil, err
	}
	res.ConnectSeconds = time.Since(t0).Seconds()

	r.sendAll(ctx, streams, res)
	r.drain(ctx)
	stopRuns()
	runs.Wait()
	for _, a := range accts {
		if a.runErr != nil && !errors.Is(a.runErr, context.Canceled) {
			r.report(errRunStopped, fmt.Errorf("%s: %w", a.name, a.runErr))
		}
	}
	r.tally(streams, res)
	return res, ctx.Err()
}

func newRunner(cfg Config) *runner {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Every client keeps its own keep-alive connections, as separate
	// processes would; a send and a receipt may overlap.
	t.MaxIdleConnsPerHost = 4 * cfg.Pairs
	t.MaxIdleConns = t.MaxIdleConnsPerHost
	t.IdleConnTimeout = time.Minute
	w := sdklog.NewWarnCounter(cfg.Progress)
	return &runner{
		cfg: cfg, base: time.Now(), hc: &http.Client{Transport: t}, log: slog.New(w), warn: w,
		started: make(chan struct{}), errors: map[string]uint64{},
		send: latency.New(), e2e: latency.New(), firstSend: latency.New(), firstE2E: latency.New(),
	}
}

// sendAll sends every stream's first message, then starts the window and
// sends until it ends.
func (r *runner) sendAll(ctx context.Context, streams []*stream, res *Result) {
	t0 := time.Now()
	var firsts, senders sync.WaitGroup
	for i := 0; i < len(streams); {
		// With Duplex, a pair's streams are adjacent. The reverse stream
		// sends its first message once the forward one is in, so that
		// only one side starts a session.
		group := streams[i : i+1]
		if r.cfg.Duplex {
			group = streams[i : i+2]
		}
		i += len(group)
		firsts.Add(1)
		senders.Go(func() {
			for _, s := range group {
				s.sendOne(ctx)
			}
			firsts.Done()
			select {
			case <-r.started:
			case <-ctx.Done():
				return
			}
			var wg sync.WaitGroup
			for _, s := range group {
				wg.Go(func() { s.loop(ctx) })
			}
			wg.Wait()
		})
	}
	stop := r.progress("sending", func() string {
		return fmt.Sprintf("stored %d messages, %d receipts", r.stored.Load(), r.receipts.Load())
	})
	defer stop()
	firsts.Wait()
	res.FirstSeconds = time.Since(t0).Seconds()

	benchCPU, _ := procstat.CPU(os.Getpid())
	serverCPU := r.serverCPU()
	start := time.Now()
	r.winEnd.Store(int64(start.Add(r.cfg.Duration).Sub(r.base)))
	close(r.started)
	senders.Wait()
	elapsed := time.Since(start)
	res.WindowSeconds = elapsed.Seconds()
	if c, err := procstat.CPU(os.Getpid()); err == nil && benchCPU > 0 {
		res.BenchCPU = float64(c-benchCPU) / float64(elapsed)
	}
	if c := r.serverCPU(); c > 0 && serverCPU > 0 {
		res.ServerCPU = float64(c-serverCPU) / float64(elapsed)
	}
}

func (r *runner) serverCPU() time.Duration {
	if r.cfg.ServerPID == 0 {
		return 0
	}
	c, err := procstat.CPU(r.cfg.ServerPID)
	if err != nil {
		return 0
	}
	return c
}

// drain waits, at most cfg.Drain, until senders have seen a delivery
// receipt for every message stored.
func (r *runner) drain(ctx context.Context) {
	deadline := time.NewTimer(r.cfg.Drain)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for r.receipts.Load() < r.stored.Load() {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// tally fills in res once every goroutine has stopped.
func (r *runner) tally(streams []*stream, res *Result) {
	for _, s := range streams {
		s.count(&res.First, &res.Steady)
	}
	res.Throughput = float64(r.winDeliv.Load()) / r.cfg.Duration.Seconds()
	res.Receipts = r.receipts.Load()
	res.DecryptionFailures = r.decryptFail.Load()
	res.Unexpected = r.unexpected.Load()
	r.mu.Lock()
	res.Errors = maps.Clone(r.errors)
	r.mu.Unlock()
	res.Warnings = r.warn.Snapshot()
	res.Send, res.EndToEnd, res.FirstSend, res.FirstEndToEnd = r.send, r.e2e, r.firstSend, r.firstE2E
}

// report counts an error by kind and prints the first of each kind.
func (r *runner) report(kind string, err error) {
	r.mu.Lock()
	r.errors[kind]++
	first := r.errors[kind] == 1
	r.mu.Unlock()
	if first && r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "parley-bench: first %s error: %v\n", kind, err)
	}
}

// progress prints "parley-bench: <what> <status()>" every cfg.Every until
// the returned func is called.
func (r *runner) progress(what string, status func() string) (stop func()) {
	return sdklog.Tick(r.cfg.Progress, r.cfg.Every, what, status)
}
