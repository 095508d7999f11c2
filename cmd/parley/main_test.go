package main

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/parley-chat/parley/cmd/parley/internal/cli"
	"github.com/parley-chat/parley/server"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"parley": func() {
			os.Exit(cli.Main(context.Background(), os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}))
		},
	})
}

// TestScripts runs the CLI scripts in testdata/script. Each script gets
// its own real server on 127.0.0.1 ($PARLEY_SERVER) and a passphrase in
// $PARLEY_PASSPHRASE; it picks a user with `env PARLEY_HOME=$WORK/name`.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(*testscript.TestScript, bool, []string){"randfile": randFile, "setmatch": setMatch,
			"setquoted": setQuoted, "nocontrol": noControl, "flipbyte": flipByte, "status": exitStatus},
		Setup: func(env *testscript.Env) error {
			url, stop, err := startServer(filepath.Join(env.WorkDir, ".server"))
			if err != nil {
				return err
			}
			env.Defer(stop)
			env.Setenv("PARLEY_SERVER", url)
			env.Setenv("PARLEY_PASSPHRASE", "correct horse battery staple")
			return nil
		},
	})
}

// randFile: randfile NAME SIZE writes SIZE pseudo-random bytes to NAME.
func randFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: randfile NAME SIZE")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
}

// exitStatus: status N PROGRAM ARGS... runs PROGRAM as exec does, keeping
// its stdout and stderr for the next commands, and fails unless it exits
// with status N.
func exitStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// flipByte: flipbyte FILE OFFSET flips the low bit of the byte at OFFSET
// (negative: from the end).
func flipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	at, err := strconv.Atoi(args[1])
	ts.Check(err)
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	if at < 0 {
		at += len(b)
	}
	if at < 0 || at >= len(b) {
		ts.Fatalf("%s has %d bytes, no byte at %s", args[0], len(b), args[1])
	}
	b[at] ^= 1
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o600))
}

// setMatch: setmatch VAR REGEXP FILE sets $VAR to the first group of
// REGEXP's first match in FILE (stdout, stderr or a file).
func setMatch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setmatch VAR REGEXP FILE")
	}
	text := ts.ReadFile(args[2])
	m := regexp.MustCompile(`(?m)` + args[1]).FindStringSubmatch(text)
	if len(m) < 2 {
		ts.Fatalf("no match for %q in %s", args[1], args[2])
	}
	ts.Setenv(args[0], m[1])
}

// setQuoted: setquoted VAR STRING sets $VAR to STRING read as a Go string
// literal without its quotes, so a script can hold escape sequences:
// setquoted EVIL '\x1b]52;c;eA==\x07'.
func setQuoted(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: setquoted VAR STRING")
	}
	s, err := strconv.Unquote(`"` + strings.ReplaceAll(args[1], `"`, `\"`) + `"`)
	ts.Check(err)
	ts.Setenv(args[0], s)
}

// noControl: nocontrol FILE fails if FILE (stdout, stderr or a file)
// holds anything a terminal acts on or that reorders text: a C0 control
// but the newline, DEL, a C1 control, a bidirectional control, or bytes
// that are not UTF-8.
func noControl(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: nocontrol FILE")
	}
	text := ts.ReadFile(args[0])
	if !utf8.ValidString(text) {
		ts.Fatalf("%s is not UTF-8", args[0])
	}
	for i, r := range text {
		switch {
		case r == '\n':
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f,
			r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			ts.Fatalf("%s holds U+%04X at byte %d: %q", args[0], r, i, text)
		}
	}
}

// startServer runs a parleyd in this process, as parleytest.Start does for
// a *testing.T.
func startServer(dir string) (url string, stop func(), err error) {
	ctx := context.Background()
	srv, err := server.New(ctx, server.Config{DataDir: dir, RegisterRate: 1e9, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}, nil
}
