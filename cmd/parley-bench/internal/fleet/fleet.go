// Package fleet registers many bench accounts on a parleyd, one device
// each with valid signed prekeys, and opens one WebSocket per device. All
// work runs on a bounded pool of workers and reports its progress.
package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/client/transport"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/wire"
)

// EnvType is the envelope type the bench sends: a Double Ratchet message,
// though the content is random bytes (the server never looks inside).
const EnvType = uint8(wire.TypeRatchet)

// Config says how to build the fleet.
type Config struct {
	Client   *transport.Client // unauthenticated client of the server
	Devices  int
	Workers  int
	Timeout  time.Duration // per registration or connection
	Progress io.Writer     // nil: no progress lines
	Every    time.Duration // between progress lines
}

// Device is one bench account's only device.
type Device struct {
	Index  int
	Creds  api.Credentials
	Client *transport.Client // authenticated as the device
	Sock   *transport.Socket // set by Connect
}

// RunPrefix returns a fresh username prefix such as "b3fa9c1_", so that
// reruns against the same server do not collide.
func RunPrefix() string {
	var b [3]byte
	rand.Read(b[:])
	return "b" + hex.EncodeToString(b[:]) + "_"
}

// registration makes a valid request: a fresh identity key, a signed
// prekey and a signed last-resort ML-KEM prekey (checkUpload on the server
// verifies both signatures). No one-time prekeys: the bench never fetches
// bundles.
func registration(username string) (api.RegisterRequest, error) {
	id, err := keys.GenerateIdentityKeyPair(nil)
	if err != nil {
		return api.RegisterRequest{}, err
	}
	spk, err := pqxdh.GenerateSignedPreKey(id, 1, nil)
	if err != nil {
		return api.RegisterRequest{}, err
	}
	kem, err := pqxdh.GenerateKEMPreKey(id, 1, true, nil)
	if err != nil {
		return api.RegisterRequest{}, err
	}
	return api.RegisterRequest{
		Username:    username,
		IdentityKey: id.Public().Encode(),
		DeviceName:  "bench",
		PreKeys: api.PreKeyUpload{
			SignedPreKey:        &api.SignedPreKey{ID: spk.ID, PublicKey: spk.Private.Public().Encode(), Signature: spk.Signature},
			LastResortKEMPreKey: &api.SignedPreKey{ID: kem.ID, PublicKey: kem.Private.Public().Encode(), Signature: kem.Signature},
		},
	}, nil
}

// Register creates cfg.Devices accounts named prefix+index.
func Register(ctx context.Context, cfg Config, prefix string) ([]*Device, error) {
	devs := make([]*Device, cfg.Devices)
	err := forEach(ctx, cfg, "registered", func(ctx context.Context, i int) error {
		name := prefix + strconv.Itoa(i)
		req, err := registration(name)
		if err != nil {
			return fmt.Errorf("making keys for %s: %w", name, err)
		}
		rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		creds, err := cfg.Client.Register(rctx, req)
		if errors.Is(err, &api.Error{Code: api.CodeRateLimited}) {
			return fmt.Errorf("registering %s: %w (start parleyd with -register-rate 100000: the bench registers every device from one address)", name, err)
		}
		if err != nil {
			return fmt.Errorf("registering %s: %w (is parleyd running at the -server address?)", name, err)
		}
		devs[i] = &Device{Index: i, Creds: creds, Client: cfg.Client.As(creds)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return devs, nil
}

// Connect opens every device's WebSocket and waits for its QueueEmpty.
func Connect(ctx context.Context, cfg Config, devs []*Device) error {
	return forEach(ctx, cfg, "connected", func(ctx context.Context, i int) error {
		d := devs[i]
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		s, err := d.Client.Connect(cctx)
		if err != nil {
			return fmt.Errorf("connecting %s: %w (if this is \"too many open files\", raise ulimit -n)", d.Creds.Username, err)
		}
		if err := WaitQueueEmpty(cctx, s); err != nil {
			s.Close()
			return fmt.Errorf("connecting %s: %w", d.Creds.Username, err)
		}
		d.Sock = s
		return nil
	})
}

// WaitQueueEmpty reads frames until the server's FrameQueueEmpty. A fresh
// account has nothing queued; anything delivered is acknowledged and
// dropped.
func WaitQueueEmpty(ctx context.Context, s *transport.Socket) error {
	for {
		f, err := s.Recv(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the queue-empty frame: %w", err)
		}
		switch f.Type {
		case api.FrameQueueEmpty:
			return nil
		case api.FrameDeliver:
			if err := s.Ack(ctx, f.Seq); err != nil {
				return fmt.Errorf("acknowledging a queued envelope: %w", err)
			}
		}
	}
}

// Hold keeps every open socket read (so pings are answered) until ctx
// ends, and returns how many sockets the server closed before that.
func Hold(ctx context.Context, devs []*Device) int {
	var dropped atomic.Int64
	var wg sync.WaitGroup
	for _, d := range devs {
		if d.Sock == nil {
			continue
		}
		wg.Go(func() {
			for {
				f, err := d.Sock.Recv(ctx)
				if err != nil {
					if ctx.Err() == nil {
						dropped.Add(1)
					}
					return
				}
				if f.Type == api.FrameDeliver {
					d.Sock.Ack(ctx, f.Seq)
				}
			}
		})
	}
	wg.Wait()
	return int(dropped.Load())
}

// Close closes every open socket, on the worker pool.
func Close(cfg Config, devs []*Device) {
	cfg.Progress = nil
	forEach(context.Background(), cfg, "closed", func(_ context.Context, i int) error {
		if s := devs[i].Sock; s != nil {
			s.Close()
			devs[i].Sock = nil
		}
		return nil
	})
}

// forEach runs fn(i) for every device on cfg.Workers goroutines. The first
// error stops the rest and is returned.
func forEach(ctx context.Context, cfg Config, verb string, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(cfg.Workers, cfg.Devices)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.Devices {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
				done.Add(1)
			}
		})
	}
	stop := make(chan struct{})
	var pwg sync.WaitGroup
	if cfg.Progress != nil && cfg.Every > 0 {
		pwg.Go(func() {
			t := time.NewTicker(cfg.Every)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					fmt.Fprintf(cfg.Progress, "parley-bench: %s %d/%d\n", verb, done.Load(), cfg.Devices)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	pwg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}
