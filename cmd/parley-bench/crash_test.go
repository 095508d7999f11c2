package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/parleytest"
)

// TestCrashDeliversEveryAcknowledgedEnvelope is the crash test of issue 3:
// while parley-bench sends, parleyd is killed with SIGKILL and restarted on
// the same data; the clients reconnect and resend what was in flight with
// the same ClientIDs. Every envelope the server acknowledged must then be
// delivered, exactly once after dedup by ClientID.
func TestCrashDeliversEveryAcknowledgedEnvelope(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two binaries for ~20 s")
	}
	dir := t.TempDir()
	parleyd := parleytest.BuildBinary(t, "../parleyd", "parleyd")
	bench := parleytest.BuildBinary(t, ".", "parley-bench")
	addr := parleytest.FreeAddr(t)
	data := filepath.Join(dir, "data")
	start := func() *exec.Cmd {
		cmd := exec.Command(parleyd, "-data", data, "-listen", addr, "-register-rate", "100000")
		cmd.Stderr = &bytes.Buffer{}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if !parleytest.WaitReady("http://" + addr) {
			t.Fatal("parleyd did not become ready")
		}
		return cmd
	}
	srv := start()
	ids := filepath.Join(dir, "ids")
	var benchOut bytes.Buffer
	load := exec.Command(bench, "-server", "http://"+addr, "-devices", "20", "-rate", "400",
		"-warmup", "1s", "-duration", "12s", "-drain", "15s", "-reconnect", "-ids", ids, "traffic")
	load.Stdout, load.Stderr = &benchOut, &benchOut
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	// Let traffic flow, then kill the server mid-stream and restart it.
	time.Sleep(5 * time.Second)
	acked := countLines(t, ids)
	if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Wait()
	time.Sleep(500 * time.Millisecond)
	srv = start()
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	if err := load.Wait(); err != nil {
		t.Fatalf("parley-bench: %v\n%s", err, benchOut.String())
	}
	if acked == 0 {
		t.Fatalf("nothing was acknowledged before the kill: the test tested nothing\n%s", benchOut.String())
	}
	sent := readSet(t, ids)
	delivered := readCounts(t, ids+".delivered")
	var lost, repeats int
	for id := range sent {
		if delivered[id] == 0 {
			lost++
		}
	}
	for _, n := range delivered {
		repeats += n - 1
	}
	t.Logf("acknowledged %d (%d before the kill), delivered %d distinct, %d repeated deliveries deduplicated by ClientID",
		len(sent), acked, len(delivered), repeats)
	if lost > 0 {
		t.Fatalf("%d acknowledged envelopes were never delivered\n%s", lost, benchOut.String())
	}
}

func countLines(t *testing.T, path string) int { return len(readSet(t, path)) }

func readSet(t *testing.T, path string) map[string]bool {
	s := map[string]bool{}
	for id := range readCounts(t, path) {
		s[id] = true
	}
	return s
}

func readCounts(t *testing.T, path string) map[string]int {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[string]int{}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			m[line]++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", path, err))
	}
	return m
}
