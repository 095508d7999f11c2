// Package sdklog holds what the SDK-driven bench modes (client, group)
// share about progress and the SDK's logs: a periodic progress line, and
// an slog.Handler that counts the clients' warnings.
package sdklog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"time"
)

// Tick prints "parley-bench: t=<elapsed> <what>: <status()>" to out every
// every until the returned func is called; nothing if out is nil or every
// is not positive.
func Tick(out io.Writer, every time.Duration, what string, status func() string) (stop func()) {
	if out == nil || every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for start := time.Now(); ; {
			select {
			case <-done:
				return
			case now := <-t.C:
				fmt.Fprintf(out, "parley-bench: t=%s %s: %s\n", now.Sub(start).Round(time.Second), what, status())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// WarnCounter is the clients' slog.Handler: it counts messages at Warn
// and above and prints the first of each to its writer.
type WarnCounter struct {
	mu     sync.Mutex // guards counts
	counts map[string]uint64
	out    io.Writer
}

// NewWarnCounter returns a counter printing first warnings to out (nil:
// none).
func NewWarnCounter(out io.Writer) *WarnCounter {
	return &WarnCounter{counts: map[string]uint64{}, out: out}
}

func (w *WarnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *WarnCounter) Handle(_ context.Context, rec slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.counts[rec.Message]++
	if w.counts[rec.Message] == 1 && w.out != nil {
		fmt.Fprintf(w.out, "parley-bench: first SDK warning %q:", rec.Message)
		rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(w.out, " %s", a); return true })
		fmt.Fprintln(w.out)
	}
	return nil
}

func (w *WarnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *WarnCounter) WithGroup(string) slog.Handler      { return w }

// Snapshot is the count of each warning so far.
func (w *WarnCounter) Snapshot() map[string]uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.counts)
}
