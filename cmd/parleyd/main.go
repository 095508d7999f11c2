// Command parleyd runs the Parley server. With no flags it listens on
// 127.0.0.1:8080 and keeps its data in ./parley-data (embedded SQLite).
// Run "parleyd -h" for the flags; each also reads a PARLEY_* variable.
// "parleyd invite [-data DIR]" prints a single-use invite code for
// invite-only servers; "parleyd admin ..." moderates channels (admin.go).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/parley-chat/parley/server"
)

func main() {
	run := run
	if len(os.Args) > 1 && os.Args[1] == "admin" {
		run = func() error { return admin(os.Args[2:], os.Getenv, os.Stdout) }
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "parleyd:", err)
		os.Exit(1)
	}
}

func run() error {
	args, invite := os.Args[1:], len(os.Args) > 1 && os.Args[1] == "invite"
	if invite {
		args = args[1:]
	}
	flags, err := server.ParseFlags(args, os.Getenv)
	if errors.Is(err, server.ErrHelp) {
		server.Usage(os.Stdout, os.Getenv)
		return nil
	} else if err != nil {
		return err
	}
	if invite {
		code, err := server.CreateInvite(context.Background(), flags.Config.DataDir)
		if err == nil {
			fmt.Println(code)
		}
		return err
	}
	flags.Config.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// Listen first: a taken address fails before the data is touched.
	ln, err := net.Listen("tcp", flags.Listen)
	if err != nil {
		return fmt.Errorf("%w\n  → is another parleyd running? Stop it, or choose another -listen address", err)
	}
	defer ln.Close()
	srv, err := server.New(ctx, flags.Config)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background(), ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	flags.Config.Logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
