// Package groupbench measures private groups (spec/client.md §10) through
// the full client SDK: one message to a group of N accounts, one device
// each, and what a member's removal costs.
//
// The coordinator (Run) holds the group's creator and admin, the sender
// whose Send it measures, alone in its process, so that the process's CPU
// time over a Send is the Send's. The other N-1 members run in member
// processes (Members: this binary again, in its member mode), a few
// hundred each, every one a real client with its own sealed SQLite store
// and its own WebSocket (Client.Run), noting when each message was stored
// (its MessageEvent) and when each change of the group came. All processes
// read the same clock.
//
// A run: make the accounts; have every member greet the admin and the K
// sample senders 1:1, which starts the sessions the group's sends use (an
// account may fetch only so many bundles: see greet); create the group
// (a create record and add records of at most RecordMembers members,
// each sent 1:1 to every member); send a
// first (cold) message, which gives the sender key to every member over
// the 1:1 sessions, then warm messages, each one PUT /v1/messages; then
// one more warm message with the server probed around its PUT (its
// /metrics, and its SQLite store read-only: the body stored once, a row
// per device). Then K members send their first message; the admin
// removes one member; and the admin and the K members send again, each
// send starting a new sender-key chain and giving it to every remaining
// member over the 1:1 sessions before its PUT. Each step waits until
// every member has the message and the sender every delivery receipt
// (each member answers each message with one), so no step's work runs
// into the next's measurement.
package groupbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/procstat"
)

// Config is one run.
type Config struct {
	Server  string // parleyd's base URL
	Prefix  string // of the usernames
	Members int    // the group's accounts, the admin included; at least 2
	Procs   int    // member processes, holding Members-1 accounts between them
	Warm    int    // warm messages measured, after the cold one
	Senders int    // K: members that send before and after the removal
	// RecordMembers is how many members the create record and each add
	// record name; 0 means DefaultRecordMembers.
	RecordMembers int
	Size          int // bytes of text per message
	// Creators is how many accounts are made at once, over all
	// processes; each runs Argon2id with 64 MiB.
	Creators int
	Timeout  time.Duration // per account creation, connection and send
	// Wait is the longest wait, per step, for every member to store a
	// message or apply a change, and for the receipts.
	Wait time.Duration
	// DataDir, if set, is parleyd's data directory: its store is read
	// (read-only) to count what a send stored.
	DataDir   string
	ServerPID int // if not 0, parleyd's pid, for its CPU time per step
	// Member returns the command of one member process, which runs
	// Members; Run sets its stdin, stdout and stderr.
	Member   func(ctx context.Context) *exec.Cmd
	Progress io.Writer // progress lines; nil for none
	Every    time.Duration
}

// Step is one call of the admin's (group creation, removal), measured
// as a SendStat is.
type Step struct {
	Duration  time.Duration `json:"duration_ns"`
	CPU       time.Duration `json:"cpu_ns"`
	ServerCPU time.Duration `json:"server_cpu_ns"` // parleyd's over the call, in 10 ms ticks; 0 unknown
	Requests  Requests      `json:"requests"`
	Err       string        `json:"error,omitempty"`
	// Reached is, for each member that applied it, the time from the
	// call to the member's GroupChangedEvent.
	Reached Spread `json:"reached"`

	start int64 // Unix ns of the call
}

// SendResult is one measured group message.
type SendResult struct {
	SendStat
	ServerCPU time.Duration `json:"server_cpu_ns"` // parleyd's over the Send, in 10 ms ticks; 0 unknown
	// Stored is, for each member that stored it, the time from the call
	// of Send to the member's MessageEvent; Stored.Count of Recipients.
	Stored   Spread `json:"stored"`
	Receipts bool   `json:"all_receipts"` // every recipient's delivery receipt came back
}

// Result is what a run measured.
type Result struct {
	Members      int     `json:"members"`
	Procs        int     `json:"processes"`
	Size         int     `json:"text_bytes"`
	SetupSeconds float64 `json:"setup_seconds"` // accounts made and connected
	// SessionsSeconds is the time for every member to greet the admin
	// and the K senders 1:1 (Config.Senders+1 sessions each, PQXDH).
	SessionsSeconds float64 `json:"sessions_seconds"`
	// Create is the group's creation: CreateGroup and then AddMembers,
	// CreateRecords records of at most Config.RecordMembers members each.
	Create        Step         `json:"create"`
	CreateRecords int          `json:"create_records"`
	Cold          SendResult   `json:"cold"`
	Warm          []SendResult `json:"warm"`
	Probe         *Probe       `json:"probe,omitempty"`
	ProbeSend     *SendResult  `json:"probe_send,omitempty"`
	FirstSends    []SendResult `json:"first_sends"` // the K members' first messages
	Removed       string       `json:"removed"`
	Remove        Step         `json:"remove"`
	// Rotations are the sends after the removal: the admin's first
	// (Rotations[0], in the quiet coordinator), then the K members'.
	Rotations []SendResult `json:"rotations"`
	Rotation  Estimate     `json:"rotation_estimate"`
	// Incomplete lists the steps whose wait ran out.
	Incomplete []string `json:"incomplete,omitempty"`
	Counts
}

