package groupbench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/client"
)

// The member processes' protocol. The coordinator writes a memberSetup
// (JSON) as the first line of the process's stdin, then one command a
// line; closing stdin ends the run. The process answers on stdout, a
// word and its argument a line:
//
//	ready N        its N accounts are made and synced
//	changes K      every member still in the group has seen K group changes
//	all TAG        every member expected to has stored the text TAG
//	receipts TAG   its member that sent TAG has delivery receipts from every recipient
//	sent {JSON}    a SendStat, the answer to "send"
//	ok             the answer to "expect", "gone", "hello", "pause" and "resume"
//	result {JSON}  a memberReport, once stdin is closed
//
// Commands: "hello NAME,NAME,..." (every member greets each account
// named, but itself, and the answer waits for their delivery receipts:
// see greet), "expect TAG SENDER" (the text TAG is coming, from SENDER,
// who does not receive it), "send NAME TAG" (member NAME sends TAG),
// "gone NAME" (NAME is leaving the group: expect nothing more of it),
// "pause NAME" and "resume NAME" (end NAME's Run, and start it again).
const (
	lineReady    = "ready"
	lineChanges  = "changes"
	lineAll      = "all"
	lineReceipts = "receipts"
	lineSent     = "sent"
	lineOK       = "ok"
	lineResult   = "result"

	cmdExpect = "expect"
	cmdSend   = "send"
	cmdGone   = "gone"
	cmdHello  = "hello"
	cmdPause  = "pause"
	cmdResume = "resume"
)

// memberSetup is what a member process is told first.
type memberSetup struct {
	Server   string        `json:"server"`
	Names    []string      `json:"names"`
	Creators int           `json:"creators"`
	Size     int           `json:"size"`
	Timeout  time.Duration `json:"timeout_ns"`
	Every    time.Duration `json:"every_ns"`
}

// memberReport is what a member process saw.
type memberReport struct {
	Members []memberLog `json:"members"`
	Counts
}

// memberLog is one member's arrivals.
type memberLog struct {
	Name    string           `json:"name"`
	Arrived map[string]int64 `json:"arrived"` // tag → Unix ns when stored
	Changes []int64          `json:"changes"` // Unix ns of each group change
}

// Counts are the things that should not happen, over the accounts of a
// process.
type Counts struct {
	Duplicates         uint64            `json:"duplicates"`          // a text stored twice
	Unexpected         uint64            `json:"unexpected_messages"` // a text this run did not send
	DecryptionFailures uint64            `json:"decryption_failures"`
	RunErrors          int               `json:"run_errors"` // a client's Run ended early
	Warnings           map[string]uint64 `json:"sdk_warnings"`
}

func (c *Counts) add(o Counts) {
	c.Duplicates += o.Duplicates
	c.Unexpected += o.Unexpected
	c.DecryptionFailures += o.DecryptionFailures
	c.RunErrors += o.RunErrors
	if c.Warnings == nil {
		c.Warnings = map[string]uint64{}
	}
	for k, v := range o.Warnings {
		c.Warnings[k] += v
	}
}

// Members is a member process: it reads its setup from in, makes its
// accounts, runs them, and obeys the commands that follow, answering on
// out; progress goes to progress.
func Members(ctx context.Context, in io.Reader, out, progress io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // the setup names every account
	if !sc.Scan() {
		return fmt.Errorf("groupbench: reading the setup: %w", errOr(sc.Err(), io.ErrUnexpectedEOF))
	}
	var setup memberSetup
	if err := json.Unmarshal(sc.Bytes(), &setup); err != nil {
		return fmt.Errorf("groupbench: reading the setup: %w", err)
	}
	p, err := newPool(setup.Server, len(setup.Names), setup.Timeout, progress, setup.Every)
	if err != nil {
		return err
	}
	defer p.close()
	ms, err := p.create(ctx, setup.Names, setup.Creators)
	defer closeAll(ms)
	if err != nil {
		return err
	}
	runCtx, stopRuns := context.WithCancel(ctx)
	var runs sync.WaitGroup
	defer func() { stopRuns(); runs.Wait() }() // before closeAll
	if err := p.connect(ctx, runCtx, &runs, ms); err != nil {
		return err
	}
	w := &lineWriter{w: bufio.NewWriter(out)}
	mp := &memberProc{p: p, setup: setup, w: w, runCtx: runCtx, runs: &runs, byName: map[string]*member{}, gone: map[string]bool{},
		expect: map[string]string{}, sent: map[string]SendStat{}}
	for _, m := range ms {
		mp.byName[m.name] = m
		mp.list = append(mp.list, m)
	}
	w.line(lineReady, strconv.Itoa(len(ms)))

	watchDone := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() { mp.watch(watchDone) })
	for sc.Scan() && ctx.Err() == nil {
		if err := mp.command(ctx, sc.Text()); err != nil {
			close(watchDone)
			watch.Wait()
			return err
		}
	}
	close(watchDone)
	watch.Wait()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("groupbench: reading commands: %w", err)
	}
	stopRuns()
	runs.Wait()
	rep := memberReport{Counts: p.counts()}
	for _, m := range ms {
		if m.runErr != nil && !errors.Is(m.runErr, context.Canceled) {
			rep.RunErrors++
			fmt.Fprintf(progress, "parley-bench: %s: %v\n", m.name, m.runErr)
		}
		m.mu.Lock()
		rep.Members = append(rep.Members, memberLog{Name: m.name, Arrived: m.arrived, Changes: m.changes})
		m.mu.Unlock()
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	w.line(lineResult, string(b))
	return w.err
}

