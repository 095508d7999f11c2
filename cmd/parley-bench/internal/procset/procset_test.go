package procset

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test binary is its own helper process when helperEnv is set: it
// answers its first line with "got LINE", each "say X" with "X", and the
// end of its stdin with "bye".
const helperEnv = "PROCSET_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		sc := bufio.NewScanner(os.Stdin)
		first := true
		for sc.Scan() {
			if first {
				fmt.Println("got " + sc.Text())
				first = false
				continue
			}
			if x, ok := strings.CutPrefix(sc.Text(), "say "); ok {
				fmt.Println(x)
			}
		}
		fmt.Println("bye")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helper(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	return cmd
}

// TestSet: three processes each get their first line and answer it; a
// line told to one reaches that one only; Finish sees every stdout end.
func TestSet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, "helper process", helper, [][]byte{[]byte("a"), []byte("b"), []byte("c")}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Kill()
	if s.Len() != 3 {
		t.Fatalf("Len = %d", s.Len())
	}
	var seen []string
	handle := func(l Line) error {
		if l.Err != nil {
			return l.Err
		}
		seen = append(seen, fmt.Sprintf("%d:%s:%s", l.Proc, l.Word, l.Arg))
		return nil
	}
	has := func(want string) func() bool {
		return func() bool {
			for _, s := range seen {
				if s == want {
					return true
				}
			}
			return false
		}
	}
	for i, w := range []string{"a", "b", "c"} {
		if ok, err := s.Wait(ctx, time.Time{}, nil, handle, has(fmt.Sprintf("%d:got:%s", i, w))); !ok || err != nil {
			t.Fatalf("process %d never answered its first line: %v (saw %q)", i, err, seen)
		}
	}
	if err := s.Tell(1, "say hello world"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Wait(ctx, time.Time{}, nil, handle, has("1:hello:world")); !ok || err != nil {
		t.Fatalf("the told line: %v (saw %q)", err, seen)
	}
	// A deadline that passes first ends a wait that is not done.
	if ok, err := s.Wait(ctx, time.Now().Add(50*time.Millisecond), nil, handle, func() bool { return false }); ok || err != nil {
		t.Fatalf("Wait past its deadline = %v, %v", ok, err)
	}
	if err := s.Finish(ctx, handle); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if !has(fmt.Sprintf("%d:bye:", i))() || !has(fmt.Sprintf("%d::", i))() {
			t.Fatalf("process %d: no bye or no end of stdout in %q", i, seen)
		}
	}
	for _, l := range seen {
		if strings.HasPrefix(l, "0:hello") || strings.HasPrefix(l, "2:hello") {
			t.Fatalf("a line told to process 1 reached another: %q", l)
		}
	}
}
