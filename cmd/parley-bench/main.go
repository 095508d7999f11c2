// Command parley-bench is the load generator for parleyd. It registers N
// bench accounts on a server at a loopback address (one device each, with
// valid signed prekeys), opens one WebSocket per device, then runs a mode:
//
//   - traffic: paired devices (0↔1, 2↔3, ...) send each other envelopes of
//     random bytes; it reports sends, acknowledgements, deliveries,
//     throughput, send→SendResult and send→Deliver latency percentiles and
//     errors by code. With -ids and -reconnect it serves a crash test.
//   - idle: holds the N connections for -duration; it reports the server's
//     memory per connection.
//   - client: runs the full client path instead of raw envelopes: 2×-pairs
//     accounts made with the SDK (package client), each with its own
//     SQLite store, send each other text messages in a closed loop
//     (encrypt, send, deliver, decrypt, store, acknowledge, delivery
//     receipt); it reports messages/s stored by their recipients and the
//     latency of Send and end to end.
//   - fanout: N accounts follow one channel from WebSockets held by
//     separate follower processes (this binary again, mode
//     fanout-follower); the owner publishes posts one at a time; it
//     reports deliveries/s and the time from a post to its last follower.
//   - group: a private group of -members accounts made with the SDK, one
//     device each; the admin, alone in this process, creates it and sends
//     a cold message and warm ones, while the members run in member
//     processes (this binary again, mode group-member); it reports the
//     sender's CPU time, requests and bytes per Send, the PUT's round
//     trip, what the server stored (with -server-data), the time from
//     Send to each member storing it, and what removing a member costs:
//     the time for every member to apply the removal, and the time of the
//     next Send of the admin and of -senders members, each of which starts
//     a new sender-key chain and gives it to every member 1:1.
//
// It is a separate process from the server and talks only to the loopback
// address it is given. Every phase is bounded in count and time.
//
//	go build -o /tmp/parleyd ./cmd/parleyd && go build -o /tmp/parley-bench ./cmd/parley-bench
//	/tmp/parleyd -data $(mktemp -d) -listen 127.0.0.1:8080 -register-rate 100000 &
//	/tmp/parley-bench -server http://127.0.0.1:8080 -server-pid $! traffic
//	/tmp/parley-bench -server http://127.0.0.1:8080 -server-pid $! -pairs 10 -size 100 -duration 30s client
//	/tmp/parley-bench -server http://127.0.0.1:8080 -server-pid $! -devices 15000 -procs 3 -posts 20 fanout
//	/tmp/parley-bench -server http://127.0.0.1:8080 -server-pid $! -server-data DIR -members 1000 group
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/clientpath"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/fleet"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/groupbench"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/traffic"
	"github.com/parley-chat/parley/internal/channel"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	mode, server, jsonPath, idsPath string
	cpuProfile                      string
	devices, workers, size, window  int
	pairs, creators                 int
	procs, posts                    int
	members, senders, messages      int
	recordMembers                   int
	serverData, memberBinary        string
	accounts                        string
	interval                        time.Duration
	pid                             int
	rate                            float64
	duration, warmup, drain         time.Duration
	timeout, every                  time.Duration
	reconnect, duplex               bool
}

