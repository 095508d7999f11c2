package groupbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/client/sqlitestore"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/sdklog"
)

// passphrase seals every account's store; the stores are thrown away.
const passphrase = "parley-bench"

// member is one account with one device, in whichever process holds it:
// the coordinator's sender (the group's admin) or a member process's.
type member struct {
	p    *pool
	name string
	c    *client.Client

	synced   chan struct{} // closed at the first SyncedEvent
	syncOnce sync.Once
	done     chan struct{}      // closed when Run has returned
	runErr   error              // Run's error; read after done is closed
	stop     context.CancelFunc // ends this Run alone (pause)

	mu sync.Mutex // guards the fields below
	// arrived holds, by tag, when each group text of this run was
	// stored (Unix nanoseconds of its MessageEvent), the first time.
	arrived map[string]int64
	// changes holds when each change of the group was applied, a time
	// per line of each GroupChangedEvent: the creation, then each change.
	changes []int64
	conv    client.ConversationID // the group, from the first change
	// receipts holds, by message, the accounts whose delivery receipts
	// came.
	receipts map[client.MessageID]map[string]bool
}

// pool is the accounts of one process and what they share.
type pool struct {
	server   string
	timeout  time.Duration
	hc       *http.Client
	log      *slog.Logger
	warn     *sdklog.WarnCounter
	progress io.Writer
	every    time.Duration
	dir      string // the stores' temporary directory

	// changed has a value whenever an event was recorded, so a watcher
	// wakes and looks again.
	changed chan struct{}

	duplicates, unexpected, decryptFail atomic.Uint64
}

// newPool makes the shared state of n accounts' clients, with a fresh
// temporary directory for their stores.
func newPool(server string, n int, timeout time.Duration, progress io.Writer, every time.Duration) (*pool, error) {
	dir, err := os.MkdirTemp("", "parley-bench-group-")
	if err != nil {
		return nil, fmt.Errorf("groupbench: %w", err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Each client keeps keep-alive connections of its own, as separate
	// devices would; a send and receipts may overlap.
	t.MaxIdleConnsPerHost = 2 * n
	t.MaxIdleConns = t.MaxIdleConnsPerHost
	t.IdleConnTimeout = 2 * time.Minute
	w := sdklog.NewWarnCounter(progress)
	return &pool{server: server, timeout: timeout, hc: &http.Client{Transport: &countingTransport{next: t}},
		log: slog.New(w), warn: w, progress: progress, every: every, dir: dir, changed: make(chan struct{}, 1)}, nil
}

// close removes the stores' directory; every client must be closed.
func (p *pool) close() {
	p.hc.CloseIdleConnections()
	os.RemoveAll(p.dir)
}

// create makes accounts with the given usernames, workers at a time. It
// returns those it made even on error, for closeAll.
func (p *pool) create(ctx context.Context, names []string, workers int) ([]*member, error) {
	ms := make([]*member, len(names))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, made atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, len(names))) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(names) {
					return
				}
				m, err := p.newMember(ctx, names[i])
				if err != nil {
					cancel(err)
					return
				}
				ms[i] = m
				made.Add(1)
			}
		})
	}
	stop := p.tick("creating accounts", func() string { return fmt.Sprintf("%d/%d", made.Load(), len(names)) })
	wg.Wait()
	stop()
	return ms, context.Cause(ctx)
}

