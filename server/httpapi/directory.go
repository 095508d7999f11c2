package httpapi

import (
	"context"
	"sync"

	"github.com/parley-chat/parley/server/store"
)

// directory caches each recipient's account and device list, which every
// send needs, so the hot path does not read them from the store. It is
// exact on one node: every change to an account's devices goes through
// this Handler and drops the entry (forget). A multi-node deployment must
// also drop entries when another node changes devices.
type directory struct {
	st  store.Store
	max int

	mu      sync.Mutex // guards entries and gen
	entries map[string]*dirEntry
	gen     uint64 // bumped by forget, so a lookup racing a change caches nothing
}

type dirEntry struct {
	account store.Account
	devices []store.Device
}

func newDirectory(st store.Store, max int) *directory {
	return &directory{st: st, max: max, entries: map[string]*dirEntry{}}
}

// lookup returns the account and devices of a normalised username.
func (d *directory) lookup(ctx context.Context, name string) (*dirEntry, error) {
	d.mu.Lock()
	e, gen := d.entries[name], d.gen
	d.mu.Unlock()
	if e != nil {
		return e, nil
	}
	acct, err := d.st.AccountByName(ctx, name)
	if err != nil {
		return nil, err
	}
	devs, err := d.st.Devices(ctx, acct.ID)
	if err != nil {
		return nil, err
	}
	e = &dirEntry{account: acct, devices: devs}
	d.mu.Lock()
	if d.gen == gen {
		if len(d.entries) >= d.max {
			clear(d.entries) // crude bound; entries are cheap to rebuild
		}
		d.entries[name] = e
	}
	d.mu.Unlock()
	return e, nil
}

// forget drops a username's entry after its devices changed.
func (d *directory) forget(name string) {
	d.mu.Lock()
	delete(d.entries, name)
	d.gen++
	d.mu.Unlock()
}
