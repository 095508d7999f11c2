package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/parley-chat/parley/parleytest"
)

// TestSIGTERMShutsDownCleanly runs the real binary with its defaults (in a
// temporary working directory), checks it serves, sends SIGTERM, and
// requires a clean exit: status 0, the shutdown logged, and the SQLite
// write-ahead log checkpointed away by the store's close.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := parleytest.BuildBinary(t, ".", "parleyd")
	addr := parleytest.FreeAddr(t)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PARLEY_LISTEN="+addr)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !parleytest.WaitReady("http://" + addr) {
		cmd.Process.Kill()
		t.Fatalf("parleyd never became ready:\n%s", logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "shutting down") || !strings.Contains(logs.String(), "url=http://"+addr) {
		t.Fatalf("logs:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "parley-data", "parley.db")); err != nil {
		t.Fatalf("data not in ./parley-data: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "parley-data", "parley.db-wal")); !os.IsNotExist(err) {
		t.Fatalf("write-ahead log left behind (store not closed cleanly): %v", err)
	}
}

// TestListenFirst: with the address taken, parleyd fails at once, saying
// so, and without having created or migrated a data directory.
func TestListenFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(parleytest.BuildBinary(t, ".", "parleyd"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PARLEY_LISTEN="+ln.Addr().String())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("parleyd served on a taken address:\n%s", out)
	}
	if !strings.Contains(string(out), "address already in use") || !strings.Contains(string(out), "-listen") {
		t.Errorf("output does not say the address is taken and what to do:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "parley-data")); !os.IsNotExist(err) {
		t.Errorf("parleyd made its data directory before it could listen: %v", err)
	}
}
