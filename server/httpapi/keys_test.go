package httpapi

import (
	"testing"
	"time"
)

// TestOneTimeLimiterBounded: the one-time prekey share's buckets are kept
// until full again (so forgetting one gives nothing back), and once
// oneTimePairs pairs are held a new pair is refused, which serves it base
// bundles, rather than growing the map.
func TestOneTimeLimiterBounded(t *testing.T) {
	l := newOneTimeLimiter()
	l.maxKeys = 3
	now := time.Unix(1_700_000_000, 0)
	for range OneTimeBurst {
		if !l.allow("1>2", now) {
			t.Fatal("refused within the burst")
		}
	}
	if l.allow("1>2", now) {
		t.Fatal("allowed past the burst")
	}
	// An hour later one more; the bucket was not forgotten meanwhile.
	if !l.allow("1>2", now.Add(OneTimeEvery)) || l.allow("1>2", now.Add(OneTimeEvery)) {
		t.Fatal("want exactly one more after an hour")
	}
	if !l.allow("1>3", now) || !l.allow("1>4", now) {
		t.Fatal("other pairs refused")
	}
	if l.allow("1>5", now) {
		t.Fatal("a fourth pair allowed past maxKeys")
	}
	// Buckets idle for burst × period are forgotten, making room.
	if !l.allow("1>5", now.Add(OneTimeBurst*OneTimeEvery+2*time.Minute)) {
		t.Fatal("no room after the idle buckets went")
	}
}