// Estimate puts the measured rotations together for every remaining
// member; see the fields for what each assumes.
type Estimate struct {
	Measured  int `json:"measured"`  // rotating sends measured
	Remaining int `json:"remaining"` // member accounts left after the removal, each a sender
	// MeanSeconds and MaxSeconds are over the measured sends' durations.
	MeanSeconds float64 `json:"mean_seconds"`
	MaxSeconds  float64 `json:"max_seconds"`
	// SumSeconds is MeanSeconds × Remaining: every remaining member
	// sending once, one after the other, on this machine (the server
	// and every client sharing its cores, as here).
	SumSeconds float64 `json:"sum_seconds"`
	// Envelopes is the 1:1 sender-key envelopes that takes: Remaining
	// × (Remaining-1).
	Envelopes int `json:"envelopes"`
}

// DefaultRecordMembers is how many members one create or add record names. A
// record naming 1,000 is about 50 KB, over the 32 KiB a group record
// may have in a content as the SDK reads it (client/content.go,
// maxGroupRec), though internal/group allows 96 KiB and 1,000 members
// a record: the members would drop it as unreadable. So the group is
// made by a create and adds of 500 members each.
const DefaultRecordMembers = 500

// errIncomplete says a step's wait ran out: the run goes on and says so.
var errIncomplete = errors.New("groupbench: not every member answered in time")

// run is the coordinator's state.
type run struct {
	cfg     Config
	admin   *member
	pool    *pool
	cs      *children
	conv    client.ConversationID
	members []string // the member processes' accounts
	records int      // the group's records once made: the create and the adds
	res     *Result
}

// Run makes the accounts, runs the steps, and removes the stores. The
// Result is nil only if setup failed.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	switch {
	case cfg.Members < 2:
		return nil, errors.New("groupbench: a group needs at least 2 members")
	case cfg.Procs < 1 || cfg.Procs > cfg.Members-1:
		return nil, errors.New("groupbench: need 1 to Members-1 member processes")
	case cfg.Warm < 1 || cfg.Senders < 0 || cfg.Senders > cfg.Members-2:
		return nil, errors.New("groupbench: need at least 1 warm message and 0 to Members-2 senders")
	case cfg.Timeout <= 0 || cfg.Wait <= 0 || cfg.Creators < 1 || cfg.Member == nil:
		return nil, errors.New("groupbench: the timeout, the wait and the creators must be positive, and Member set")
	}
	if cfg.Progress != nil {
		cfg.Progress = &syncWriter{w: cfg.Progress}
	}
	r := &run{cfg: cfg, res: &Result{Members: cfg.Members, Procs: cfg.Procs, Size: cfg.Size}}
	for i := range cfg.Members - 1 {
		r.members = append(r.members, cfg.Prefix+"m"+strconv.Itoa(i))
	}
	var err error
	if r.pool, err = newPool(cfg.Server, 1, cfg.Timeout, cfg.Progress, cfg.Every); err != nil {
		return nil, err
	}
	defer r.pool.close()

	t0 := time.Now()
	setup := memberSetup{Server: cfg.Server, Creators: max(1, cfg.Creators/cfg.Procs), Size: cfg.Size,
		Timeout: cfg.Timeout, Every: cfg.Every}
	r.cs, err = spawn(ctx, cfg.Member, split(r.members, cfg.Procs), setup, cfg.Progress)
	defer r.cs.kill()
	if err != nil {
		return nil, err
	}
	r.cs.wake = r.pool.changed
	admins, err := r.pool.create(ctx, []string{cfg.Prefix + "admin"}, 1)
	defer closeAll(admins)
	if err != nil {
		return nil, err
	}
	r.admin = admins[0]
	runCtx, stopRuns := context.WithCancel(ctx)
	var runs sync.WaitGroup
	defer func() { stopRuns(); runs.Wait() }() // before closeAll
	if err := r.pool.connect(ctx, runCtx, &runs, admins); err != nil {
		return nil, err
	}
	r.progress("making %d accounts in %d member processes", len(r.members), cfg.Procs)
	if _, err := r.cs.wait(ctx, 0, r.cs.allReady); err != nil {
		return nil, err
	}
	r.res.SetupSeconds = time.Since(t0).Seconds()
	r.progress("%d accounts ready in %.1fs", cfg.Members, r.res.SetupSeconds)

	err = r.steps(ctx)
	reps, ferr := r.cs.finish(ctx)
	if err == nil {
		err = ferr
	}
	stopRuns()
	runs.Wait()
	if r.admin.runErr != nil && !errors.Is(r.admin.runErr, context.Canceled) {
		r.res.RunErrors++
	}
	r.summarise(reps)
	return r.res, err
}

