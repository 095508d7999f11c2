// Package fanout measures a channel's live fan-out (spec/api.md §11.6):
// one post offered to every online follower's WebSocket.
//
// The coordinator (Run) registers the follower accounts (or reuses those
// an earlier run saved), creates a fresh channel, has every account follow
// it, and starts follower processes (Follow: this binary again, in its
// follower mode), each holding one WebSocket per account, so the sockets
// are spread over several processes and none shares the server's. Once
// every socket has read its queue, the coordinator publishes posts, one
// at a time, noting the time of each just before its POST; the followers
// note the time each Channel frame arrives (all processes read the same
// clock). A post's time to the last follower is the latest arrival minus
// its publish time.
//
// Followers do not verify the records' signatures, as a real client would:
// that is the client's CPU, and it would share this machine with the
// server's.
package fanout

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/fleet"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/latency"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/procstat"
	"github.com/parley-chat/parley/internal/channel"
)

// Config is one run.
type Config struct {
	Server    string // parleyd's base URL
	Prefix    string // of the usernames and the channel's handle; "" for a fresh one
	Followers int
	Procs     int // follower processes; each holds Followers/Procs sockets, give or take one
	Posts     int
	Size      int // bytes of text per post
	// Interval, if not 0, publishes a post every Interval; with 0, each
	// post follows once every follower has the one before, or Wait has
	// passed.
	Interval time.Duration
	Wait     time.Duration // longest wait for a post to reach every follower
	Workers  int           // registrations, follows and connections at once
	Timeout  time.Duration // per registration, follow, connection and POST
	// Accounts, if set, is a file of follower credentials, one JSON
	// object a line: those in it are used first, and new ones added.
	Accounts string
	// Follower returns the command of one follower process, which runs
	// Follow; Run sets its stdin, stdout and stderr.
	Follower func(ctx context.Context) *exec.Cmd
	// ServerPID, if not 0, is parleyd's pid, to report its CPU use.
	ServerPID int
	Progress  io.Writer // progress lines; nil for none
	Every     time.Duration
}

// Result is what a run measured.
type Result struct {
	Followers  int `json:"followers"`
	Procs      int `json:"processes"`
	Registered int `json:"registered"` // of Followers, new this run; the others were reused
	Posts      int `json:"posts"`
	Size       int `json:"text_bytes"`
	FrameBytes int `json:"frame_bytes"` // one Channel frame

	RegisterSeconds float64 `json:"register_seconds"`
	FollowSeconds   float64 `json:"follow_seconds"`
	ConnectSeconds  float64 `json:"connect_seconds"` // until every socket had read its queue

	Stats
	// ServerWritten and ServerDropped are the server's count of Channel
	// frames taken by sockets' buffers and dropped for full ones
	// (parley_channel_frames_total) during the posts; -1 if /metrics
	// could not be read.
	ServerWritten float64 `json:"server_written"`
	ServerDropped float64 `json:"server_dropped"`
	WindowSeconds float64 `json:"window_seconds"` // first publish to the end of the last wait
	// CPU in the window, in cores: parleyd (with ServerPID), the follower
	// processes together, and this process.
	ServerCPU    float64 `json:"server_cpu_cores,omitempty"`
	FollowersCPU float64 `json:"followers_cpu_cores"`
	BenchCPU     float64 `json:"bench_cpu_cores"`
	// MachineCPU is the whole machine's busy CPU in the window, in cores:
	// on a shared machine, what the processes above did not use is other
	// work's. (The followers' CPU runs from their "ready" to the stop, a
	// little longer than the window.)
	MachineCPU float64 `json:"machine_cpu_cores"`
	// parleyd's resident memory (with ServerPID) once every socket is
	// open, and after the posts.
	ServerRSSConnected int64 `json:"server_rss_connected,omitempty"`
	ServerRSSEnd       int64 `json:"server_rss_end,omitempty"`
	// Publish is the POST's round trip; the server answers after offering
	// the frame to every socket.
	Publish *latency.Histogram `json:"-"`
}

