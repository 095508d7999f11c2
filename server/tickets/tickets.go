// Package tickets issues WebSocket tickets (spec/api.md §7.1): a browser
// cannot set an Authorization header on a WebSocket, so a device first
// asks, with its credentials, for a ticket, and opens the socket with the
// ticket in the URL. A ticket is 32 random bytes, good for one upgrade
// within TTL of its issue; the server keeps only its SHA-256, in memory. A
// URL that logs keep holds nothing reusable: by the time anyone reads the
// log, the ticket was spent or has expired.
//
// Tickets live in one node's memory: a ticket is redeemed on the node that
// issued it. (Several nodes behind a load balancer need sticky routing of
// the two requests, or the tickets in the shared store.)
package tickets

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

const (
	// TTL is how long a ticket is good for.
	TTL = 30 * time.Second
	// PerDevice bounds a device's unspent tickets; a new one replaces its
	// oldest.
	PerDevice = 4
	// MaxTickets bounds every unspent ticket of the node: past it, issuing
	// sweeps the expired ones, and refuses if none was.
	MaxTickets = 1 << 16
)

// Holder is who a ticket is for.
type Holder struct {
	Username string
	Account  int64
	Device   uint32
}

type devKey struct {
	account int64
	device  uint32
}

type entry struct {
	h       Holder
	expires time.Time
}

// Book issues and redeems tickets. Its zero value is not usable: use New.
type Book struct {
	mu    sync.Mutex // guards the fields below
	m     map[[32]byte]entry
	byDev map[devKey][][32]byte // each device's unspent tickets, oldest first
}

// New returns an empty Book.
func New() *Book { return &Book{m: map[[32]byte]entry{}, byDev: map[devKey][][32]byte{}} }

// Issue returns a new ticket for h, good until the returned time; ok is
// false when the node holds MaxTickets unexpired tickets.
func (b *Book) Issue(h Holder, now time.Time) (ticket string, expires time.Time, ok bool) {
	var raw [32]byte
	rand.Read(raw[:])
	t := base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(t))
	k := devKey{h.Account, h.Device}
	b.mu.Lock()
	defer b.mu.Unlock()
	if mine := b.byDev[k]; len(mine) >= PerDevice {
		delete(b.m, mine[0])
		b.byDev[k] = mine[1:]
	}
	if len(b.m) >= MaxTickets {
		b.sweep(now)
		if len(b.m) >= MaxTickets {
			return "", time.Time{}, false
		}
	}
	exp := now.Add(TTL)
	b.m[sum] = entry{h: h, expires: exp}
	b.byDev[k] = append(b.byDev[k], sum)
	return t, exp, true
}

// Redeem spends ticket t and returns whom it was for; ok is false for a
// ticket unknown, spent or expired.
func (b *Book) Redeem(t string, now time.Time) (Holder, bool) {
	if len(t) != 43 {
		return Holder{}, false
	}
	sum := sha256.Sum256([]byte(t))
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[sum]
	if !ok {
		return Holder{}, false
	}
	b.forget(sum, e.h)
	if !now.Before(e.expires) {
		return Holder{}, false
	}
	return e.h, true
}

// Len is the number of unspent tickets held (expired ones included until
// swept).
func (b *Book) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// forget drops the ticket sum of h. b.mu is held.
func (b *Book) forget(sum [32]byte, h Holder) {
	delete(b.m, sum)
	k := devKey{h.Account, h.Device}
	mine := b.byDev[k]
	for i, s := range mine {
		if s == sum {
			mine = append(mine[:i:i], mine[i+1:]...)
			break
		}
	}
	if len(mine) == 0 {
		delete(b.byDev, k)
	} else {
		b.byDev[k] = mine
	}
}

// sweep forgets expired tickets. b.mu is held.
func (b *Book) sweep(now time.Time) {
	for sum, e := range b.m {
		if !now.Before(e.expires) {
			b.forget(sum, e.h)
		}
	}
}
