package main

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/parley-chat/parley/server"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"parleyd": main})
}

// TestScripts runs the scripts in testdata/script against a real server
// on 127.0.0.1 ($PARLEY_SERVER) started with the admin token "tok".
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			ctx := context.Background()
			srv, err := server.New(ctx, server.Config{DataDir: filepath.Join(env.WorkDir, ".server"), AdminToken: "tok",
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, ln) }()
			env.Defer(func() {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				srv.Shutdown(sctx)
				<-done
			})
			env.Setenv("PARLEY_SERVER", "http://"+ln.Addr().String())
			env.Setenv("USER", "olga")
			return nil
		},
	})
}