const usage = `usage: parley-bench [flags] traffic|idle|client|fanout|group

Start parleyd first, with a registration rate high enough for -devices
accounts from one address, e.g.
  parleyd -data $(mktemp -d) -listen 127.0.0.1:8080 -register-rate 100000 &
and pass its pid ($! of a built binary, not of "go run") as -server-pid.
Memory per connection is only meaningful on a freshly started server.
Latencies run from the moment a send is written (its time is in the first
8 bytes of the envelope), not from its scheduled time: if the achieved send
rate is below -rate, the server (or -window) held the senders back.

Modes:
  traffic  paired devices send envelopes to each other (see -size, -rate,
           -window, -warmup, -duration); crash tests add -ids and -reconnect
  idle     hold -devices connections for -duration; report memory per connection
  client   the full client path through the SDK: -pairs pairs of accounts,
           each with its own SQLite store, send text messages of -size bytes
           in a closed loop (see -duplex, -create-workers); each message
           stored by its recipient is answered with a delivery receipt.
           -duration starts once every pair's first message (the PQXDH
           handshake, reported apart) is in; -devices and -warmup are unused
  fanout   -devices accounts follow a new channel, their WebSockets held by
           -procs follower processes; its owner publishes -posts posts with
           texts of -size bytes, each once every follower has the one before
           (or -drain has passed), or every -interval; it reports deliveries/s
           and the time from each post to its last follower. With -accounts,
           the followers are saved to a file and reused by later runs
  group    a private group of -members accounts made with the SDK (one
           device and SQLite store each; -create-workers at a time): the
           admin, alone in this process, creates it, sends a cold message
           and -messages warm ones of -size bytes, then one with the server
           probed (its /metrics, and its store read-only with -server-data);
           -senders members send, one is removed, and the admin and those
           members send again (each rotating its sender key). The members
           run in -procs member processes (0 = one per 500). -drain bounds
           each step's wait for the members and the receipts. Start parleyd
           with -max-group-members at least -members - 1 (1000 by default)

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	var o options
	fs := flag.NewFlagSet("parley-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&o.server, "server", "http://127.0.0.1:8080", "parleyd's URL; must be a loopback address")
	fs.IntVar(&o.devices, "devices", 200, "accounts to register and connect, one device each")
	fs.IntVar(&o.workers, "workers", 64, "concurrent registrations and connections during setup")
	fs.IntVar(&o.size, "size", 1024, "envelope content (traffic; at least 8) or message text (client; at least 48) in bytes")
	fs.Float64Var(&o.rate, "rate", 0, "total sends per second over all devices; 0 = as fast as -window allows (traffic)")
	fs.IntVar(&o.window, "window", 8, "sends awaiting their SendResult per connection (traffic)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time (traffic, client), or time to hold the connections (idle)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured sending before -duration (traffic)")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "longest wait after sending stops for outstanding results and deliveries (traffic) or delivery receipts (client)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the report as JSON to this file")
	fs.IntVar(&o.pid, "server-pid", 0, "parleyd's pid, to report its resident memory, and its CPU use in client mode (Linux /proc)")
	fs.StringVar(&o.idsPath, "ids", "", "append each acknowledged ClientID (hex, a line each) to this file, and each delivered one to FILE.delivered (traffic)")
	fs.BoolVar(&o.reconnect, "reconnect", false, "reconnect dropped sockets with backoff (100ms to 2s) and resend in-flight sends with the same ClientID (traffic)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "limit on each registration, connection and write; in client mode on each account creation, on connecting all clients, and on each message's send and delivery")
	fs.IntVar(&o.pairs, "pairs", 10, "pairs of accounts (client)")
	fs.BoolVar(&o.duplex, "duplex", false, "both accounts of a pair send, each to the other (client)")
	fs.IntVar(&o.creators, "create-workers", 2, "accounts created at once; each runs Argon2id with 64 MiB (client)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of parley-bench, from setup to the end, to this file")
	fs.DurationVar(&o.every, "progress", 5*time.Second, "interval between progress lines on stderr")
	fs.IntVar(&o.procs, "procs", 0, "follower processes holding the sockets; 0 = one per 5,000 (fanout); member processes, 0 = one per 500 (group)")
	fs.IntVar(&o.posts, "posts", 20, "posts to publish (fanout)")
	fs.DurationVar(&o.interval, "interval", 0, "publish a post every interval; 0 = once every follower has the one before (fanout)")
	fs.StringVar(&o.accounts, "accounts", "", "file of follower credentials to reuse, extended with new ones (fanout)")
	fs.IntVar(&o.members, "members", 1000, "accounts in the group, the admin included (group)")
	fs.IntVar(&o.senders, "senders", 10, "members that send before and after the removal, besides the admin (group)")
	fs.IntVar(&o.recordMembers, "record-members", groupbench.DefaultRecordMembers, "members named by the create record and by each add record that follows (group)")
	fs.IntVar(&o.messages, "messages", 3, "warm messages the admin sends and measures (group)")
	fs.StringVar(&o.serverData, "server-data", "", "parleyd's -data directory, to read what a group send stored, read-only (group)")
	fs.StringVar(&o.memberBinary, "member-binary", "", "the parley-bench binary to run as member processes; \"\" = this one (group)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 || !slices.Contains([]string{"traffic", "idle", "client", "fanout", "group", modeFollower, modeGroupMember}, fs.Arg(0)) {
		fs.Usage()
		return nil, errors.New("give one mode: traffic, idle, client, fanout or group")
	}
	o.mode = fs.Arg(0)
	switch {
	case o.devices < 1 || o.devices > 100_000:
		return nil, errors.New("-devices must be 1 to 100000")
	case o.workers < 1:
		return nil, errors.New("-workers must be at least 1")
	case o.duration <= 0 || o.warmup < 0 || o.drain < 0 || o.timeout <= 0:
		return nil, errors.New("-duration and -timeout must be positive, -warmup and -drain not negative")
	case o.mode == "traffic" && o.devices < 2:
		return nil, errors.New("traffic needs at least 2 -devices (they send in pairs)")
	case o.mode == "traffic" && (o.size < 8 || o.size > api.MaxEnvelope):
		return nil, fmt.Errorf("-size must be 8 to %d bytes (the first 8 hold the send time)", api.MaxEnvelope)
	case o.window < 1 || o.rate < 0:
		return nil, errors.New("-window must be at least 1 and -rate not negative")
	case o.mode == "client" && (o.pairs < 1 || o.pairs > 1000):
		return nil, errors.New("-pairs must be 1 to 1000")
	case o.mode == "client" && (o.size < clientpath.MinSize || o.size > clientpath.MaxSize):
		return nil, fmt.Errorf("-size must be %d to %d bytes in client mode (the first bytes hold a sequence number and the send time)", clientpath.MinSize, clientpath.MaxSize)
	case o.creators < 1:
		return nil, errors.New("-create-workers must be at least 1")
	case o.mode == "fanout" && (o.posts < 1 || o.procs < 0 || o.procs > o.devices || o.interval < 0 || o.drain <= 0):
		return nil, errors.New("fanout needs -posts at least 1, -procs 0 to -devices, -interval not negative and -drain positive")
	case o.mode == "fanout" && o.size > channel.MaxText:
		return nil, fmt.Errorf("-size must be at most %d bytes in fanout mode", channel.MaxText)
	case o.mode == "group" && (o.members < 2 || o.members > 100_000 || o.procs < 0 || o.procs > o.members-1):
		return nil, errors.New("group needs -members 2 to 100000 and -procs 0 to -members - 1")
	case o.mode == "group" && (o.senders < 0 || o.senders > o.members-2 || o.messages < 1 || o.drain <= 0 || o.recordMembers < 1):
		return nil, errors.New("group needs -senders 0 to -members - 2, -messages and -record-members at least 1 and -drain positive")
	case o.mode == "group" && (o.size < groupbench.MinSize || o.size > clientpath.MaxSize):
		return nil, fmt.Errorf("-size must be %d to %d bytes in group mode", groupbench.MinSize, clientpath.MaxSize)
	}
	return &o, checkLoopback(o.server)
}

// checkLoopback refuses any server that is not on this host.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-server %q is not an http:// or https:// URL", raw)
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-server %q: parley-bench only talks to loopback addresses (127.0.0.1, ::1, localhost)", raw)
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	switch o.mode {
	case "client":
		return runClient(ctx, o, stdout, stderr)
	case "fanout":
		return runFanout(ctx, o, stdout, stderr)
	case modeFollower:
		return runFollower(ctx, o, os.Stdin, stdout, stderr)
	case "group":
		return runGroup(ctx, o, stdout, stderr)
	case modeGroupMember:
		// Each member holds a store (three files) and sockets.
		if _, err := raiseNoFile(); err != nil {
			fmt.Fprintf(stderr, "parley-bench: warning: could not raise the open-file limit: %v\n", err)
		}
		return groupbench.Members(ctx, os.Stdin, stdout, stderr)
	}
	if lim, err := raiseNoFile(); err != nil {
		fmt.Fprintf(stderr, "parley-bench: warning: could not raise the open-file limit: %v\n", err)
	} else if uint64(o.devices)+256 > lim {
		fmt.Fprintf(stderr, "parley-bench: warning: %d devices need about %d open files; the limit is %d\n", o.devices, o.devices+256, lim)
	}
	rep := &Report{Mode: o.mode, Server: o.server, Devices: o.devices, Prefix: fleet.RunPrefix()}
	mem := newRSSProbe(o.pid, stderr)
	if err := mem.sample(&mem.rep.Before); err != nil {
		return fmt.Errorf("%w (pass the pid of the parleyd process itself, not of \"go run\")", err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.workers, IdleConnTimeout: 30 * time.Second}}
	cfg := fleet.Config{Client: transport.New(o.server, hc), Devices: o.devices, Workers: o.workers,
		Timeout: o.timeout, Progress: stderr, Every: o.every}

	t0 := time.Now()
	devs, err := fleet.Register(ctx, cfg, rep.Prefix)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	rep.RegisterSeconds = time.Since(t0).Seconds()
	mem.note(&mem.rep.AfterRegister)
	t0 = time.Now()
	err = fleet.Connect(ctx, cfg, devs)
	defer fleet.Close(cfg, devs)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	rep.ConnectSeconds = time.Since(t0).Seconds()
	mem.note(&mem.rep.AfterConnect)
	fmt.Fprintf(stderr, "parley-bench: %d devices registered in %.1fs and connected in %.1fs\n", o.devices, rep.RegisterSeconds, rep.ConnectSeconds)

	if o.mode == "idle" {
		err = runIdle(ctx, o, devs, rep, stderr)
	} else {
		err = runTraffic(ctx, o, devs, rep, stderr)
	}
	mem.note(&mem.rep.End)
	rep.RSS = mem.report(o.devices)
	if werr := rep.write(stdout, o.jsonPath); werr != nil && err == nil {
		err = werr
	}
	return err
}

func runIdle(ctx context.Context, o *options, devs []*fleet.Device, rep *Report, stderr io.Writer) error {
	hctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	wg.Go(func() {
		t := time.NewTicker(o.every)
		defer t.Stop()
		for start := time.Now(); ; {
			select {
			case <-stop:
				return
			case now := <-t.C:
				fmt.Fprintf(stderr, "parley-bench: holding %d connections, %s of %s\n", len(devs), now.Sub(start).Round(time.Second), o.duration)
			}
		}
	})
	rep.Idle = &IdleReport{HeldSeconds: o.duration.Seconds(), Dropped: fleet.Hold(hctx, devs)}
	fmt.Fprintf(stderr, "parley-bench: released the connections in %s\n", time.Since(deadlineOf(hctx)).Round(time.Millisecond))
	return ctx.Err()
}

func runTraffic(ctx context.Context, o *options, devs []*fleet.Device, rep *Report, stderr io.Writer) error {
	cfg := traffic.Config{Size: o.size, Rate: o.rate, Window: o.window, Warmup: o.warmup, Duration: o.duration,
		Drain: o.drain, Reconnect: o.reconnect, Timeout: o.timeout, Progress: stderr, Every: o.every}
	if o.idsPath != "" {
		var err error
		if cfg.Acked, err = traffic.OpenIDLog(o.idsPath); err != nil {
			return err
		}
		defer cfg.Acked.Close()
		if cfg.Delivered, err = traffic.OpenIDLog(o.idsPath + ".delivered"); err != nil {
			return err
		}
		defer cfg.Delivered.Close()
	}
	rep.Params = &Params{Size: o.size, Rate: o.rate, Window: o.window, WarmupSeconds: o.warmup.Seconds(),
		DurationSeconds: o.duration.Seconds(), Reconnect: o.reconnect}
	res, err := traffic.Run(ctx, cfg, devs)
	if res != nil {
		rep.Traffic = newTrafficReport(res)
	}
	return err
}

// runClient is client mode: it needs no fleet of raw devices.
func runClient(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	rep := &Report{Mode: o.mode, Server: o.server, Devices: 2 * o.pairs, Prefix: fleet.RunPrefix()}
	mem := newRSSProbe(o.pid, stderr)
	if err := mem.sample(&mem.rep.Before); err != nil {
		return fmt.Errorf("%w (pass the pid of the parleyd process itself, not of \"go run\")", err)
	}
	cfg := clientpath.Config{Server: o.server, Prefix: rep.Prefix, Pairs: o.pairs, Duplex: o.duplex, Size: o.size,
		Duration: o.duration, Drain: o.drain, Timeout: o.timeout, Creators: o.creators, ServerPID: o.pid,
		Progress: stderr, Every: o.every}
	res, err := clientpath.Run(ctx, cfg)
	if res == nil {
		return fmt.Errorf("setup: %w", err)
	}
	mem.note(&mem.rep.End)
	rep.RegisterSeconds, rep.ConnectSeconds = res.CreateSeconds, res.ConnectSeconds
	rep.Client = newClientReport(res)
	rep.RSS = mem.report(0)
	if werr := rep.write(stdout, o.jsonPath); werr != nil && err == nil {
		err = werr
	}
	return err
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func deadlineOf(ctx context.Context) time.Time { d, _ := ctx.Deadline(); return d }

// modeGroupMember is the hidden mode of group's member processes: this
// binary, run by group itself, never by hand.
const modeGroupMember = "group-member"

// membersPerProc is how many accounts a member process holds when -procs
// is 0.
const membersPerProc = 500

// GroupReport is group mode's report.
type GroupReport struct {
	Mode   string             `json:"mode"`
	Server string             `json:"server"`
	Prefix string             `json:"username_prefix"`
	Group  *groupbench.Result `json:"group"`
}

// runGroup is group mode: the coordinator, which holds the group's admin.
func runGroup(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	exe := o.memberBinary
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("group: finding this binary to run the members: %w", err)
		}
	}
	procs := o.procs
	if procs == 0 {
		procs = min((o.members-1+membersPerProc-1)/membersPerProc, o.members-1)
	}
	spawned := 0 // member processes started, to name their profiles
	rep := &GroupReport{Mode: o.mode, Server: o.server, Prefix: fleet.RunPrefix()}
	cfg := groupbench.Config{Server: o.server, Prefix: rep.Prefix, Members: o.members, Procs: procs,
		Warm: o.messages, Senders: o.senders, RecordMembers: o.recordMembers, Size: o.size, Creators: o.creators, Timeout: o.timeout,
		Wait: o.drain, DataDir: o.serverData, ServerPID: o.pid, Progress: stderr, Every: o.every,
		Member: func(ctx context.Context) *exec.Cmd {
			args := []string{"-server", o.server}
			if o.cpuProfile != "" {
				// Each member process profiles itself beside the
				// coordinator's profile: file.member1, file.member2, ...
				spawned++
				args = append(args, "-cpuprofile", o.cpuProfile+".member"+strconv.Itoa(spawned))
			}
			return exec.CommandContext(ctx, exe, append(args, modeGroupMember)...)
		}}
	res, err := groupbench.Run(ctx, cfg)
	if res == nil {
		return err
	}
	rep.Group = res
	fmt.Fprintf(stdout, "parley-bench group on %s (%s*)\n", rep.Server, rep.Prefix)
	res.WriteText(stdout)
	if o.jsonPath != "" {
		b, jerr := json.MarshalIndent(rep, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(o.jsonPath, append(b, '\n'), 0o644)
		}
		if jerr != nil && err == nil {
			err = fmt.Errorf("writing the JSON report: %w", jerr)
		}
	}
	return err
}