// steps runs the measurements; a step whose wait runs out is noted and
// the run goes on.
func (r *run) steps(ctx context.Context) error {
	for _, step := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"sessions", r.greet},
		{"create the group", r.create},
		{"cold message", func(ctx context.Context) error { return r.adminSend(ctx, "cold", &r.res.Cold, nil) }},
		{"warm messages", r.warm},
		{"probed message", r.probe},
		{"members' first messages", func(ctx context.Context) error { return r.memberSends(ctx, "first", &r.res.FirstSends) }},
		{"removal", r.remove},
		{"rotations", r.rotate},
	} {
		r.progress("%s", step.name)
		err := step.fn(ctx)
		if errors.Is(err, errIncomplete) {
			r.res.Incomplete = append(r.res.Incomplete, step.name)
			r.progress("warning: %s: %v", step.name, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("groupbench: %s: %w", step.name, err)
		}
	}
	return nil
}

// greet has every member start a 1:1 session with the admin and the K
// sample senders (child.go's greet says why).
func (r *run) greet(ctx context.Context) error {
	t0 := time.Now()
	targets := append([]string{r.admin.name}, r.samples()...)
	if err := r.cs.tell(ctx, nil, cmdHello+" "+strings.Join(targets, ","), true); err != nil {
		return err
	}
	r.res.SessionsSeconds = time.Since(t0).Seconds()
	return nil
}

func (r *run) create(ctx context.Context) error {
	if err := r.step(ctx, &r.res.Create, func(ctx context.Context) error {
		per := r.cfg.RecordMembers
		if per <= 0 {
			per = DefaultRecordMembers
		}
		first := r.members[:min(per, len(r.members))]
		info, err := r.admin.c.CreateGroup(ctx, "parley-bench", first...)
		r.conv, r.records = info.Conversation, 1
		for rest := r.members[len(first):]; err == nil && len(rest) > 0; r.records++ {
			n := min(per, len(rest))
			err = r.admin.c.AddMembers(ctx, r.conv, rest[:n]...)
			rest = rest[n:]
		}
		return err
	}); err != nil {
		return err
	}
	r.res.CreateRecords = r.records
	return r.waitFor(ctx, r.cs.changesAtLeast(r.records))
}

func (r *run) warm(ctx context.Context) error {
	r.res.Warm = make([]SendResult, r.cfg.Warm)
	for i := range r.res.Warm {
		if err := r.adminSend(ctx, "warm"+strconv.Itoa(i+1), &r.res.Warm[i], nil); err != nil {
			return err
		}
	}
	return nil
}

// probe sends one more warm message with the server probed around its
// PUT; the probe's own requests and reads fall in the Send, so its CPU
// and duration are not the warm ones. One member (the one removed later)
// is offline meanwhile, so the body is still referenced when the probe
// reads the store, however fast the others acknowledge it.
func (r *run) probe(ctx context.Context) error {
	pr, err := newProber(r.cfg.Server, r.cfg.DataDir, r.cfg.Timeout)
	if err != nil {
		return err
	}
	defer pr.close()
	witness := r.members[len(r.members)-1]
	c := r.cs.member[witness]
	if err := r.cs.tell(ctx, c, cmdPause+" "+witness, true); err != nil {
		return err
	}
	r.res.ProbeSend = &SendResult{}
	err = r.adminSend(ctx, "probe", r.res.ProbeSend, pr.around, func(ctx context.Context) error {
		return r.cs.tell(ctx, c, cmdResume+" "+witness, true)
	})
	r.res.Probe = pr.result("probe")
	return err
}

func (r *run) remove(ctx context.Context) error {
	r.res.Removed = r.members[len(r.members)-1]
	if err := r.cs.tell(ctx, nil, cmdGone+" "+r.res.Removed, true); err != nil {
		return err
	}
	if err := r.step(ctx, &r.res.Remove, func(ctx context.Context) error {
		return r.admin.c.RemoveMember(ctx, r.conv, r.res.Removed)
	}); err != nil {
		return err
	}
	return r.waitFor(ctx, r.cs.changesAtLeast(r.records+1))
}

func (r *run) rotate(ctx context.Context) error {
	r.res.Rotations = make([]SendResult, 1)
	err := r.adminSend(ctx, "rotate-admin", &r.res.Rotations[0], nil)
	if err != nil && !errors.Is(err, errIncomplete) {
		return err
	}
	if err2 := r.memberSends(ctx, "rotate", &r.res.Rotations); err2 != nil {
		return err2
	}
	return err
}

