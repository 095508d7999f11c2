package sqlite

import (
	"crypto/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// TestOnEnqueueInCommitOrder: the commit hook sees every stored envelope
// exactly once, with its Seq, never a duplicate or a failed call's, and
// per destination in Seq order, while many callers enqueue at once.
func TestOnEnqueueInCommitOrder(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []store.Envelope
	)
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), Options{OnEnqueue: func(envs []store.Envelope) {
		mu.Lock()
		seen = append(seen, envs...)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	var devs []store.Device
	for _, name := range []string{"hook_a", "hook_b", "hook_c"} {
		_, d, err := s.CreateAccount(t.Context(), store.Account{Username: name, IdentityKey: make([]byte, 33), Created: now},
			store.Device{Name: "d", Created: now}, nil, store.PreKeySet{})
		if err != nil {
			t.Fatal(err)
		}
		devs = append(devs, d)
	}
	var wg sync.WaitGroup
	stored := make(chan uint64, 1000)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				e := store.Envelope{DestAccount: devs[(g+i)%3].AccountID, DestDevice: devs[(g+i)%3].ID,
					SenderAccount: devs[0].AccountID, SenderName: "hook_a", SenderDevice: 1,
					Type: 1, Content: []byte{byte(i)}, Created: now, Expires: now.Add(time.Hour)}
				rand.Read(e.ClientID[:])
				envs := []store.Envelope{e}
				if _, err := s.Enqueue(t.Context(), envs, store.QueueLimits{MaxQueue: 1 << 20}); err != nil {
					t.Error(err)
					return
				}
				stored <- envs[0].Seq
				// A duplicate is not stored again and not pushed again.
				if _, err := s.Enqueue(t.Context(), []store.Envelope{e}, store.QueueLimits{MaxQueue: 1 << 20}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	// A failing call (unknown device) pushes nothing.
	bad := store.Envelope{DestAccount: devs[0].AccountID, DestDevice: 99, SenderAccount: devs[0].AccountID, Created: now, Expires: now.Add(time.Hour)}
	if _, err := s.Enqueue(t.Context(), []store.Envelope{bad}, store.QueueLimits{MaxQueue: 1 << 20}); err == nil {
		t.Fatal("enqueue to an unknown device succeeded")
	}
	wg.Wait()
	close(stored)
	mu.Lock()
	defer mu.Unlock()
	want := map[uint64]bool{}
	for q := range stored {
		want[q] = true
	}
	if len(seen) != len(want) || len(want) != 16*20 {
		t.Fatalf("hook saw %d envelopes, %d stored", len(seen), len(want))
	}
	type dest struct {
		account int64
		device  uint32
	}
	last := map[dest]uint64{}
	for _, e := range seen {
		if !want[e.Seq] {
			t.Fatalf("hook saw Seq %d that no call stored", e.Seq)
		}
		k := dest{e.DestAccount, e.DestDevice}
		if e.Seq <= last[k] {
			t.Fatalf("hook out of Seq order for %v: %d after %d", k, e.Seq, last[k])
		}
		last[k] = e.Seq
	}
}
