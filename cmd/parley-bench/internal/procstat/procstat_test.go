package procstat

import (
	"errors"
	"os"
	"testing"
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
