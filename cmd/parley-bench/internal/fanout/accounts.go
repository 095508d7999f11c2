package fanout

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/cmd/parley-bench/internal/fleet"
	"github.com/parley-chat/parley/internal/channel"
)

// loadAccounts reads credentials saved by an earlier run, one JSON object
// a line; a missing file holds none.
func loadAccounts(path string) ([]api.Credentials, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fanout: reading the accounts: %w", err)
	}
	defer f.Close()
	var creds []api.Credentials
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var c api.Credentials
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("fanout: %s line %d: %w", path, len(creds)+1, err)
		}
		creds = append(creds, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("fanout: reading the accounts: %w", err)
	}
	return creds, nil
}

// saveAccounts appends credentials to the file.
func saveAccounts(path string, creds []api.Credentials) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("fanout: saving the accounts: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, c := range creds {
		b, _ := json.Marshal(c)
		w.Write(append(b, '\n'))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("fanout: saving the accounts: %w", err)
	}
	return f.Close()
}

// followers returns cfg.Followers accounts: those saved in cfg.Accounts
// first, then new ones, which are saved there too. It reports how many
// it registered.
func (r *run) followers(ctx context.Context) ([]api.Credentials, int, error) {
	var creds []api.Credentials
	if r.cfg.Accounts != "" {
		var err error
		if creds, err = loadAccounts(r.cfg.Accounts); err != nil {
			return nil, 0, err
		}
	}
	if len(creds) >= r.cfg.Followers {
		return creds[:r.cfg.Followers], 0, nil
	}
	fc := r.fleet(r.cfg.Followers - len(creds))
	devs, err := fleet.Register(ctx, fc, r.prefix)
	if err != nil {
		return nil, 0, err
	}
	fresh := make([]api.Credentials, len(devs))
	for i, d := range devs {
		fresh[i] = d.Creds
	}
	if r.cfg.Accounts != "" {
		if err := saveAccounts(r.cfg.Accounts, fresh); err != nil {
			return nil, 0, err
		}
	}
	return append(creds, fresh...), len(fresh), nil
}

// fleet is the fleet configuration for n accounts.
func (r *run) fleet(n int) fleet.Config {
	return fleet.Config{Client: r.anon, Devices: n, Workers: r.cfg.Workers, Timeout: r.cfg.Timeout,
		Progress: r.progress, Every: r.cfg.Every}
}

// publisher is the channel's owner and key, and the head of the chain
// it signs (it publishes alone, one record after the other).
type publisher struct {
	c      *transport.Client // the owner's
	handle string
	gen    ed25519.PublicKey
	key    ed25519.PrivateKey
	pos    uint64                 // position of the last record signed
	prev   [channel.HashSize]byte // its hash
}

// createChannel registers an owner and creates a fresh channel, so that
// runs against the same server do not share one.
func (r *run) createChannel(ctx context.Context) (*publisher, error) {
	devs, err := fleet.Register(ctx, r.fleet(1), r.prefix+"owner")
	if err != nil {
		return nil, err
	}
	gen, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	p := &publisher{c: devs[0].Client, handle: r.prefix + "news", gen: gen, key: key}
	profile, err := p.sign(&channel.Record{Kind: channel.KindProfile, Title: "Fan-out bench", About: "parley-bench fanout"})
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if _, err := p.c.CreateChannel(cctx, api.CreateChannelRequest{Handle: p.handle, Profile: profile}); err != nil {
		return nil, fmt.Errorf("fanout: creating the channel: %w", err)
	}
	return p, nil
}

// sign signs the next record of the channel's chain with the genesis
// (owner) key and a fresh ID (spec/protocol.md §10.4).
func (p *publisher) sign(rec *channel.Record) ([]byte, error) {
	rec.Channel, rec.Position = p.gen, p.pos+1
	if rec.Position > 1 {
		prev := p.prev
		rec.Prev = &prev
	}
	rec.Time = time.Now().UnixMilli()
	rand.Read(rec.ID[:])
	b, err := rec.Sign(p.key)
	if err == nil {
		p.pos, p.prev = rec.Position, channel.Hash(b)
	}
	return b, err
}

// follow makes every account follow the channel.
func (r *run) follow(ctx context.Context, creds []api.Credentials, handle string) error {
	return parallel(ctx, len(creds), r.cfg.Workers, func(ctx context.Context, i int) error {
		fctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		defer cancel()
		err := r.anon.As(creds[i]).Follow(fctx, handle)
		if errors.Is(err, &api.Error{Code: api.CodeUnauthorized}) && r.cfg.Accounts != "" {
			return fmt.Errorf("fanout: %s follows: %w (are the accounts in %s from another server? remove the file)",
				creds[i].Username, err, r.cfg.Accounts)
		}
		if err != nil {
			return fmt.Errorf("fanout: %s follows: %w", creds[i].Username, err)
		}
		return nil
	})
}

// parallel runs fn(i) for i in [0, n) on at most workers goroutines; the
// first error stops the rest and is returned.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}
