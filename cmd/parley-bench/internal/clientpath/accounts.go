package clientpath

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
)

// passphrase seals every account's store; the stores are thrown away.
const passphrase = "parley-bench"

// account is one client: one account with one device.
type account struct {
	r    *runner
	name string
	c    *client.Client
	// in is the stream each sender to this account uses, by username;
	// written before Run starts, only read after.
	in map[string]*stream

	synced   chan struct{} // closed at the first SyncedEvent
	syncOnce sync.Once
	done     chan struct{} // closed when Run has returned
	runErr   error         // Run's error; read after done is closed
}

// create makes n accounts, cfg.Creators at a time. It returns those it
// made even on error, for closeAll.
func (r *runner) create(ctx context.Context, dir string, n int) ([]*account, error) {
	accts := make([]*account, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, made atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(r.cfg.Creators, n)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				a, err := r.newAccount(ctx, dir, i)
				if err != nil {
					cancel(err)
					return
				}
				accts[i] = a
				made.Add(1)
			}
		})
	}
	stop := r.progress("creating accounts", func() string { return fmt.Sprintf("%d/%d", made.Load(), n) })
	wg.Wait()
	stop()
	if err := context.Cause(ctx); err != nil {
		return accts, err
	}
	return accts, nil
}

// newAccount creates account i with its own store.
func (r *runner) newAccount(ctx context.Context, dir string, i int) (*account, error) {
	name := r.cfg.Prefix + strconv.Itoa(i)
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, name+".db"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	a := &account{r: r, in: map[string]*stream{}, synced: make(chan struct{}), done: make(chan struct{})}
	cfg := client.Config{Store: st, Passphrase: []byte(passphrase), HTTPClient: r.hc, Events: a.event, Logger: r.log}
	c, _, err := client.Create(ctx, cfg, client.CreateOptions{Server: r.cfg.Server, Username: name, DeviceName: "bench"})
	if err != nil {
		st.Close()
		if errors.Is(err, &api.Error{Code: api.CodeRateLimited}) {
			return nil, fmt.Errorf("creating %s: %w (start parleyd with -register-rate 100000: the bench registers every account from one address)", name, err)
		}
		return nil, fmt.Errorf("creating %s: %w (is parleyd running at the -server address?)", name, err)
	}
	a.c, a.name = c, c.Username()
	return a, nil
}

// pair makes the streams: 2k sends to 2k+1 and, with Duplex, back. A
// pair's streams are adjacent.
func (r *runner) pair(accts []*account) []*stream {
	var out []*stream
	for k := 0; k+1 < len(accts); k += 2 {
		out = append(out, newStream(r, accts[k], accts[k+1]))
		if r.cfg.Duplex {
			out = append(out, newStream(r, accts[k+1], accts[k]))
		}
	}
	return out
}

// connect starts every account's Run on runCtx, in runs, and waits, at
// most cfg.Timeout, until each has synced.
func (r *runner) connect(ctx, runCtx context.Context, runs *sync.WaitGroup, accts []*account) error {
	for _, a := range accts {
		runs.Go(func() {
			defer close(a.done)
			a.runErr = a.c.Run(runCtx)
		})
	}
	deadline := time.NewTimer(r.cfg.Timeout)
	defer deadline.Stop()
	for _, a := range accts {
		select {
		case <-a.synced:
		case <-a.done:
			return fmt.Errorf("connecting %s: %w", a.name, a.runErr)
		case <-deadline.C:
			return fmt.Errorf("connecting %s: not synced within %s", a.name, r.cfg.Timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// closeAll closes every client's store. Their Runs must have returned.
func closeAll(accts []*account) {
	for _, a := range accts {
		if a != nil && a.c != nil {
			a.c.Close()
		}
	}
}

// event is the account's client.Config.Events. It runs on the client's
// receive goroutine, so it only counts and records.
func (a *account) event(e client.Event) {
	switch e := e.(type) {
	case *client.MessageEvent:
		m := e.Message
		if s := a.in[m.From]; s == nil || m.Outgoing || m.Kind != client.KindText || !s.arrived(m.Text, time.Now()) {
			a.r.unexpected.Add(1)
		}
	case *client.ReceiptEvent:
		if e.Type == client.ReceiptDelivered {
			a.r.receipts.Add(uint64(len(e.IDs)))
		}
	case *client.DecryptionFailureEvent:
		a.r.decryptFail.Add(1)
	case *client.SyncedEvent:
		a.syncOnce.Do(func() { close(a.synced) })
	}
}