// newMember creates one account with its own store.
func (p *pool) newMember(ctx context.Context, name string) (*member, error) {
	st, err := sqlitestore.Open(ctx, filepath.Join(p.dir, name+".db"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	m := &member{p: p, synced: make(chan struct{}), done: make(chan struct{}),
		arrived: map[string]int64{}, receipts: map[client.MessageID]map[string]bool{}}
	cfg := client.Config{Store: st, Passphrase: []byte(passphrase), HTTPClient: p.hc, Events: m.event, Logger: p.log}
	c, _, err := client.Create(ctx, cfg, client.CreateOptions{Server: p.server, Username: name, DeviceName: "bench"})
	if err != nil {
		st.Close()
		if errors.Is(err, &api.Error{Code: api.CodeRateLimited}) {
			return nil, fmt.Errorf("creating %s: %w (start parleyd with -register-rate 100000: the bench registers every account from one address)", name, err)
		}
		return nil, fmt.Errorf("creating %s: %w (is parleyd running at the -server address?)", name, err)
	}
	m.c, m.name = c, c.Username()
	return m, nil
}

// connect starts every member's Run on runCtx, in runs, and waits, at
// most the pool's timeout, until each has synced.
func (p *pool) connect(ctx, runCtx context.Context, runs *sync.WaitGroup, ms []*member) error {
	for _, m := range ms {
		m.start(runCtx, runs)
	}
	deadline := time.NewTimer(p.timeout)
	defer deadline.Stop()
	for _, m := range ms {
		select {
		case <-m.synced:
		case <-m.done:
			return fmt.Errorf("connecting %s: %w", m.name, m.runErr)
		case <-deadline.C:
			return fmt.Errorf("connecting %s: not synced within %s", m.name, p.timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// start runs the member's client on a context of its own under runCtx,
// in runs. It is called again only once the Run before has returned.
func (m *member) start(runCtx context.Context, runs *sync.WaitGroup) {
	ctx, stop := context.WithCancel(runCtx)
	done := make(chan struct{})
	m.stop, m.done = stop, done
	runs.Go(func() {
		defer close(done)
		if err := m.c.Run(ctx); runCtx.Err() != nil || !errors.Is(err, context.Canceled) {
			m.runErr = err // a pause's end is not an error
		}
	})
}

// pause ends the member's Run and waits for it: the device goes
// offline, and what is sent to it waits in its queue.
func (m *member) pause() {
	m.stop()
	<-m.done
}

// closeAll closes every client's store. Their Runs must have returned.
func closeAll(ms []*member) {
	for _, m := range ms {
		if m != nil && m.c != nil {
			m.c.Close()
		}
	}
}

// event is the member's client.Config.Events. It runs with the client's
// lock held, so it only records.
func (m *member) event(e client.Event) {
	now := time.Now().UnixNano()
	switch e := e.(type) {
	case *client.MessageEvent:
		msg := e.Message
		if msg.Kind != client.KindText || msg.Outgoing {
			return // the lines of group changes, and notes
		}
		if !msg.Conversation.IsGroup() {
			if msg.Text != helloText {
				m.p.unexpected.Add(1)
			}
			return
		}
		tag, ok := parseTag(msg.Text)
		if !ok {
			m.p.unexpected.Add(1)
			return
		}
		m.mu.Lock()
		if _, seen := m.arrived[tag]; seen {
			m.p.duplicates.Add(1)
		} else {
			m.arrived[tag] = now
		}
		m.mu.Unlock()
	case *client.GroupChangedEvent:
		m.mu.Lock()
		for range e.Lines {
			m.changes = append(m.changes, now)
		}
		m.conv = e.Conversation
		m.mu.Unlock()
	case *client.ReceiptEvent:
		if e.Type != client.ReceiptDelivered {
			return
		}
		m.mu.Lock()
		for _, id := range e.IDs {
			if m.receipts[id] == nil {
				m.receipts[id] = map[string]bool{}
			}
			m.receipts[id][e.From] = true
		}
		m.mu.Unlock()
	case *client.DecryptionFailureEvent:
		m.p.decryptFail.Add(1)
	case *client.SyncedEvent:
		m.syncOnce.Do(func() { close(m.synced) })
		return
	default:
		return
	}
	select {
	case m.p.changed <- struct{}{}:
	default:
	}
}

// has reports whether the member stored the text tagged tag.
func (m *member) has(tag string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.arrived[tag]
	return ok
}

// changeCount is how many group changes the member has seen.
func (m *member) changeCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.changes)
}

// receiptCount is how many accounts sent delivery receipts for id.
func (m *member) receiptCount(id client.MessageID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.receipts[id])
}

// helloText is the 1:1 message that starts a session (greet).
const helloText = "hello"

// text is a group message of size bytes: the tag, a space, then 'x'.
func text(tag string, size int) string {
	b := make([]byte, 0, max(size, len(tag)+1))
	b = append(b, tag...)
	b = append(b, ' ')
	for len(b) < size {
		b = append(b, 'x')
	}
	return string(b)
}

// parseTag reads the tag text wrote.
func parseTag(s string) (string, bool) {
	tag, rest, ok := strings.Cut(s, " ")
	if !ok || tag == "" || strings.Trim(rest, "x") != "" {
		return "", false
	}
	return tag, true
}

// tick prints "parley-bench: <what> <status()>" every p.every until the
// returned func is called.
func (p *pool) tick(what string, status func() string) (stop func()) {
	return sdklog.Tick(p.progress, p.every, what, status)
}
