// Package procstat reads a process's resident memory from Linux's /proc,
// so the bench can report what each connection costs the server.
package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// ErrNoRSS is returned (wrapped) when /proc/<pid>/status has no VmRSS line,
// as for a zombie process.
var ErrNoRSS = errors.New("procstat: no VmRSS")

// RSS returns the resident set size of process pid, in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("procstat: reading status of pid %d: %w", pid, err)
	}
	return parseRSS(b)
}

// parseRSS finds "VmRSS:   12345 kB" in the text of /proc/<pid>/status.
func parseRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("procstat: unexpected VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: VmRSS: %w", err)
		}
		return kb << 10, nil
	}
	return 0, ErrNoRSS
}