// run is the state of one run.
type run struct {
	cfg      Config
	prefix   string
	anon     *transport.Client
	hc       *http.Client
	progress io.Writer // cfg.Progress made safe for concurrent writes, or io.Discard
}

// Run registers, follows, connects, publishes cfg.Posts posts and
// collects what the followers saw. It ends the follower processes before
// it returns.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	switch {
	case cfg.Followers < 1 || cfg.Procs < 1 || cfg.Procs > cfg.Followers:
		return nil, fmt.Errorf("fanout: %d followers in %d processes", cfg.Followers, cfg.Procs)
	case cfg.Posts < 1 || cfg.Size < 0 || cfg.Size > channel.MaxText:
		return nil, fmt.Errorf("fanout: %d posts of %d bytes", cfg.Posts, cfg.Size)
	case cfg.Follower == nil || cfg.Workers < 1 || cfg.Timeout <= 0 || cfg.Wait <= 0:
		return nil, fmt.Errorf("fanout: incomplete configuration")
	}
	r := &run{cfg: cfg, prefix: cfg.Prefix, progress: io.Discard}
	if r.prefix == "" {
		r.prefix = fleet.RunPrefix()
	}
	if cfg.Progress != nil {
		r.progress = &syncWriter{w: cfg.Progress}
	}
	r.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Workers, IdleConnTimeout: 30 * time.Second}}
	r.anon = transport.New(cfg.Server, r.hc)
	res := &Result{Followers: cfg.Followers, Procs: cfg.Procs, Posts: cfg.Posts, Size: cfg.Size}

	t0 := time.Now()
	creds, registered, err := r.followers(ctx)
	if err != nil {
		return nil, err
	}
	res.Registered, res.RegisterSeconds = registered, time.Since(t0).Seconds()
	pub, err := r.createChannel(ctx)
	if err != nil {
		return nil, err
	}
	t0 = time.Now()
	if err := r.follow(ctx, creds, pub.handle); err != nil {
		return nil, err
	}
	res.FollowSeconds = time.Since(t0).Seconds()
	fmt.Fprintf(r.progress, "parley-bench: %d followers (%d new) of %s; registered in %.1fs, followed in %.1fs\n",
		len(creds), registered, pub.handle, res.RegisterSeconds, res.FollowSeconds)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 = time.Now()
	cs, err := spawn(ctx, cfg.Follower, split(creds, cfg.Procs), r.progress)
	if cs != nil {
		defer cs.kill()
	}
	if err != nil {
		return nil, err
	}
	if _, err := cs.wait(ctx, time.Time{}, cs.allReady); err != nil {
		return nil, fmt.Errorf("fanout: connecting: %w", err)
	}
	res.ConnectSeconds = time.Since(t0).Seconds()
	res.ServerRSSConnected = r.rss()
	fmt.Fprintf(r.progress, "parley-bench: %d sockets in %d processes connected in %.1fs\n", len(creds), cfg.Procs, res.ConnectSeconds)

	posts, frameBytes, window, err := r.publish(ctx, pub, cs, res)
	if err != nil {
		return nil, err
	}
	res.FrameBytes, res.WindowSeconds = frameBytes, window.Seconds()
	res.ServerRSSEnd = r.rss()
	reps, err := cs.finish(ctx)
	if err != nil {
		return nil, err
	}
	res.Stats = summarise(posts, reps)
	var cpu time.Duration
	for _, rep := range reps {
		cpu += rep.CPU
	}
	if window > 0 {
		res.FollowersCPU = float64(cpu) / float64(window)
	}
	return res, nil
}

