package fanout

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/fleet"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/procstat"
)

// The lines a follower process writes on its stdout, each a word and its
// argument: "ready N" once its N sockets have read their queues; "all S"
// once every one of them has the Channel frame of Seq S; "result {JSON}"
// (a report) once its stdin is closed. Anything else there is an error.
const (
	lineReady  = "ready"
	lineAll    = "all"
	lineResult = "result"
)

// FollowerConfig is one follower process.
type FollowerConfig struct {
	Server  string // parleyd's base URL
	Workers int    // sockets opened at once
	Timeout time.Duration
}

// report is what a follower process saw, sent to the coordinator.
type report struct {
	Sockets int `json:"sockets"`
	// Received maps each Seq to the receive times (Unix nanoseconds) of
	// its Channel frames, one per socket that got it.
	Received   map[uint64][]int64 `json:"received"`
	Duplicates uint64             `json:"duplicates"` // a Seq again on the same socket
	Other      uint64             `json:"other"`      // frames that were not a channel post
	Lost       int                `json:"lost"`       // sockets that ended before the stop
	CPU        time.Duration      `json:"cpu_ns"`     // this process's, from ready to the stop
}

// receipt is one Channel frame a socket read.
type receipt struct {
	seq uint64
	at  int64
}

// Follow is a follower process: it reads its accounts' credentials (a JSON
// array) from in, opens a WebSocket for each, reads through their queues,
// and writes "ready". It then records the receive time of every Channel
// frame until in is closed, and writes its report to out.
func Follow(ctx context.Context, cfg FollowerConfig, in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(in)
	var creds []api.Credentials
	if err := dec.Decode(&creds); err != nil {
		return fmt.Errorf("fanout: reading the credentials: %w", err)
	}
	stopped := make(chan struct{})
	go func() { // the coordinator closes in to end the run
		io.Copy(io.Discard, io.MultiReader(dec.Buffered(), in))
		close(stopped)
	}()

	// Each socket is read from the moment it has read its queue, so it
	// answers the server's keepalive pings however long the others take.
	// The readers' context cannot be cancelled: a cancellable one costs
	// every read a context.AfterFunc, CPU this process would take from
	// the server's. Closing the sockets ends them instead.
	devs := make([]*fleet.Device, len(creds))
	c := transport.New(cfg.Server, nil)
	for i, cr := range creds {
		devs[i] = &fleet.Device{Index: i, Creds: cr, Client: c.As(cr)}
	}
	w := &lineWriter{w: bufio.NewWriter(out)}
	rec := &recorder{sockets: len(devs), counts: map[uint64]int{}, w: w}
	per := make([][]receipt, len(devs))
	var stopping atomic.Bool
	var lost atomic.Int64
	var wg sync.WaitGroup
	fc := fleet.Config{Devices: len(devs), Workers: cfg.Workers}
	stop := func() {
		stopping.Store(true)
		fleet.Close(fc, devs)
		wg.Wait()
	}
	defer stop()
	err := parallel(ctx, len(devs), cfg.Workers, func(ctx context.Context, i int) error {
		d := devs[i]
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		s, err := d.Client.Connect(cctx)
		if err != nil {
			return fmt.Errorf("fanout: connecting %s: %w (if this is \"too many open files\", raise ulimit -n)", d.Creds.Username, err)
		}
		if err := fleet.WaitQueueEmpty(cctx, s); err != nil {
			s.Close()
			return fmt.Errorf("fanout: connecting %s: %w", d.Creds.Username, err)
		}
		d.Sock = s
		wg.Go(func() {
			// read returns when the socket ends: lost, unless we stopped.
			per[i], _ = rec.read(context.Background(), s)
			if !stopping.Load() {
				lost.Add(1)
			}
		})
		return nil
	})
	if err != nil {
		return err
	}
	cpu0, _ := procstat.CPU(os.Getpid())
	w.line(lineReady, strconv.Itoa(len(devs)))

	select {
	case <-stopped:
	case <-ctx.Done():
	}
	cpu1, _ := procstat.CPU(os.Getpid())
	stop()

	rep := report{Sockets: len(devs), Received: map[uint64][]int64{}, Lost: int(lost.Load()), CPU: cpu1 - cpu0,
		Duplicates: rec.duplicates.Load(), Other: rec.other.Load()}
	for _, rs := range per {
		for _, r := range rs {
			rep.Received[r.seq] = append(rep.Received[r.seq], r.at)
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	w.line(lineResult, string(b))
	return w.err
}

// recorder counts, for each Seq, the sockets that have it.
type recorder struct {
	sockets           int
	duplicates, other atomic.Uint64

	mu     sync.Mutex // guards counts and w
	counts map[uint64]int
	w      *lineWriter
}

// read records the Channel frames of one socket until it ends, at most
// one per Seq.
func (r *recorder) read(ctx context.Context, s *transport.Socket) ([]receipt, error) {
	var got []receipt
	for {
		f, err := s.Recv(ctx)
		at := time.Now().UnixNano()
		if err != nil {
			return got, err
		}
		if f.Type != api.FrameChannel || f.Seq == 0 {
			r.other.Add(1)
			continue
		}
		if seen(got, f.Seq) {
			r.duplicates.Add(1)
			continue
		}
		got = append(got, receipt{f.Seq, at})
		r.mu.Lock()
		r.counts[f.Seq]++
		if r.counts[f.Seq] == r.sockets {
			r.w.line(lineAll, strconv.FormatUint(f.Seq, 10))
		}
		r.mu.Unlock()
	}
}

func seen(got []receipt, seq uint64) bool {
	for _, r := range got {
		if r.seq == seq {
			return true
		}
	}
	return false
}

// lineWriter writes whole lines and flushes each; the first error sticks.
type lineWriter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

func (l *lineWriter) line(word, arg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.w.WriteString(word + " " + arg + "\n")
	l.err = l.w.Flush()
}
