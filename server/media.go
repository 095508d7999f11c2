package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-chat/parley/server/blob"
	"github.com/parley-chat/parley/server/blob/local"
	"github.com/parley-chat/parley/server/httpapi"
)

// Media (spec/api.md §10): the blob store, upload bodies, and the
// janitor's media pass.

// openBlobs returns the blob store the config names: cfg.Blobs, or local
// files in DataDir/blobs, or nil (no media) when there is neither.
func openBlobs(cfg Config) (blob.Store, error) {
	if cfg.Blobs != nil {
		return cfg.Blobs, nil
	}
	if cfg.DataDir == "" {
		return nil, nil
	}
	b, err := local.Open(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return b, nil
}

// limitBodies caps every request body at n bytes, as http.MaxBytesHandler
// does, except upload chunks (PATCH /v1/uploads/{id}): the API streams
// those to disk, bounds each by the rest of its upload, and keeps their
// connection's read deadline moving while bytes arrive.
func limitBodies(h http.Handler, n int64) http.Handler {
	limited := http.MaxBytesHandler(h, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/v1/uploads/") {
			h.ServeHTTP(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	})
}

// SweepMedia runs the janitor's media pass as if at now: it deletes the
// uploads in progress and the blobs that have expired, bytes and rows (see
// httpapi.Handler.SweepMedia). The janitor calls it every minute; tests
// call it to move time on.
func (s *Server) SweepMedia(ctx context.Context, now time.Time) (httpapi.SweepStats, error) {
	return s.api.SweepMedia(ctx, now)
}

// sweepMedia is the janitor's media pass, bounded and logged.
func (s *Server) sweepMedia(now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.SweepMedia(ctx, now)
	if err != nil {
		s.log.Warn("deleting expired media", slog.String("err", err.Error()))
	}
	if st != (httpapi.SweepStats{}) {
		s.log.Info("deleted expired media", slog.Int("uploads", st.Uploads), slog.Int("blobs", st.Blobs), slog.Int("orphans", st.Orphans))
	}
}
