// Package procstat reads a process's resident memory and CPU time, and
// the whole machine's CPU time, from Linux's /proc, so the bench can
// report what each connection costs the server, which process uses the
// CPU, and how much of it other work on a shared machine took.
package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
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

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for user space whatever the kernel's tick rate.
const userHZ = 100

// CPU returns the CPU time, user plus system, that process pid has used.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("procstat: reading stat of pid %d: %w", pid, err)
	}
	return parseCPU(b)
}

// parseCPU reads utime and stime, fields 14 and 15 of /proc/<pid>/stat.
// Field 2, the command name in parentheses, may hold spaces and
// parentheses itself, so fields are counted from the last ')'.
func parseCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("procstat: stat has no command name")
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("procstat: stat has %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: stat CPU time: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// MachineBusy returns the CPU time all CPUs have spent busy since boot:
// user, nice, system, irq, softirq and steal time, not idle or iowait.
func MachineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("procstat: reading /proc/stat: %w", err)
	}
	return parseBusy(b)
}

// parseBusy reads the first line of /proc/stat, "cpu  user nice system
// idle iowait irq softirq steal guest guest_nice" (guest time is already
// counted in user).
func parseBusy(stat []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("procstat: unexpected first line of /proc/stat %q", line)
	}
	var ticks int64
	for i, s := range f[1:9] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: /proc/stat: %w", err)
		}
		if i != 3 && i != 4 { // idle, iowait
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
