package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

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
