package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-chat/parley/server/blob/local"
	"github.com/parley-chat/parley/server/store/sqlite"
)

// TestPosterQueueBounds: at most posterWorkers ffmpeg processes run, at
// most posterQueue videos wait and the rest are dropped, and StopPosters
// kills the processes, ends the workers and refuses more. The ffmpeg here
// is a stand-in that notes its start and blocks.
func TestPosterQueueBounds(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	ffmpeg := filepath.Join(dir, "ffmpeg")
	script := fmt.Sprintf("#!/bin/sh\necho started >> %q\nexec sleep 600\n", started)
	if err := os.WriteFile(ffmpeg, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, err := local.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	h := New(Options{Store: st, Blobs: blobs, FFmpeg: ffmpeg})

	video := func(i int) string {
		b := fmt.Appendf(nil, "video %d", i)
		sum := sha256.Sum256(b)
		name := hex.EncodeToString(sum[:])
		if err := blobs.Create(t.Context(), name, int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		return name
	}
	for i := range posterWorkers {
		h.queuePoster(posterJob{video: video(i), at: time.Second})
	}
	// Hang guard only: both stand-ins start.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for {
		b, _ := os.ReadFile(started)
		if bytes.Count(b, []byte("\n")) == posterWorkers {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the stand-in ffmpeg started %d times, want %d", bytes.Count(b, []byte("\n")), posterWorkers)
		case <-time.After(10 * time.Millisecond):
		}
	}
	for i := range posterQueue + 3 {
		h.queuePoster(posterJob{video: video(posterWorkers + i), at: time.Second})
	}
	h.queuePoster(posterJob{video: video(0), at: time.Second}) // being made: not queued again
	h.posters.mu.Lock()
	running, queued := h.posters.running, len(h.posters.queue)
	h.posters.mu.Unlock()
	if running != posterWorkers || queued != posterQueue {
		t.Fatalf("%d workers and %d queued, want %d and %d", running, queued, posterWorkers, posterQueue)
	}

	h.StopPosters()
	h.queuePoster(posterJob{video: video(1000), at: time.Second})
	h.posters.mu.Lock()
	running, queued = h.posters.running, len(h.posters.queue)
	h.posters.mu.Unlock()
	if running != 0 || queued != 0 {
		t.Fatalf("after StopPosters: %d workers and %d queued", running, queued)
	}
	if b, _ := os.ReadFile(started); bytes.Count(b, []byte("\n")) != posterWorkers {
		t.Fatalf("the stand-in ffmpeg started %d times, want %d", bytes.Count(b, []byte("\n")), posterWorkers)
	}
}
