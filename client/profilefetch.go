package client

import (
	"context"
	"errors"
	"io"

	"github.com/parley-chat/parley/api"
)

// Reading profiles (spec/client.md §12.4): from the store while fresh,
// else fetched from the server, opened with the key the account shared,
// and refused if it does not open or is older than a version seen.

// MyProfile returns this account's profile: ErrNoProfile if none is set.
func (c *Client) MyProfile(ctx context.Context) (Profile, error) {
	return c.Profile(ctx, c.acct.Username)
}

// Profile returns username's profile as last fetched, fetching it if it
// was never fetched or a notice since said it changed. ErrNoProfileKey
// means the account has not shared its profile with this one;
// ErrNoProfile that it set none; ErrProfileRefused that the server's copy
// was refused.
func (c *Client) Profile(ctx context.Context, username string) (Profile, error) {
	return c.readProfile(ctx, username, false)
}

// RefreshProfile fetches username's profile from the server now, as
// Profile does when its copy is stale.
func (c *Client) RefreshProfile(ctx context.Context, username string) (Profile, error) {
	return c.readProfile(ctx, username, true)
}

// readProfile is Profile, or with refresh RefreshProfile.
func (c *Client) readProfile(ctx context.Context, username string, refresh bool) (Profile, error) {
	user, err := api.NormalizeUsername(username)
	if err != nil {
		return Profile{}, ErrNoSuchUser
	}
	c.mu.Lock()
	defer c.unlock()
	if refresh {
		return c.fetchProfile(ctx, user)
	}
	var rec profileRecord
	if err := c.view(ctx, func(tx sealedTx) error { return getProfile(tx, user, &rec) }); err != nil {
		return Profile{}, err
	}
	if rec.Version > 0 && !rec.Stale {
		return rec.public(user), nil
	}
	return c.fetchProfile(ctx, user)
}

// ProfileAvatar fetches, checks and decrypts username's avatar (of the
// profile as Profile returns it) into w.
func (c *Client) ProfileAvatar(ctx context.Context, username string, w io.Writer) (*Attachment, error) {
	if _, err := c.Profile(ctx, username); err != nil {
		return nil, err
	}
	user, _ := api.NormalizeUsername(username)
	var rec profileRecord
	if err := c.view(ctx, func(tx sealedTx) error { return getProfile(tx, user, &rec) }); err != nil {
		return nil, err
	}
	if rec.Avatar == nil {
		return nil, ErrNoAvatar
	}
	return rec.Avatar.public(), c.download(ctx, rec.Avatar, w, nil)
}

// fetchProfile fetches user's profile, opens it with the key user shared
// (this account's own for itself), stores it and reports a change. A
// profile that does not open, or is older than the version stored, is
// refused and changes nothing. c.mu is held.
func (c *Client) fetchProfile(ctx context.Context, user string) (Profile, error) {
	self := user == c.acct.Username
	var (
		rec     profileRecord
		contact contactRecord
	)
	if err := c.view(ctx, func(tx sealedTx) error {
		if !self {
			if err := tx.getJSON(bucketContact, user, &contact); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		return getProfile(tx, user, &rec)
	}); err != nil {
		return Profile{}, err
	}
	kb := contact.ProfileKey
	if self {
		kb = c.acct.ProfileKey
	}
	key, ok := profileKeyFrom(kb)
	if !ok && self {
		return Profile{}, ErrNoProfile
	}
	// Without a key the server is still asked, so that the caller
	// learns whether the user exists, and has a profile at all.
	p, err := c.http.Profile(ctx, user)
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.Code == api.CodeNoProfile:
		return Profile{}, ErrNoProfile
	case errors.As(err, &ae) && ae.Code == api.CodeNotFound:
		return Profile{}, ErrNoSuchUser
	case err != nil:
		return Profile{}, err
	case !ok:
		return Profile{}, ErrNoProfileKey
	}
	if p.Version < rec.Version {
		c.log.Warn("profile refused: older than one seen", "user", user, "version", p.Version, "seen", rec.Version)
		return Profile{}, ErrProfileRefused
	}
	plain, err := openProfile(key, user, p.Version, p.Ciphertext)
	if err != nil {
		c.log.Warn("profile refused: it does not open", "user", user, "version", p.Version)
		return Profile{}, ErrProfileRefused
	}
	changed := plain.Version != rec.Version
	rec = profileRecord{Version: plain.Version, Name: plain.Name, About: plain.About, Avatar: plain.Avatar}
	if err := c.update(ctx, func(tx sealedTx) error { return tx.putJSON(bucketProfile, user, &rec) }); err != nil {
		return Profile{}, err
	}
	out := rec.public(user)
	if changed {
		c.emit(&ProfileChangedEvent{Profile: out})
	}
	return out, nil
}
