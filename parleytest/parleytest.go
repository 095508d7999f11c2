// Package parleytest starts a real parleyd in the test process: an SQLite
// store in the test's temporary directory and an HTTP server on
// 127.0.0.1:0. The server is ready when Start returns and is shut down in
// t.Cleanup.
package parleytest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
)

// Server is a running test server.
type Server struct {
	*server.Server
	URL     string
	DataDir string
}

// Start runs a server with cfg (DataDir defaults to a temporary directory,
// the registration rate to unlimited) until the test ends.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	if cfg.DataDir == "" && cfg.Store == nil {
		cfg.DataDir = t.TempDir()
	}
	if cfg.RegisterRate == 0 {
		cfg.RegisterRate = 1e9
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx := context.Background()
	srv, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	s := &Server{Server: srv, URL: "http://" + ln.Addr().String(), DataDir: cfg.DataDir}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	// The listener is bound, so this request waits in its backlog until
	// Serve accepts it: no polling, no sleeps.
	resp, err := http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatalf("server not ready: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %s", resp.Status)
	}
	return s
}
