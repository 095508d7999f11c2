package clientpath

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client"
)

// stream is one direction of a pair: from sends, to receives.
type stream struct {
	r        *runner
	from, to *account
	next     uint64        // the next sequence number; the sending goroutine's own
	signal   chan struct{} // one slot: a message of this stream arrived

	mu     sync.Mutex // guards the fields below
	sent   map[uint64]bool
	failed map[uint64]bool
	got    map[uint64]int // times the recipient reported each message
}

func newStream(r *runner, from, to *account) *stream {
	s := &stream{r: r, from: from, to: to, signal: make(chan struct{}, 1),
		sent: map[uint64]bool{}, failed: map[uint64]bool{}, got: map[uint64]int{}}
	to.in[from.name] = s
	return s
}

// loop sends until the measured window ends.
func (s *stream) loop(ctx context.Context) {
	for end := s.r.base.Add(time.Duration(s.r.winEnd.Load())); ctx.Err() == nil && time.Now().Before(end); {
		s.sendOne(ctx)
	}
}

// sendOne sends the next message and waits, at most cfg.Timeout in all,
// until the recipient has stored it.
func (s *stream) sendOne(ctx context.Context) {
	seq := s.next
	s.next++
	mctx, cancel := context.WithTimeout(ctx, s.r.cfg.Timeout)
	defer cancel()
	t0 := time.Now()
	_, err := s.from.c.Send(mctx, client.Direct(s.to.name), encodeText(seq, t0.Sub(s.r.base), s.r.cfg.Size))
	took := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return // stopping: neither sent nor failed
		}
		s.mu.Lock()
		s.failed[seq] = true
		s.mu.Unlock()
		s.r.report(errorKind(err), err)
		return
	}
	if seq == 0 {
		s.r.firstSend.Record(took)
	} else {
		s.r.send.Record(took)
	}
	s.mu.Lock()
	s.sent[seq] = true
	s.mu.Unlock()
	for !s.received(seq) {
		select {
		case <-s.signal:
		case <-mctx.Done():
			if ctx.Err() == nil {
				s.r.report(errNoDelivery, errors.New("message "+strconv.FormatUint(seq, 10)+" from "+s.from.name+" to "+s.to.name+" not reported by the recipient"))
			}
			return
		}
	}
}

func (s *stream) received(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[seq] > 0
}

// arrived records a message of this stream that the recipient stored at
// now, and reports whether its text was one of ours.
func (s *stream) arrived(text string, now time.Time) bool {
	seq, at, ok := parseText(text)
	if !ok {
		return false
	}
	s.mu.Lock()
	s.got[seq]++
	n := s.got[seq]
	s.mu.Unlock()
	if n == 1 {
		since := now.Sub(s.r.base)
		switch {
		case seq == 0:
			s.r.firstE2E.Record(since - at)
		default:
			s.r.e2e.Record(since - at)
			if int64(since) < s.r.winEnd.Load() { // sent in the window, as seq > 0
				s.r.winDeliv.Add(1)
			}
		}
		s.r.stored.Add(1)
	}
	select {
	case s.signal <- struct{}{}:
	default:
	}
	return true
}

// count adds the stream's messages to first (sequence number 0) and
// steady (the rest). The stream must be idle.
func (s *stream) count(first, steady *Counts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pick := func(seq uint64) *Counts {
		if seq == 0 {
			return first
		}
		return steady
	}
	for seq := range s.sent {
		c := pick(seq)
		c.Sent++
		if s.got[seq] == 0 {
			c.Lost++
		}
	}
	for seq := range s.failed {
		pick(seq).Failed++
	}
	for seq, n := range s.got {
		c := pick(seq)
		c.Delivered++
		c.Duplicates += uint64(n - 1)
	}
}

// encodeText is the message's text: "seq nanos " (the send time as an
// offset from the run's base time), then 'x' up to size bytes.
func encodeText(seq uint64, at time.Duration, size int) string {
	b := make([]byte, 0, size)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(at), 10)
	b = append(b, ' ')
	for len(b) < size {
		b = append(b, 'x')
	}
	return string(b)
}

// parseText reads what encodeText wrote.
func parseText(text string) (seq uint64, at time.Duration, ok bool) {
	a, rest, ok1 := strings.Cut(text, " ")
	b, _, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseUint(a, 10, 64)
	ns, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return seq, time.Duration(ns), true
}

// errorKind names a Send error for the count of errors by kind.
func errorKind(err error) string {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		return string(ae.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return errTimeout
	case errors.Is(err, client.ErrNoSuchUser):
		return errNoSuchUser
	case errors.Is(err, client.ErrIdentityNotVerified):
		return errNotVerified
	}
	return errSendFailed
}