// publish posts cfg.Posts posts and waits for them to arrive. It returns
// the posts, the size of a Channel frame and the measured window, and sets
// the server's counters and the CPU figures in res.
func (r *run) publish(ctx context.Context, pub *publisher, cs *children, res *Result) ([]post, int, time.Duration, error) {
	text := strings.Repeat("fan-out ", r.cfg.Size/8+1)[:r.cfg.Size]
	written0, dropped0, merr := r.frameCounts(ctx)
	cpu0 := r.cpu()
	res.Publish = latency.New()
	var posts []post
	var frameBytes int
	start := time.Now()
	for i := range r.cfg.Posts {
		if r.cfg.Interval > 0 {
			if _, err := cs.wait(ctx, start.Add(time.Duration(i)*r.cfg.Interval), never); err != nil {
				return nil, 0, 0, err
			}
		}
		rec, err := pub.sign(&channel.Record{Kind: channel.KindPost, Text: text})
		if err != nil {
			return nil, 0, 0, err
		}
		pctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		at := time.Now()
		pr, err := pub.c.PostRecord(pctx, pub.handle, rec)
		took := time.Since(at)
		cancel()
		if err != nil {
			return nil, 0, 0, fmt.Errorf("fanout: publishing post %d: %w", i+1, err)
		}
		res.Publish.Record(took)
		frameBytes = len(api.AppendFrame(nil, &api.Frame{Type: api.FrameChannel, Seq: pr.Seq, Channel: pub.handle, Record: rec}))
		posts = append(posts, post{Seq: pr.Seq, At: at.UnixNano()})
		if r.cfg.Interval == 0 {
			if _, err := cs.wait(ctx, time.Now().Add(r.cfg.Wait), cs.has(pr.Seq)); err != nil {
				return nil, 0, 0, err
			}
		}
	}
	if _, err := cs.wait(ctx, time.Now().Add(r.cfg.Wait), cs.hasAll(posts)); err != nil {
		return nil, 0, 0, err
	}
	window := time.Since(start)
	written1, dropped1, merr1 := r.frameCounts(ctx)
	if merr == nil && merr1 == nil {
		res.ServerWritten, res.ServerDropped = written1-written0, dropped1-dropped0
	} else {
		res.ServerWritten, res.ServerDropped = -1, -1
		fmt.Fprintf(r.progress, "parley-bench: warning: server counters: %v %v\n", merr, merr1)
	}
	cpu1 := r.cpu()
	if cpu0.ok && cpu1.ok {
		res.BenchCPU = float64(cpu1.bench-cpu0.bench) / float64(window)
		res.ServerCPU = float64(cpu1.server-cpu0.server) / float64(window)
		res.MachineCPU = float64(cpu1.machine-cpu0.machine) / float64(window)
	}
	return posts, frameBytes, window, nil
}

func never() bool { return false }

// has reports whether every child has seq on every socket.
func (cs *children) has(seq uint64) func() bool {
	return func() bool { return cs.all[seq] == len(cs.list) }
}

func (cs *children) hasAll(posts []post) func() bool {
	return func() bool {
		for _, p := range posts {
			if cs.all[p.Seq] != len(cs.list) {
				return false
			}
		}
		return true
	}
}

type cpuSample struct {
	bench, server, machine time.Duration
	ok                     bool
}

func (r *run) cpu() cpuSample {
	var s cpuSample
	var err error
	if s.bench, err = procstat.CPU(os.Getpid()); err != nil {
		return s
	}
	if s.machine, err = procstat.MachineBusy(); err != nil {
		return s
	}
	if r.cfg.ServerPID != 0 {
		if s.server, err = procstat.CPU(r.cfg.ServerPID); err != nil {
			return s
		}
	}
	s.ok = true
	return s
}

// rss is parleyd's resident memory, or 0 if unknown.
func (r *run) rss() int64 {
	if r.cfg.ServerPID == 0 {
		return 0
	}
	n, _ := procstat.RSS(r.cfg.ServerPID)
	return n
}

// frameCounts reads the server's channel frame counters.
func (r *run) frameCounts(ctx context.Context) (written, dropped float64, err error) {
	mctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(mctx, http.MethodGet, strings.TrimRight(r.cfg.Server, "/")+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("fanout: reading /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("fanout: reading /metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("fanout: reading /metrics: %w", err)
	}
	return counters(string(b))
}

// split deals creds into n nearly equal parts.
func split(creds []api.Credentials, n int) [][]api.Credentials {
	parts := make([][]api.Credentials, n)
	for i := range n {
		parts[i] = creds[i*len(creds)/n : (i+1)*len(creds)/n]
	}
	return parts
}

// syncWriter serialises writes from several goroutines (the children's
// stderr copiers and progress lines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
