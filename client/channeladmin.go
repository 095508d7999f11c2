package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/ratchet"
)

// Channel admins (spec/client.md §9.3, spec/protocol.md §10.1). An admin
// signs records with the identity key of their own account, which all
// their devices have; the owner certifies that key in the chain with an
// AddAdmin record signed by the owner key, and revokes exactly that key
// with RemoveAdmin. No channel key is shared with admins, and only the
// owner key changes who signs, so an admin can never lock out the owner.
// An admin whose account is recovered has a new identity key, which signs
// nothing until the owner adds the admin again.

// AddChannelAdmin lets username publish to a channel this device owns
// (holds its owner key): the server lets the account post, and an AddAdmin
// record certifies the identity key this device has pinned for username
// (fetched and pinned first, as a first message would, if username is not
// a contact yet). A contact whose safety number changed and is not
// verified again is refused (ErrIdentityNotVerified). Other keys the
// chain certified under the same username (the one before an account
// recovery) are removed.
func (c *Client) AddChannelAdmin(ctx context.Context, handle, username string) error {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return ErrNoSuchUser
	}
	username, err = api.NormalizeUsername(username)
	if err != nil {
		return ErrNoSuchUser
	}
	if err := c.requireOwner(ctx, handle); err != nil {
		return err
	}
	// The owner may certify her own identity key, so that her devices
	// linked before the channel existed (without the owner key) can post.
	// It is this device's own key: no contact to pin, no other device
	// needed.
	key := c.identity().Public()
	if username != c.acct.Username {
		if key, err = c.pinnedIdentity(ctx, username); err != nil {
			return err
		}
	}
	if err := c.http.SetChannelAdmin(ctx, handle, username, true); err != nil {
		return c.channelAPIError(err)
	}
	if _, err := c.publish(ctx, handle, &channel.Record{Kind: channel.KindAddAdmin, Admin: &key, AdminName: username}); err != nil {
		return err
	}
	// An admin added again after a recovery: the old identity key, which
	// a lost device may still hold, signs nothing from now on.
	admins, err := c.ChannelAdmins(ctx, handle)
	if err != nil {
		return err
	}
	for _, a := range admins {
		if a.Username == username && a.Key != key {
			old := a.Key
			if _, err := c.publish(ctx, handle, &channel.Record{Kind: channel.KindRemoveAdmin, Admin: &old}); err != nil {
				return err
			}
		}
	}
	return nil
}

// RemoveChannelAdmin stops username publishing: the server stops taking
// the account's records, and a RemoveAdmin record revokes every identity
// key the chain certified under that name, so followers refuse any record
// those keys sign from then on, whatever its time. If the chain certifies
// no key under that name, nothing is signed and the error is ErrNotAdmin.
func (c *Client) RemoveChannelAdmin(ctx context.Context, handle, username string) error {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return ErrNoSuchUser
	}
	username, err = api.NormalizeUsername(username)
	if err != nil {
		return ErrNoSuchUser
	}
	if err := c.requireOwner(ctx, handle); err != nil {
		return err
	}
	if err := c.http.SetChannelAdmin(ctx, handle, username, false); err != nil {
		return c.channelAPIError(err)
	}
	if err := c.catchUp(ctx, handle); err != nil {
		return err
	}
	admins, err := c.ChannelAdmins(ctx, handle)
	if err != nil {
		return err
	}
	revoked := 0
	for _, a := range admins {
		if a.Username != username {
			continue
		}
		k := a.Key
		if _, err := c.publish(ctx, handle, &channel.Record{Kind: channel.KindRemoveAdmin, Admin: &k}); err != nil {
			return err
		}
		revoked++
	}
	if revoked == 0 {
		return &ChannelError{Err: ErrNotAdmin, Channel: handle, User: username}
	}
	return nil
}

// CatchUp fetches and verifies a channel's records after the last one
// this device stored, as Feed does, but returns no posts and counts no
// view: for a caller that reads the chain itself (ChannelAdmins).
func (c *Client) CatchUp(ctx context.Context, handle string) error {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return ErrNoSuchUser
	}
	return c.catchUp(ctx, handle)
}

// ChannelAdmin is an admin as the channel's chain certifies it.
type ChannelAdmin struct {
	Username string // as the owner named them in the AddAdmin record
	Key      keys.PublicKey
}

// ChannelAdmins lists the admins the channel's chain certifies, as this
// device has verified it (no network).
func (c *Client) ChannelAdmins(ctx context.Context, handle string) ([]ChannelAdmin, error) {
	handle, err := api.NormalizeUsername(handle)
	if err != nil {
		return nil, ErrNoSuchUser
	}
	c.mu.Lock()
	defer c.unlock()
	var out []ChannelAdmin
	err = c.view(ctx, func(tx sealedTx) error {
		var cr channelRecord
		if err := tx.getJSON(bucketChannel, handle, &cr); err != nil {
			return err
		}
		st, err := c.chainState(tx, handle, cr.Genesis, cr.LastSeq)
		if err != nil {
			return err
		}
		for k, name := range st.Admins() {
			out = append(out, ChannelAdmin{Username: name, Key: k})
		}
		return nil
	})
	return out, err
}

func (c *Client) requireOwner(ctx context.Context, handle string) error {
	err := c.view(ctx, func(tx sealedTx) error {
		_, err := tx.get(bucketChannelKey, handle)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: only the channel's owner key changes its admins", ErrNotPublisher)
	}
	return err
}

// pinnedIdentity returns username's identity key as this device has it
// pinned, never blindly the server's current one. An unknown user's key
// is fetched and pinned the way a first message does it (sessions with
// each device, from the prekey bundles).
func (c *Client) pinnedIdentity(ctx context.Context, username string) (keys.PublicKey, error) {
	c.mu.Lock()
	defer c.unlock()
	var r contactRecord
	err := c.view(ctx, func(tx sealedTx) error { return tx.getJSON(bucketContact, username, &r) })
	if err == nil {
		if r.Held {
			return keys.PublicKey{}, ErrIdentityNotVerified
		}
		return keys.DecodePublicKey(r.Identity)
	}
	if !errors.Is(err, ErrNotFound) {
		return keys.PublicKey{}, err
	}
	fresh := map[uint32]*ratchet.Session{}
	if err := c.startSessions(ctx, username, 0, fresh); err != nil {
		return keys.PublicKey{}, err
	}
	var key keys.PublicKey
	err = c.update(ctx, func(tx sealedTx) error {
		for _, d := range sortedKeys(fresh) {
			s := fresh[d]
			if _, err := c.observeIdentity(tx, username, s.RemoteIdentity(), d); err != nil {
				return err
			}
			key = s.RemoteIdentity()
			ds, err := loadSessions(tx, username, d)
			if err != nil {
				return err
			}
			ds.promote(s, c.nowMillis())
			if err := ds.save(tx, username, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && len(fresh) == 0 {
		err = ErrNoSuchUser
	}
	return key, err
}
