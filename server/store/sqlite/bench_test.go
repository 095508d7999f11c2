package sqlite

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// benchDevices creates accounts with n devices in all, concurrently so that
// group commit makes it quick.
func benchDevices(b *testing.B, s *Store, n int) []store.Device {
	b.Helper()
	const perAccount = 4
	devs := make([]store.Device, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for acc := 0; acc*perAccount < n; acc++ {
		wg.Go(func() {
			ctx := context.Background()
			a, d, err := s.CreateAccount(ctx, store.Account{Username: fmt.Sprintf("user%d", acc)}, store.Device{Name: "1"}, nil, store.PreKeySet{})
			if err != nil {
				errs <- err
				return
			}
			devs[acc*perAccount] = d
			for i := 1; i < perAccount && acc*perAccount+i < n; i++ {
				d, err := s.AddDevice(ctx, store.Device{AccountID: a.ID, Name: "more"}, perAccount)
				if err != nil {
					errs <- err
					return
				}
				devs[acc*perAccount+i] = d
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return devs
}

// benchEnvelope is envelope n for to, with a random ClientID as real
// clients send (so the dedup index takes random inserts, not appends).
func benchEnvelope(to store.Device, n uint64, content []byte, now time.Time) store.Envelope {
	e := store.Envelope{
		DestAccount: to.AccountID, DestDevice: to.ID,
		SenderAccount: int64(n % 997), SenderName: "sender", SenderDevice: 1,
		Type: 1, Content: content, Created: now, Expires: now.Add(24 * time.Hour),
	}
	rand.Read(e.ClientID[:])
	return e
}

// BenchmarkEnqueue1KiB measures durable Enqueue throughput: concurrent
// callers, one 1 KiB envelope each per call, spread over 1000 devices, as a
// server fanning out messages calls it. Group commit makes throughput grow
// with the number of callers waiting together, up to maxBatch, so it runs
// with a moderate and a large number of them.
func BenchmarkEnqueue1KiB(b *testing.B) {
	for _, callers := range []int{128, 512} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) { benchEnqueue(b, callers) })
	}
}

func benchEnqueue(b *testing.B, callers int) {
	s := openFile(b, filepath.Join(b.TempDir(), "parley.db"))
	defer s.Close()
	devs := benchDevices(b, s, 1000)
	content := make([]byte, 1024)
	now := time.Now()
	var next atomic.Uint64
	batches := s.w.batches.Load()

	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
	b.SetBytes(int64(len(content)))
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			n := next.Add(1)
			e := []store.Envelope{benchEnvelope(devs[n%uint64(len(devs))], n, content, now)}
			if _, err := s.Enqueue(ctx, e, store.QueueLimits{MaxQueue: 1 << 30}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/envelope")
	if commits := s.w.batches.Load() - batches; commits > 0 {
		b.ReportMetric(float64(b.N)/float64(commits), "envelopes/commit")
	}
}

// BenchmarkPendingAck measures draining one device's queue the way a
// client connection does: fetch a page of 100, ack it, repeat. One op is
// one envelope delivered and acked.
func BenchmarkPendingAck(b *testing.B) {
	const page = 100
	s := openFile(b, filepath.Join(b.TempDir(), "parley.db"))
	defer s.Close()
	dev := benchDevices(b, s, 1)[0]
	content := make([]byte, 1024)
	now := time.Now()
	ctx := context.Background()
	for i := 0; i < b.N; i += page {
		envs := make([]store.Envelope, 0, page)
		for j := i; j < min(i+page, b.N); j++ {
			envs = append(envs, benchEnvelope(dev, uint64(j), content, now))
		}
		if _, err := s.Enqueue(ctx, envs, store.QueueLimits{MaxQueue: 1 << 30}); err != nil {
			b.Fatal(err)
		}
	}

	b.SetBytes(int64(len(content)))
	b.ResetTimer()
	after, done := uint64(0), 0
	for done < b.N {
		envs, err := s.Pending(ctx, dev.AccountID, dev.ID, after, page, now)
		if err != nil {
			b.Fatal(err)
		}
		if len(envs) == 0 {
			b.Fatalf("queue empty after %d of %d", done, b.N)
		}
		seqs := make([]uint64, len(envs))
		for i, e := range envs {
			seqs[i] = e.Seq
		}
		if err := s.Ack(ctx, dev.AccountID, dev.ID, seqs); err != nil {
			b.Fatal(err)
		}
		after = seqs[len(seqs)-1]
		done += len(envs)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
}

// cpuTime is the CPU time, user and system, the process has used so far.
// Per envelope it is a better guide than wall time on a machine shared
// with other work.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
