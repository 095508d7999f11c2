package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/parley-chat/parley/cmd/parley-bench/internal/fanout"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/fleet"
)

// modeFollower is the hidden mode of fanout's follower processes: this
// binary, run by fanout itself, never by hand.
const modeFollower = "fanout-follower"

// followersPerProc is how many sockets a follower process holds when
// -procs is 0.
const followersPerProc = 5000

// FanoutReport is fanout.Result with its latencies summarised.
type FanoutReport struct {
	*fanout.Result
	DeliveryLatency Latency `json:"delivery"`
	PublishLatency  Latency `json:"publish"`
}

// runFanout is fanout mode: the coordinator.
func runFanout(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("fanout: finding this binary to run the followers: %w", err)
	}
	procs := o.procs
	if procs == 0 {
		procs = (o.devices + followersPerProc - 1) / followersPerProc
	}
	rep := &Report{Mode: o.mode, Server: o.server, Devices: o.devices, Prefix: fleet.RunPrefix()}
	mem := newRSSProbe(o.pid, stderr)
	if err := mem.sample(&mem.rep.Before); err != nil {
		return fmt.Errorf("%w (pass the pid of the parleyd process itself, not of \"go run\")", err)
	}
	cfg := fanout.Config{Server: o.server, Prefix: rep.Prefix, Followers: o.devices, Procs: procs, Posts: o.posts,
		Size: o.size, Interval: o.interval, Wait: o.drain, Workers: o.workers, Timeout: o.timeout,
		Accounts: o.accounts, ServerPID: o.pid, Progress: stderr, Every: o.every,
		Follower: func(ctx context.Context) *exec.Cmd {
			return exec.CommandContext(ctx, exe, "-server", o.server, "-workers", strconv.Itoa(o.workers),
				"-timeout", o.timeout.String(), modeFollower)
		}}
	res, err := fanout.Run(ctx, cfg)
	if res == nil {
		return err
	}
	mem.note(&mem.rep.End)
	rep.RegisterSeconds, rep.ConnectSeconds = res.RegisterSeconds, res.ConnectSeconds
	rep.Fanout = &FanoutReport{Result: res, DeliveryLatency: summarise(res.Delivery), PublishLatency: summarise(res.Publish)}
	rep.RSS = mem.report(0)
	if werr := rep.write(stdout, o.jsonPath); werr != nil && err == nil {
		err = werr
	}
	return err
}

// runFollower is one follower process of fanout mode.
func runFollower(ctx context.Context, o *options, stdin io.Reader, stdout, stderr io.Writer) error {
	if _, err := raiseNoFile(); err != nil {
		fmt.Fprintf(stderr, "parley-bench: warning: could not raise the open-file limit: %v\n", err)
	}
	return fanout.Follow(ctx, fanout.FollowerConfig{Server: o.server, Workers: o.workers, Timeout: o.timeout}, stdin, stdout)
}

func (f *FanoutReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "%d followers (%d newly registered) in %d processes, %d sockets open; %d posts of %d B text (%d B frames); follow %.1fs\n",
		f.Followers, f.Registered, f.Procs, f.Sockets, f.Posts, f.Size, f.FrameBytes, f.FollowSeconds)
	fmt.Fprintf(w, "deliveries: %d of %d expected; %d posts incomplete, %d duplicates, %d unexpected frames, %d sockets lost\n",
		f.Received, f.Expected, f.Incomplete, f.Duplicates, f.Unexpected, f.LostSockets)
	if f.ServerWritten >= 0 {
		fmt.Fprintf(w, "server: %.0f frames taken by sockets, %.0f dropped (full buffers)\n", f.ServerWritten, f.ServerDropped)
	}
	fmt.Fprintf(w, "throughput %.0f deliveries/s (%d over %.3fs of fan-out, summed over posts; window %.2fs)\n",
		f.DeliveriesPerSecond, f.Received, f.FanOutSeconds, f.WindowSeconds)
	fmt.Fprintf(w, "time to last follower (ms): p50 %.1f, p99 %.1f, max %.1f; by post:", f.TimeToLastP50, f.TimeToLastP99, f.TimeToLastMax)
	for _, t := range f.TimeToLast {
		fmt.Fprintf(w, " %.0f", t)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-16s%10s%10s%10s%10s%10s%10s\n", "latency (ms)", "count", "mean", "p50", "p99", "p99.9", "max")
	for _, l := range []struct {
		name string
		l    Latency
	}{{"delivery", f.DeliveryLatency}, {"publish (POST)", f.PublishLatency}} {
		fmt.Fprintf(w, "%-16s%10d%10.3f%10.3f%10.3f%10.3f%10.3f\n", l.name, l.l.Count, l.l.Mean, l.l.P50, l.l.P99, l.l.P999, l.l.Max)
	}
	fmt.Fprintf(w, "CPU in the window: follower processes %.2f cores, coordinator %.2f", f.FollowersCPU, f.BenchCPU)
	if f.ServerCPU > 0 {
		fmt.Fprintf(w, ", parleyd %.2f", f.ServerCPU)
	}
	fmt.Fprintf(w, "; the machine %.2f busy", f.MachineCPU)
	if f.ServerCPU > 0 {
		fmt.Fprintf(w, " (other work %.2f)", max(0, f.MachineCPU-f.ServerCPU-f.FollowersCPU-f.BenchCPU))
	}
	fmt.Fprintln(w)
	if f.ServerCPU > 0 && f.Received > 0 {
		perDelivery := func(cores float64) float64 { return cores * f.WindowSeconds * 1e6 / float64(f.Received) }
		fmt.Fprintf(w, "CPU per delivery: parleyd %.1f µs, follower processes %.1f µs\n", perDelivery(f.ServerCPU), perDelivery(f.FollowersCPU))
	}
	if f.ServerRSSConnected > 0 {
		fmt.Fprintf(w, "server RSS with the sockets open: %s; after the posts: %s\n", mib(f.ServerRSSConnected), mib(f.ServerRSSEnd))
	}
}
