// Command parley is Parley's command-line client and terminal UI. Run
// `parley --help` for the commands; internal/cli holds them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/parley-chat/parley/cmd/parley/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