func errOr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// counts are the pool's error counts.
func (p *pool) counts() Counts {
	return Counts{Duplicates: p.duplicates.Load(), Unexpected: p.unexpected.Load(),
		DecryptionFailures: p.decryptFail.Load(), Warnings: p.warn.Snapshot()}
}

// memberProc is the state of a member process's commands and watcher.
type memberProc struct {
	p      *pool
	setup  memberSetup
	w      *lineWriter
	runCtx context.Context // the members' Runs', for resume
	runs   *sync.WaitGroup
	list   []*member
	byName map[string]*member

	mu      sync.Mutex // guards the fields below
	gone    map[string]bool
	expect  map[string]string   // tag → its sender, until "all" is told
	sent    map[string]SendStat // by tag: sends of this process's members, until their receipts are told
	changes int                 // the last K told
}

// command runs one command line.
func (mp *memberProc) command(ctx context.Context, line string) error {
	f := strings.Fields(line)
	switch {
	case len(f) == 3 && f[0] == cmdExpect:
		mp.mu.Lock()
		mp.expect[f[1]] = f[2]
		mp.mu.Unlock()
		mp.w.line(lineOK, "")
		mp.poke()
	case len(f) == 2 && f[0] == cmdGone:
		mp.mu.Lock()
		mp.gone[f[1]] = true
		mp.mu.Unlock()
		mp.w.line(lineOK, "")
		mp.poke()
	case len(f) == 2 && (f[0] == cmdPause || f[0] == cmdResume):
		m := mp.byName[f[1]]
		if m == nil {
			return fmt.Errorf("groupbench: no member %q in this process", f[1])
		}
		if f[0] == cmdPause {
			m.pause()
		} else {
			m.start(mp.runCtx, mp.runs)
		}
		mp.w.line(lineOK, "")
	case len(f) == 2 && f[0] == cmdHello:
		if err := mp.greet(ctx, strings.Split(f[1], ",")); err != nil {
			return err
		}
		mp.w.line(lineOK, "")
	case len(f) == 3 && f[0] == cmdSend:
		m := mp.byName[f[1]]
		if m == nil {
			return fmt.Errorf("groupbench: no member %q in this process", f[1])
		}
		m.mu.Lock()
		conv := m.conv
		m.mu.Unlock()
		st := m.send(ctx, conv, f[2], mp.setup.Size, nil)
		if st.Err == "" {
			mp.mu.Lock()
			mp.sent[st.Tag] = st
			mp.mu.Unlock()
		}
		b, _ := json.Marshal(st)
		mp.w.line(lineSent, string(b))
		mp.poke()
	default:
		return fmt.Errorf("groupbench: unknown command %q", line)
	}
	return mp.w.err
}

func (mp *memberProc) poke() {
	select {
	case mp.p.changed <- struct{}{}:
	default:
	}
}

// watch tells the coordinator what has become true, until done closes.
func (mp *memberProc) watch(done chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-mp.p.changed:
		}
		mp.look()
	}
}

// look checks every condition the coordinator waits for.
func (mp *memberProc) look() {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	k := -1
	for _, m := range mp.list {
		if !mp.gone[m.name] {
			if n := m.changeCount(); k < 0 || n < k {
				k = n
			}
		}
	}
	if k > mp.changes {
		mp.changes = k
		mp.w.line(lineChanges, strconv.Itoa(k))
	}
	for tag, from := range mp.expect {
		all := true
		for _, m := range mp.list {
			if m.name != from && !mp.gone[m.name] && !m.has(tag) {
				all = false
				break
			}
		}
		if all {
			delete(mp.expect, tag)
			mp.w.line(lineAll, tag)
		}
	}
	for tag, st := range mp.sent {
		if m := mp.byName[st.Sender]; m.receiptCount(st.id) >= st.Recipients {
			delete(mp.sent, tag)
			mp.w.line(lineReceipts, tag)
		}
	}
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

// greetWorkers is how many of a process's members greet at once.
const greetWorkers = 8

// greet has every member send a 1:1 hello to each of targets but
// itself, and waits until each has a delivery receipt: the target has
// then started the session the hello began, and holds the member's
// identity key. A sender in a group gives its sender key over 1:1
// sessions; without these, the group's creator and each first sender
// would fetch a bundle of every member's, far past the server's bundle
// rate of one account.
func (mp *memberProc) greet(ctx context.Context, targets []string) error {
	type hello struct {
		from *member
		id   client.MessageID
	}
	var (
		mu    sync.Mutex // guards sent
		sent  []hello
		next  atomic.Int64
		count atomic.Int64
	)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range min(greetWorkers, len(mp.list)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(mp.list) {
					return
				}
				m := mp.list[i]
				for _, t := range targets {
					if t == m.name {
						continue
					}
					sctx, stop := context.WithTimeout(ctx, mp.setup.Timeout)
					msg, err := m.c.Send(sctx, client.Direct(t), helloText)
					stop()
					if err != nil {
						cancel(fmt.Errorf("groupbench: %s greeting %s: %w", m.name, t, err))
						return
					}
					mu.Lock()
					sent = append(sent, hello{m, msg.ID})
					mu.Unlock()
					count.Add(1)
				}
			}
		})
	}
	stop := mp.p.tick("greeting", func() string { return fmt.Sprintf("%d hellos sent", count.Load()) })
	defer stop()
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(mp.setup.Timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for _, h := range sent {
		for h.from.receiptCount(h.id) == 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("groupbench: %s's hello had no delivery receipt within %s", h.from.name, mp.setup.Timeout)
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}
