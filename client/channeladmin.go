package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/channel"
)

// Channel admins and key rotation (spec/client.md §9.3). Every record is
// signed with the channel's key, so an admin needs it: the owner sends it
// end to end, as a channel-key content, to the admin's devices and to its
// own other devices. Removing an admin rotates the key with a signed
// handover, and the new key goes to the admins who remain. A receiver
// stores a granted key only if it is the channel's current key by the
// chain it verifies from the pinned genesis key, so a grant can never
// plant a key.

// channelKeyGrant is the content of a channel-key message.
type channelKeyGrant struct {
	Handle  string
	Genesis []byte
	Epoch   uint32
	Seed    []byte
}

// ErrBadGrant means a received channel key is not the channel's current key.
var ErrBadGrant = errors.New("client: a granted channel key is not the channel's current key")

func (c *Client) channelKey(ctx context.Context, handle string) (*channelKeyGrant, error) {
	var (
		kr channelKeyRecord
		cr channelRecord
	)
	err := c.view(ctx, func(tx sealedTx) error {
		if err := tx.getJSON(bucketChannelKey, handle, &kr); err != nil {
			return err
		}
		return tx.getJSON(bucketChannel, handle, &cr)
	})
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNotPublisher
	}
	if err != nil {
		return nil, err
	}
	return &channelKeyGrant{Handle: handle, Genesis: cr.Genesis, Epoch: kr.Epoch, Seed: kr.Seed}, nil
}

// grantKey sends the channel's key to every device of users, and to
// this account's other devices.
func (c *Client) grantKey(ctx context.Context, g *channelKeyGrant, users ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range append(users, c.acct.Username) {
		ct := &content{Kind: kindChannelKey, Timestamp: c.nowMillis(), ChannelKey: g}
		c.rand.Read(ct.ID[:])
		if err := c.deliver(ctx, u, ct, false); err != nil {
			return fmt.Errorf("client: give the channel key to %s: %w", u, err)
		}
	}
	return nil
}

// AddChannelAdmin lets username publish to a channel this account owns,
// and gives them its key, end to end.
func (c *Client) AddChannelAdmin(ctx context.Context, handle, username string) error {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return ErrNoSuchUser
	}
	g, err := c.channelKey(ctx, handle)
	if err != nil {
		return err
	}
	if err := c.http.SetChannelAdmin(ctx, handle, username, true); err != nil {
		return c.channelAPIError(err)
	}
	return c.grantKey(ctx, g, username)
}

// RemoveChannelAdmin stops username publishing, and rotates the key so
// that the one they hold signs nothing new.
func (c *Client) RemoveChannelAdmin(ctx context.Context, handle, username string) error {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return ErrNoSuchUser
	}
	if err := c.http.SetChannelAdmin(ctx, handle, username, false); err != nil {
		return c.channelAPIError(err)
	}
	return c.RotateChannelKey(ctx, handle)
}

// RotateChannelKey replaces the channel's key: a handover signed with the
// current key names the next (spec/protocol.md §10.1). The new key goes
// to the admins and to this account's other devices.
func (c *Client) RotateChannelKey(ctx context.Context, handle string) error {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return ErrNoSuchUser
	}
	g, err := c.channelKey(ctx, handle)
	if err != nil {
		return err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := c.rand.Read(seed); err != nil {
		return err
	}
	next := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	b, err := c.signRecord(ed25519.NewKeyFromSeed(g.Seed), g.Genesis, g.Epoch, &channel.Record{Kind: channel.KindHandover, NewKey: next})
	if err != nil {
		return err
	}
	// Keep the new key before the handover is public: never a key the
	// channel depends on that this device has lost.
	c.mu.Lock()
	err = c.update(ctx, func(tx sealedTx) error {
		return tx.putJSON(bucketChannelKey, handle, &channelKeyRecord{Seed: seed, Epoch: g.Epoch + 1, Previous: g.Seed})
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := c.http.PostRecord(ctx, handle, b); err != nil {
		// The handover did not happen: go back to the key in use.
		c.mu.Lock()
		if rerr := c.update(ctx, func(tx sealedTx) error {
			return tx.putJSON(bucketChannelKey, handle, &channelKeyRecord{Seed: g.Seed, Epoch: g.Epoch})
		}); rerr != nil {
			c.log.Error("channel key rotation failed and the old key was not restored", "channel", handle, "err", rerr)
		}
		c.mu.Unlock()
		return c.channelAPIError(err)
	}
	admins, err := c.http.ChannelAdmins(ctx, handle)
	if err != nil {
		return c.channelAPIError(err)
	}
	return c.grantKey(ctx, &channelKeyGrant{Handle: handle, Genesis: g.Genesis, Epoch: g.Epoch + 1, Seed: seed}, admins...)
}

// acceptGrant stores a received channel key if it is the channel's
// current key: the channel is pinned (or pinned now, if the server's
// genesis key is the grant's), its records are caught up and verified,
// and the chain's current key must be the grant's.
func (c *Client) acceptGrant(ctx context.Context, from string, g *channelKeyGrant) error {
	info, err := c.http.Channel(ctx, g.Handle)
	if err != nil {
		return c.channelAPIError(err)
	}
	c.mu.Lock()
	err = c.update(ctx, func(tx sealedTx) error {
		var cr channelRecord
		err := tx.getJSON(bucketChannel, g.Handle, &cr)
		if errors.Is(err, ErrNotFound) {
			if !bytes.Equal(info.GenesisKey, g.Genesis) {
				return ErrBadGrant
			}
			return tx.putJSON(bucketChannel, g.Handle, &channelRecord{Genesis: g.Genesis})
		}
		if err == nil && !bytes.Equal(cr.Genesis, g.Genesis) {
			return ErrBadGrant
		}
		return err
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.catchUp(ctx, g.Handle); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.update(ctx, func(tx sealedTx) error {
		chain, _, err := c.chain(tx, g.Handle)
		if err != nil {
			return err
		}
		key := ed25519.NewKeyFromSeed(g.Seed).Public().(ed25519.PublicKey)
		if chain.Epoch() != g.Epoch || !bytes.Equal(chain.Key(g.Epoch), key) {
			return ErrBadGrant
		}
		var kr channelKeyRecord
		if err := tx.getJSON(bucketChannelKey, g.Handle, &kr); err == nil && kr.Epoch > g.Epoch {
			return nil // this device already has a newer key
		}
		c.log.Info("channel key received", "channel", g.Handle, "from", from, "epoch", g.Epoch)
		return tx.putJSON(bucketChannelKey, g.Handle, &channelKeyRecord{Seed: g.Seed, Epoch: g.Epoch})
	})
}

// pendingGrant is a channel key received in a message, to be checked once
// the message is processed (checking needs the network).
type pendingGrant struct {
	from  string
	grant *channelKeyGrant
}

// takeGrants returns and forgets the grants received so far.
func (c *Client) takeGrants() []pendingGrant {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.grants
	c.grants = nil
	return g
}

// acceptGrants checks and stores received channel keys, reporting each.
func (c *Client) acceptGrants(ctx context.Context) {
	for _, p := range c.takeGrants() {
		err := c.acceptGrant(ctx, p.from, p.grant)
		if err != nil {
			c.log.Warn("channel key refused", "channel", p.grant.Handle, "from", p.from, "err", err)
		}
		c.emit(&ChannelKeyEvent{Channel: p.grant.Handle, From: p.from, Epoch: p.grant.Epoch, Err: err})
	}
}