// step runs fn, one call of the admin's, and measures it into s.
func (r *run) step(ctx context.Context, s *Step, fn func(context.Context) error) error {
	ctr := &counter{}
	srv0 := r.serverCPU()
	cpu0 := processCPU()
	t0 := time.Now()
	err := fn(withCount(ctx, ctr))
	s.Duration, s.CPU = time.Since(t0), processCPU()-cpu0
	if srv1 := r.serverCPU(); srv0 > 0 && srv1 > 0 {
		s.ServerCPU = srv1 - srv0
	}
	s.Requests = ctr.snapshot()
	s.start = t0.UnixNano()
	if err != nil {
		s.Err = err.Error()
		var de *client.GroupDeliveryError
		if !errors.As(err, &de) {
			return err
		}
		r.progress("warning: %v", err) // made; some members missed it
	}
	return nil
}

// adminSend sends a message from the admin into res and waits until
// every member has it and every receipt is in. after, if set, runs
// between the two.
func (r *run) adminSend(ctx context.Context, tag string, res *SendResult, aroundPut func(bool), after ...func(context.Context) error) error {
	if err := r.cs.tell(ctx, nil, cmdExpect+" "+tag+" "+r.admin.name, true); err != nil {
		return err
	}
	srv0 := r.serverCPU()
	res.SendStat = r.admin.send(ctx, r.conv, tag, r.cfg.Size, aroundPut)
	if srv1 := r.serverCPU(); srv0 > 0 && srv1 > 0 {
		res.ServerCPU = srv1 - srv0
	}
	if res.Err != "" {
		return fmt.Errorf("sending %s: %s", tag, res.Err)
	}
	for _, fn := range after {
		if err := fn(ctx); err != nil {
			return err
		}
	}
	id, want := res.id, res.Recipients
	return r.waitFor(ctx, func() bool {
		if r.cs.all[tag] < len(r.cs.list) {
			return false
		}
		res.Receipts = r.admin.receiptCount(id) >= want
		return res.Receipts
	})
}

// memberSends has each of the K sample members send a message tagged
// prefix and its index, one after the other, appending to out.
func (r *run) memberSends(ctx context.Context, prefix string, out *[]SendResult) error {
	var incomplete error
	for _, name := range r.samples() {
		tag := prefix + "-" + name
		c := r.cs.member[name]
		if err := r.cs.tell(ctx, nil, cmdExpect+" "+tag+" "+name, true); err != nil {
			return err
		}
		srv0 := r.serverCPU()
		if err := r.cs.tell(ctx, c, cmdSend+" "+name+" "+tag, false); err != nil {
			return err
		}
		if _, err := r.cs.wait(ctx, 0, func() bool { return len(c.sent) > 0 }); err != nil {
			return err
		}
		res := SendResult{SendStat: c.sent[0]}
		c.sent = c.sent[1:]
		if srv1 := r.serverCPU(); srv0 > 0 && srv1 > 0 {
			res.ServerCPU = srv1 - srv0
		}
		if res.Err != "" {
			return fmt.Errorf("%s sending %s: %s", name, tag, res.Err)
		}
		err := r.waitFor(ctx, func() bool {
			res.Receipts = r.cs.rcpts[tag]
			return r.cs.all[tag] == len(r.cs.list) && r.admin.has(tag) && res.Receipts
		})
		*out = append(*out, res)
		switch {
		case errors.Is(err, errIncomplete):
			incomplete = err
		case err != nil:
			return err
		}
	}
	return incomplete
}

// samples are the K members that send: spread over the member
// processes, never the one removed (the last).
func (r *run) samples() []string {
	n := len(r.members) - 1
	out := make([]string, r.cfg.Senders)
	for j := range out {
		out[j] = r.members[j*n/r.cfg.Senders]
	}
	return out
}

// waitFor waits, at most cfg.Wait, until done.
func (r *run) waitFor(ctx context.Context, done func() bool) error {
	ok, err := r.cs.wait(ctx, r.cfg.Wait, done)
	if err != nil {
		return err
	}
	if !ok {
		return errIncomplete
	}
	return nil
}

func (r *run) serverCPU() time.Duration {
	if r.cfg.ServerPID == 0 {
		return 0
	}
	c, err := procstat.CPU(r.cfg.ServerPID)
	if err != nil {
		return 0
	}
	return c
}

func (r *run) progress(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "parley-bench: "+format+"\n", args...)
	}
}

// split deals names into n nearly equal parts.
func split(names []string, n int) [][]string {
	parts := make([][]string, n)
	for i := range n {
		parts[i] = names[i*len(names)/n : (i+1)*len(names)/n]
	}
	return parts
}

// syncWriter serialises writes from several goroutines (the member
// processes' stderr copiers and progress lines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
