package clientpath

import (
	"testing"
	"time"
)

func TestText(t *testing.T) {
	for _, c := range []struct {
		seq  uint64
		at   time.Duration
		size int
	}{{0, 0, MinSize}, {1<<64 - 1, 1<<63 - 1, MinSize}, {7, 123456789, 1024}} {
		text := encodeText(c.seq, c.at, c.size)
		if len(text) != c.size {
			t.Errorf("encodeText(%d, %d, %d) has %d bytes", c.seq, c.at, c.size, len(text))
		}
		if seq, at, ok := parseText(text); !ok || seq != c.seq || at != c.at {
			t.Errorf("parseText(encodeText(%d, %d)) = %d, %d, %v", c.seq, c.at, seq, at, ok)
		}
	}
	for _, bad := range []string{"", "hello", "1 2", "x 2 ", "1 y ", "-1 2 "} {
		if _, _, ok := parseText(bad); ok {
			t.Errorf("parseText(%q) accepted", bad)
		}
	}
}
