package server_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

// BenchmarkSenderFlood measures what one account flooding another's
// device queue achieves with the default limits (spec/api.md §6.4, §2.3):
// floodWorkers concurrent sends of one envelope each to the same device,
// until the flooder has had floodRefusals refusals, or has stored
// floodMaxEnvelopes envelopes or floodMaxBytes bytes, or floodMaxTime
// has passed. A second account then sends secondSends envelopes to the
// same device. It reports what the flooder stored, when its refusals
// started, and how many of the second sender's envelopes were stored;
// the refusals' codes are logged. Each run starts a new server, so run it
// once: -benchtime 1x. cpu-µs/stored is the process's CPU, server and
// clients together, per envelope the flooder stored. The file uses only
// API that older builds have too, so that they can be measured with it.
func BenchmarkSenderFlood(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			for range b.N {
				benchFlood(b, size)
			}
		})
	}
}

const (
	floodWorkers      = 16
	floodRefusals     = 200
	floodMaxEnvelopes = 60_000
	floodMaxBytes     = 256 << 20
	floodMaxTime      = 3 * time.Minute
	secondSends       = 100
)

// floodOutcome counts one sender's sends by outcome.
type floodOutcome struct {
	mu      sync.Mutex
	stored  int
	bytes   int64
	refused map[string]int // by error code
	first   time.Duration  // since the start, to the first refusal
}

func (o *floodOutcome) add(err error, size int, since time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		o.stored++
		o.bytes += int64(size)
		return
	}
	code := "error: " + err.Error()
	var ae *api.Error
	if errors.As(err, &ae) {
		code = string(ae.Code)
	}
	if o.refusals() == 0 {
		o.first = since
	}
	o.refused[code]++
}

// refusals counts the refused sends; o.mu is held.
func (o *floodOutcome) refusals() int {
	n := 0
	for _, c := range o.refused {
		n += c
	}
	return n
}

// codes lists the refusals as "code×n", sorted.
func (o *floodOutcome) codes() string {
	var s []string
	for c, n := range o.refused {
		s = append(s, fmt.Sprintf("%s×%d", c, n))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func benchFlood(b *testing.B, size int) {
	b.StopTimer()
	srv := parleytest.Start(b, server.Config{})
	ctx := context.Background()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: floodWorkers}}
	account := func(name string) *transport.Client {
		req, _, err := parleytest.Registration(name, 0)
		if err != nil {
			b.Fatal(err)
		}
		base := transport.New(srv.URL, hc)
		creds, err := base.Register(ctx, req)
		if err != nil {
			b.Fatalf("register %s: %v", name, err)
		}
		return base.As(creds)
	}
	flooder, second := account("mallory"), account("alice")
	account("bob")
	content := make([]byte, size)
	send := func(c *transport.Client) error {
		req := api.SendRequest{ClientID: make([]byte, api.ClientIDSize),
			Envelopes: []api.OutgoingEnvelope{{DeviceID: 1, Type: 1, Content: content}}}
		rand.Read(req.ClientID)
		_, err := c.Send(ctx, "bob", req)
		return err
	}

	flood := &floodOutcome{refused: map[string]int{}}
	var stop atomic.Bool
	var wg sync.WaitGroup
	cpu0 := floodCPU(b)
	start := time.Now()
	b.StartTimer()
	for range floodWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				err := send(flooder)
				flood.add(err, size, time.Since(start))
				flood.mu.Lock()
				done := flood.refusals() >= floodRefusals || flood.stored >= floodMaxEnvelopes ||
					flood.bytes >= floodMaxBytes || time.Since(start) > floodMaxTime
				flood.mu.Unlock()
				if done {
					stop.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	took := time.Since(start)
	cpu := floodCPU(b) - cpu0

	other := &floodOutcome{refused: map[string]int{}}
	for range secondSends {
		other.add(send(second), size, 0)
	}

	toRefusal := flood.first
	if len(flood.refused) == 0 {
		toRefusal = took
	}
	b.ReportMetric(float64(flood.stored), "flood-stored")
	b.ReportMetric(float64(flood.bytes)/(1<<20), "flood-MiB")
	b.ReportMetric(toRefusal.Seconds(), "s-to-refusal")
	b.ReportMetric(float64(other.stored), "second-stored")
	b.ReportMetric(floodQueued(b, srv), "queued")
	if flood.stored > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(flood.stored), "cpu-µs/stored")
	}
	b.Logf("flood: %d stored (%.1f MiB) in %.1fs, refusals from %.2fs: %s; second sender: %d of %d stored, refusals: %s",
		flood.stored, float64(flood.bytes)/(1<<20), took.Seconds(), toRefusal.Seconds(), flood.codes(),
		other.stored, secondSends, other.codes())
}

// floodCPU is the CPU time, user and system, the process has used.
func floodCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// floodQueued reads parley_queued_envelopes, what the store holds.
func floodQueued(b *testing.B, srv *parleytest.Server) float64 {
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "parley_queued_envelopes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatal("parley_queued_envelopes missing")
	return 0
}
