package traffic

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/fleet"
	"github.com/parley-chat/parley/parleytest"
	"github.com/parley-chat/parley/server"
)

func setup(t *testing.T, url string, n int) []*fleet.Device {
	t.Helper()
	ctx := context.Background()
	cfg := fleet.Config{Client: transport.New(url, nil), Devices: n, Workers: 4, Timeout: 10 * time.Second}
	devs, err := fleet.Register(ctx, cfg, fleet.RunPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.Connect(ctx, cfg, devs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close(cfg, devs) })
	return devs
}

func config() Config {
	// No warm-up, so the first sends fall in the measured window however
	// slow the server. Drain ends as soon as everything is in; it is long
	// only so that a loaded machine cannot fail the tests.
	return Config{Size: 64, Window: 4, Duration: 300 * time.Millisecond,
		Drain: 30 * time.Second, Timeout: 10 * time.Second}
}

func TestTraffic(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	devs := setup(t, srv.URL, 5) // the odd fifth device is left alone
	cfg := config()
	cfg.Rate = 400
	res, err := Run(context.Background(), cfg, devs)
	if err != nil {
		t.Fatal(err)
	}
	w := res.Window
	if res.Pairs != 2 || w.Sent == 0 || w.Acked != w.Sent || w.Delivered != w.Sent || w.Lost != 0 {
		t.Fatalf("pairs %d, window %+v: want 2 pairs and every send acknowledged and delivered", res.Pairs, w)
	}
	if res.Total.Sent < w.Sent || len(res.Errors) != 0 || res.DuplicateDeliv != 0 {
		t.Fatalf("total %+v, errors %v, duplicates %d", res.Total, res.Errors, res.DuplicateDeliv)
	}
	if res.SendAck.Count() != w.Sent || res.EndToEnd.Count() != w.Delivered {
		t.Fatalf("latency samples %d and %d, want %d", res.SendAck.Count(), res.EndToEnd.Count(), w.Sent)
	}
	if devs[4].Sock == nil {
		t.Fatal("the unpaired device's socket was taken")
	}
}

// proxy forwards TCP to target until cut closes every open connection.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex // guards conns
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); p.cut(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			wg.Go(func() { io.Copy(s, c); s.Close() })
			wg.Go(func() { io.Copy(c, s); c.Close() })
		}
	})
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func readLines(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		out = append(out, sc.Text())
	}
	return out
}

// TestReconnect cuts every connection mid-run: each device must reconnect
// and every acknowledged ClientID must be delivered.
func TestReconnect(t *testing.T) {
	srv := parleytest.Start(t, server.Config{})
	px := startProxy(t, srv.URL[len("http://"):])
	devs := setup(t, "http://"+px.ln.Addr().String(), 4)
	ids := filepath.Join(t.TempDir(), "ids")
	cfg := config()
	cfg.Duration, cfg.Reconnect = time.Second, true
	var err error
	if cfg.Acked, err = OpenIDLog(ids); err != nil {
		t.Fatal(err)
	}
	if cfg.Delivered, err = OpenIDLog(ids + ".delivered"); err != nil {
		t.Fatal(err)
	}
	// Cut every connection once 20 sends have been acknowledged, so the
	// cut lands mid-run however slow the machine.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if fi, err := os.Stat(ids); err == nil && fi.Size() >= 20*(2*16+1) {
				px.cut()
				return
			}
		}
	})
	res, err := Run(context.Background(), cfg, devs)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Acked.Close()
	cfg.Delivered.Close()
	if res.Reconnects == 0 || res.Errors[errDisconnected] == 0 {
		t.Fatalf("reconnects %d, errors %v: the devices should have reconnected", res.Reconnects, res.Errors)
	}
	if res.Total.Lost != 0 || res.Total.Acked == 0 {
		t.Fatalf("total %+v: every acknowledged envelope must be delivered", res.Total)
	}
	delivered := map[string]bool{}
	for _, id := range readLines(t, ids+".delivered") {
		delivered[id] = true
	}
	acked := readLines(t, ids)
	if uint64(len(acked)) < res.Total.Acked {
		t.Fatalf("%d acknowledged IDs logged, want at least %d", len(acked), res.Total.Acked)
	}
	for _, id := range acked {
		if !delivered[id] {
			t.Fatalf("acknowledged ClientID %s never delivered", id)
		}
	}
}
