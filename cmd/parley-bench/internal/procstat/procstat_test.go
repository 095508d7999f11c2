package procstat

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseRSS(t *testing.T) {
	got, err := parseRSS([]byte("Name:\tparleyd\nVmPeak:\t  999 kB\nVmRSS:\t   1234 kB\nThreads:\t8\n"))
	if err != nil || got != 1234<<10 {
		t.Fatalf("parseRSS = %d, %v; want %d", got, err, 1234<<10)
	}
	if _, err := parseRSS([]byte("Name:\tzombie\nState:\tZ\n")); !errors.Is(err, ErrNoRSS) {
		t.Fatalf("no VmRSS line: err = %v, want ErrNoRSS", err)
	}
}

func TestRSSSelf(t *testing.T) {
	n, err := RSS(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if n <= 0 {
		t.Fatalf("own RSS = %d", n)
	}
}

func TestParseCPU(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250, stime 50.
	stat := "4242 (park (x) d) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 100 1000 200\n"
	got, err := parseCPU([]byte(stat))
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"4242 parleyd S 1", "4242 (parleyd) S 1 2 3", "4242 (p) S 1 4242 4242 0 -1 4194560 900 0 0 0 x 50 0"} {
		if _, err := parseCPU([]byte(bad)); err == nil {
			t.Errorf("parseCPU(%q) succeeded", bad)
		}
	}
}

func TestCPUSelf(t *testing.T) {
	if _, err := CPU(os.Getpid()); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
}

func TestParseBusy(t *testing.T) {
	// user 100, nice 20, system 30, idle 1000, iowait 50, irq 1, softirq 2, steal 7.
	got, err := parseBusy([]byte("cpu  100 20 30 1000 50 1 2 7 0 0\ncpu0 50 10 15 500 25 0 1 3 0 0\n"))
	if err != nil || got != 1600*time.Millisecond {
		t.Fatalf("parseBusy = %v, %v; want 1.6s", got, err)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu  1 2 3", "cpu  1 2 3 4 5 6 x 8"} {
		if _, err := parseBusy([]byte(bad)); err == nil {
			t.Errorf("parseBusy(%q) succeeded", bad)
		}
	}
}

func TestMachineBusy(t *testing.T) {
	if _, err := MachineBusy(); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
}
