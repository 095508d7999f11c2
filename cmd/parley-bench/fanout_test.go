package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/parley-chat/parley/parleytest"
)

// TestMain lets the test binary stand in for parley-bench as fanout's
// follower processes: fanout re-runs its own executable with the mode
// last on the command line.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[len(os.Args)-1] == modeFollower {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestFanout runs fanout mode end to end against parleyd in its own
// process: 200 followers in 2 follower processes, 3 posts. Every follower
// must get every post live, none dropped. A second run reuses the saved
// accounts.
func TestFanout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs parleyd")
	}
	dir := t.TempDir()
	parleyd := parleytest.BuildBinary(t, "../parleyd", "parleyd")
	addr := parleytest.FreeAddr(t)
	srv := exec.Command(parleyd, "-data", filepath.Join(dir, "data"), "-listen", addr, "-register-rate", "1000000")
	srvLog := &bytes.Buffer{}
	srv.Stderr = srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
		if t.Failed() {
			t.Logf("parleyd:\n%s", srvLog)
		}
	})
	if !parleytest.WaitReady("http://" + addr) {
		t.Fatal("parleyd did not become ready")
	}
	accounts := filepath.Join(dir, "accounts")
	for i, wantNew := range []int{200, 0} {
		jsonPath := filepath.Join(dir, "report"+strconv.Itoa(i)+".json")
		var out, errs bytes.Buffer
		args := []string{"-server", "http://" + addr, "-server-pid", strconv.Itoa(srv.Process.Pid),
			"-devices", "200", "-procs", "2", "-posts", "3", "-size", "100", "-workers", "16",
			"-accounts", accounts, "-json", jsonPath, "fanout"}
		if err := run(context.Background(), args, &out, &errs); err != nil {
			t.Fatalf("run %d: parley-bench: %v\n%s%s", i, err, out.String(), errs.String())
		}
		t.Log(out.String())
		b, err := os.ReadFile(jsonPath)
		if err != nil {
			t.Fatal(err)
		}
		var rep Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		f := rep.Fanout
		switch {
		case f == nil || f.Result == nil:
			t.Fatalf("run %d: no fan-out report in %s", i, b)
		case f.Registered != wantNew || f.Sockets != 200 || f.Procs != 2:
			t.Errorf("run %d: %d new accounts, %d sockets in %d processes; want %d new, 200 in 2", i, f.Registered, f.Sockets, f.Procs, wantNew)
		case f.Expected != 600 || f.Received != 600 || f.Incomplete != 0 || f.Duplicates != 0 || f.Unexpected != 0 || f.LostSockets != 0:
			t.Errorf("run %d: %+v: want all 600 deliveries, nothing else", i, f.Stats)
		case f.ServerWritten != 600 || f.ServerDropped != 0:
			t.Errorf("run %d: the server counted %g frames written and %g dropped; want 600 and 0", i, f.ServerWritten, f.ServerDropped)
		case f.DeliveriesPerSecond <= 0 || len(f.TimeToLast) != 3 || f.DeliveryLatency.Count != 600 || f.PublishLatency.Count != 3:
			t.Errorf("run %d: %g deliveries/s, times to last %v, %d delivery and %d publish latencies",
				i, f.DeliveriesPerSecond, f.TimeToLast, f.DeliveryLatency.Count, f.PublishLatency.Count)
		}
		if t.Failed() {
			t.Log(errs.String())
			return
		}
	}
}
