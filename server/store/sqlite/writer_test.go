package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// openTest opens a store in t.TempDir(), closed in t.Cleanup.
func openTest(t *testing.T) *Store {
	t.Helper()
	s := openFile(t, filepath.Join(t.TempDir(), "parley.db"))
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPragmas(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	w := func(q string) (v string, err error) { return v, s.wconn.QueryRowContext(ctx, q).Scan(&v) }
	r := func(q string) (v string, err error) { return v, s.rdb.QueryRowContext(ctx, q).Scan(&v) }
	check := func(who string, row func(string) (string, error), pragma, want string) {
		t.Helper()
		if got, err := row("PRAGMA " + pragma); err != nil || got != want {
			t.Errorf("%s: PRAGMA %s = %q, %v; want %q", who, pragma, got, err, want)
		}
	}
	for who, row := range map[string]func(string) (string, error){"writer": w, "reader": r} {
		check(who, row, "journal_mode", "wal")
		check(who, row, "synchronous", "2") // FULL
		check(who, row, "foreign_keys", "1")
		check(who, row, "busy_timeout", "5000")
	}
	check("writer", w, "query_only", "0")
	check("reader", r, "query_only", "1")
}

// blockWriter holds the writer inside a batch until release is called (at
// the latest in t.Cleanup, before the store closes).
func blockWriter(t *testing.T, s *Store) (release func()) {
	started, unblock := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.w.do(context.Background(), 0, func(*wtx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(unblock)
			if err := <-errc; err != nil {
				t.Errorf("blocking request: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// waitQueued waits until n requests wait for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.w.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(s.w.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A caller whose ctx ends while its request waits returns at once, even
// with the writer stuck, and its request never runs.
func TestAbandonedRequestNeverRuns(t *testing.T) {
	s := openTest(t)
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	var ran atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- s.w.do(ctx, 0, func(*wtx) error { ran.Store(true); return nil })
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("do = %v, want context.Canceled", err)
	}
	release()
	if err := s.w.do(t.Context(), 0, func(*wtx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ran.Load() {
		t.Fatal("an abandoned request ran")
	}
}

// Requests that wait together commit in one transaction, and one that
// fails (here ErrQueueFull) fails alone.
func TestGroupCommit(t *testing.T) {
	const n = 50
	s := openTest(t)
	ctx := t.Context()
	a, full, err := s.CreateAccount(ctx, store.Account{Username: "g"}, store.Device{Name: "full"}, nil, store.PreKeySet{})
	if err != nil {
		t.Fatal(err)
	}
	open, err := s.AddDevice(ctx, store.Device{AccountID: a.ID, Name: "open"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	env := func(to store.Device, i int) store.Envelope {
		e := store.Envelope{DestAccount: a.ID, DestDevice: to.ID, SenderAccount: a.ID, SenderDevice: 1,
			Content: fmt.Appendf(nil, "%d", i), Expires: time.Now().Add(time.Hour)}
		e.ClientID[0] = byte(i)
		return e
	}
	if _, err := s.Enqueue(ctx, []store.Envelope{env(full, 255)}, store.QueueLimits{MaxQueue: 1}); err != nil {
		t.Fatal(err)
	}

	release := blockWriter(t, s)
	before := s.w.batches.Load()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			to, maxQueue := open, n
			if i == 0 {
				to, maxQueue = full, 1
			}
			_, errs[i] = s.Enqueue(ctx, []store.Envelope{env(to, i)}, store.QueueLimits{MaxQueue: maxQueue})
		})
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()

	if got := s.w.batches.Load() - before; got != 2 {
		t.Errorf("%d transactions for the blocking request and %d waiting ones, want 2", got, n)
	}
	if !errors.Is(errs[0], store.ErrQueueFull) {
		t.Errorf("Enqueue to the full queue = %v, want ErrQueueFull", errs[0])
	}
	for i, err := range errs[1:] {
		if err != nil {
			t.Errorf("Enqueue %d = %v", i+1, err)
		}
	}
	if d, err := s.QueueDepth(ctx, a.ID, open.ID); err != nil || d != n-1 {
		t.Errorf("QueueDepth = %d, %v; want %d", d, err, n-1)
	}
	if d, err := s.QueueDepth(ctx, a.ID, full.ID); err != nil || d != 1 {
		t.Errorf("QueueDepth(full) = %d, %v; want 1", d, err)
	}
}
