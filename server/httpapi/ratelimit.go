package httpapi

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyLimiter is a token bucket per key: per client IP for unauthenticated
// endpoints that create state (registration, provisioning mailboxes), per
// account for prekey-bundle fetches (which consume other users' one-time
// prekeys). Idle buckets are dropped so the map stays bounded by recent
// clients.
type keyLimiter struct {
	rate  rate.Limit
	burst int
	// idle is how long a bucket goes unused before it is dropped (10
	// minutes unless set); it should be at least burst/rate, else a
	// dropped bucket comes back fuller than it was. maxKeys, if above 0,
	// bounds the buckets: a new key finds none free and is refused.
	idle    time.Duration
	maxKeys int

	mu      sync.Mutex // guards buckets and swept
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newKeyLimiter(perSecond float64, burst int) *keyLimiter {
	return &keyLimiter{rate: rate.Limit(perSecond), burst: burst, idle: 10 * time.Minute, buckets: map[string]*bucket{}}
}

// allowIP reports whether the request's client IP may go on.
func (l *keyLimiter) allowIP(r *http.Request, now time.Time) bool {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return l.allow(ip, now)
}

// allow reports whether key may go on.
func (l *keyLimiter) allow(key string, now time.Time) bool { return l.allowN(key, now, 1) }

// allowN reports whether key may spend n tokens, and spends them if so.
func (l *keyLimiter) allowN(key string, now time.Time, n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > l.idle {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		if l.maxKeys > 0 && len(l.buckets) >= l.maxKeys {
			return false
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, n)
}
