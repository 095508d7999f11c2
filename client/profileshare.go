package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parley-chat/parley/api"
)

// Sharing and fetching profiles (spec/client.md §12.2). The profile key
// rides on every text this device sends (content field 17), 1:1 and to
// groups, and on the link message to a new device of the account; when the
// profile changes, a kind-10 content with the key goes over the 1:1
// sessions to every contact and group member, and to the account's other
// devices, which fetch the profile again. A peer's key is taken only from
// a content authenticated as that peer's (its session, or its sender key
// in a group), and always as the key of the sender.

// maxProfilePuts bounds the puts of one change when another device of the
// account puts a newer version meanwhile.
const maxProfilePuts = 3

// Profile is an account's profile as this device last fetched it, with
// the display name and about line made safe to show (spec/client.md §6.2):
// no control characters, bidirectional controls or line breaks, within
// MaxProfileName and MaxProfileAbout bytes. Username is the account: the
// identity. Name is only what the account calls itself; wherever it
// matters who someone is (safety numbers, verification, a changed key),
// show Username, never Name alone.
type Profile struct {
	Username string
	Name     string
	About    string
	Avatar   *Attachment // nil: none
	Version  uint64
}

// ProfileChange is what SetProfile changes: nil fields stay as they are.
type ProfileChange struct {
	Name  *string
	About *string
	// Avatar is a new avatar image (at most 5 MiB, its content type
	// image/...); RemoveAvatar removes the avatar instead.
	Avatar       *File
	RemoveAvatar bool
}

// profileRecord is a profile as last fetched (or, this account's, set).
// Version is the highest version seen: an older one is refused.
type profileRecord struct {
	Version uint64       `json:"version"`
	Name    string       `json:"name,omitempty"`
	About   string       `json:"about,omitempty"`
	Avatar  *filePointer `json:"avatar,omitempty"`
	// Stale: a new key or a notice came after this was fetched.
	Stale bool `json:"stale,omitempty"`
}

func (r *profileRecord) public(username string) Profile {
	p := Profile{Username: username, Version: r.Version,
		Name:  sanitizeProfileText(r.Name, MaxProfileName),
		About: sanitizeProfileText(r.About, MaxProfileAbout)}
	if r.Avatar != nil {
		p.Avatar = r.Avatar.public()
	}
	return p
}

func (r *profileRecord) plain() *profilePlain {
	return &profilePlain{Version: r.Version, Name: r.Name, About: r.About, Avatar: r.Avatar}
}

// SetProfile changes this account's profile, encrypts it under the
// account's profile key (made now if the account has none), stores it on
// the server with a higher version, and tells the account's other devices,
// its contacts and its groups' members that it changed. A change that
// reaches the server but not every peer returns no error: peers also
// learn the key from the next message.
func (c *Client) SetProfile(ctx context.Context, ch ProfileChange) (Profile, error) {
	if ch.Name != nil {
		n, err := checkProfileText(*ch.Name, MaxProfileName, ErrProfileNameTooLong)
		if err != nil {
			return Profile{}, err
		}
		ch.Name = &n
	}
	if ch.About != nil {
		a, err := checkProfileText(*ch.About, MaxProfileAbout, ErrProfileAboutTooLong)
		if err != nil {
			return Profile{}, err
		}
		ch.About = &a
	}
	var avatar *filePointer
	if ch.Avatar != nil {
		var err error
		if avatar, err = c.uploadAvatar(ctx, *ch.Avatar); err != nil {
			return Profile{}, err
		}
	}
	c.mu.Lock()
	defer c.unlock()
	if err := c.ensureProfileKey(ctx); err != nil {
		return Profile{}, err
	}
	rec, err := c.putOwnProfile(ctx, func(r *profileRecord) {
		if ch.Name != nil {
			r.Name = *ch.Name
		}
		if ch.About != nil {
			r.About = *ch.About
		}
		switch {
		case avatar != nil:
			r.Avatar = avatar
		case ch.RemoveAvatar:
			r.Avatar = nil
		}
	})
	if err != nil {
		return Profile{}, err
	}
	c.notifyProfile(ctx, nil)
	return rec.public(c.acct.Username), nil
}

// uploadAvatar encrypts and uploads an avatar image, as a group's
// (groupavatar.go): an attachment whose pointer the profile carries.
func (c *Client) uploadAvatar(ctx context.Context, f File) (*filePointer, error) {
	if !strings.HasPrefix(f.ContentType, "image/") {
		return nil, errors.New("client: an avatar is an image (give its content type, image/...)")
	}
	f.Name = avatarName
	if f.Body != nil {
		f.Body = io.LimitReader(f.Body, maxAvatar+1)
	}
	p, err := c.encryptUpload(ctx, f, nil)
	if err != nil {
		return nil, err
	}
	if p.Size > maxAvatar {
		return nil, fmt.Errorf("client: an avatar is at most %d MiB", maxAvatar>>20)
	}
	return p, nil
}

// ensureProfileKey makes the account's profile key if it has none yet.
// c.mu is held.
func (c *Client) ensureProfileKey(ctx context.Context) error {
	if c.acct.ProfileKey != nil {
		return nil
	}
	k := make([]byte, profileKeySize)
	if _, err := io.ReadFull(c.rand, k); err != nil {
		return err
	}
	return c.saveProfileKey(ctx, k)
}

// saveProfileKey makes k the account's profile key on this device.
// c.mu is held.
func (c *Client) saveProfileKey(ctx context.Context, k []byte) error {
	a := *c.acct
	a.ProfileKey, a.ProfileKeyAt = k, c.nowMillis()
	if err := c.update(ctx, func(tx sealedTx) error { return tx.putJSON(bucketAccount, keySelf, &a) }); err != nil {
		return err
	}
	c.acct.ProfileKey, c.acct.ProfileKeyAt = a.ProfileKey, a.ProfileKeyAt
	return nil
}

// putOwnProfile applies change to this account's profile, seals it under
// the account's key with the next version and stores it on the server and
// here. If another device of the account stored a newer version, that one
// is fetched and the change applied to it instead. c.mu is held.
func (c *Client) putOwnProfile(ctx context.Context, change func(*profileRecord)) (*profileRecord, error) {
	me := c.acct.Username
	key, _ := profileKeyFrom(c.acct.ProfileKey)
	var base profileRecord
	if err := c.view(ctx, func(tx sealedTx) error { return getProfile(tx, me, &base) }); err != nil {
		return nil, err
	}
	for try := 1; ; try++ {
		rec := base
		change(&rec)
		rec.Version, rec.Stale = base.Version+1, false
		ct, err := sealProfile(key, me, rec.plain(), c.rand)
		if err != nil {
			return nil, err
		}
		err = c.http.PutProfile(ctx, api.Profile{Version: rec.Version, Ciphertext: ct})
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeStaleVersion && try < maxProfilePuts {
			// Another device was first (or a recovery left an older
			// profile): build on what the server holds.
			base.Version = ae.Version
			if p, err := c.http.Profile(ctx, me); err == nil {
				if pl, err := openProfile(key, me, p.Version, p.Ciphertext); err == nil {
					base = profileRecord{Version: pl.Version, Name: pl.Name, About: pl.About, Avatar: pl.Avatar}
				}
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("client: storing the profile: %w", err)
		}
		return &rec, c.update(ctx, func(tx sealedTx) error { return tx.putJSON(bucketProfile, me, &rec) })
	}
}

// RotateProfileKey gives the account a new profile key (as blocking
// someone does, spec/client.md §12.2): the profile, if there is one, is
// sealed again under it with a higher version and stored, and the new key
// goes to the account's other devices and to every contact and group
// member but the accounts in except. Those keep the old key, which opens
// only the old ciphertext, gone from the server. (A group in common with
// one of them still gives them the key with this account's next message
// there: a group message has one ciphertext for every member.)
func (c *Client) RotateProfileKey(ctx context.Context, except ...string) error {
	c.mu.Lock()
	defer c.unlock()
	k := make([]byte, profileKeySize)
	if _, err := io.ReadFull(c.rand, k); err != nil {
		return err
	}
	var rec profileRecord
	if err := c.view(ctx, func(tx sealedTx) error { return getProfile(tx, c.acct.Username, &rec) }); err != nil {
		return err
	}
	if err := c.saveProfileKey(ctx, k); err != nil {
		return err
	}
	if rec.Version > 0 {
		if _, err := c.putOwnProfile(ctx, func(*profileRecord) {}); err != nil {
			return err
		}
	}
	skip := make([]string, 0, len(except))
	for _, u := range except {
		if n, err := api.NormalizeUsername(u); err == nil {
			skip = append(skip, n)
		}
	}
	c.notifyProfile(ctx, skip)
	return nil
}

// notifyProfile sends a kind-10 content with the account's profile key to
// the account's other devices and to every contact and group member but
// those in except, over their 1:1 sessions. Failures are logged: the key
// also rides on the next message. c.mu is held.
func (c *Client) notifyProfile(ctx context.Context, except []string) {
	var users []string
	if err := c.view(ctx, func(tx sealedTx) error {
		var err error
		users, err = c.profileAudience(tx)
		return err
	}); err != nil {
		c.log.Warn("profile change not told", "err", err)
		return
	}
	users = slices.DeleteFunc(users, func(u string) bool { return slices.Contains(except, u) })
	ct := &content{Kind: kindProfileKey, Timestamp: c.nowMillis(), ProfileKey: c.acct.ProfileKey}
	for u, err := range c.deliverKeptEach(ctx, users, ct) {
		if err != nil {
			c.log.Warn("profile change not told", "to", u, "err", err)
		}
	}
}

// profileAudience lists who shares this account's profile: the account
// itself (its other devices), its contacts and the members of the groups
// it is in, sorted.
func (c *Client) profileAudience(tx sealedTx) ([]string, error) {
	users := []string{c.acct.Username}
	contacts, err := tx.keys(bucketContact, "")
	if err != nil {
		return nil, err
	}
	for _, u := range contacts {
		// A contact is an account this one wrote to or accepted: not a
		// message request's sender (spec/client.md §11.8).
		if k, err := c.known(tx, u); err != nil {
			return nil, err
		} else if k {
			users = append(users, u)
		}
	}
	groups, err := c.memberGroups(tx)
	if err != nil {
		return nil, err
	}
	for _, l := range groups {
		for _, m := range l.State().Members() {
			users = append(users, m.Username)
		}
	}
	slices.Sort(users)
	users = slices.Compact(users)
	// Never a blocked account (spec/client.md §11.7).
	var out []string
	for _, u := range users {
		if b, err := isBlocked(tx, u); err != nil {
			return nil, err
		} else if !b {
			out = append(out, u)
		}
	}
	return out, nil
}

// learnProfileKey takes the profile key a content from sender carries
// (apply calls it in the envelope's transaction). A peer's key is taken
// from a text or a kind-10 content, which the peer's session or sender
// key authenticated, as the sender's own; this account's from a kind-10
// content of another of its devices. A new key, or a kind-10 content, marks
// the profile to be fetched once the transaction commits.
func (c *Client) learnProfileKey(tx sealedTx, sender string, ct *content) error {
	if ct.ProfileKey == nil || ct.Kind != kindText && ct.Kind != kindProfileKey {
		return nil
	}
	if sender == c.acct.Username {
		if ct.Kind != kindProfileKey || ct.Timestamp < c.acct.ProfileKeyAt {
			return nil
		}
		if !sameProfileKey(c.acct.ProfileKey, ct.ProfileKey) {
			a := *c.acct
			a.ProfileKey, a.ProfileKeyAt = ct.ProfileKey, ct.Timestamp
			if err := tx.putJSON(bucketAccount, keySelf, &a); err != nil {
				return err
			}
			// Before the commit: a failed transaction leaves here a key
			// the account has anyway.
			c.acct.ProfileKey, c.acct.ProfileKeyAt = a.ProfileKey, a.ProfileKeyAt
		}
		return c.markProfileStale(tx, sender)
	}
	var r contactRecord
	if err := tx.getJSON(bucketContact, sender, &r); errors.Is(err, ErrNotFound) {
		return nil // no session was made with it: not authenticated
	} else if err != nil {
		return err
	}
	if ct.Timestamp < r.ProfileKeyAt {
		return nil // older than the key held: a resend, or a replay of one
	}
	changed := !sameProfileKey(r.ProfileKey, ct.ProfileKey)
	r.ProfileKey, r.ProfileKeyAt = ct.ProfileKey, ct.Timestamp
	if err := tx.putJSON(bucketContact, sender, &r); err != nil {
		return err
	}
	if !changed && ct.Kind != kindProfileKey {
		return nil
	}
	return c.markProfileStale(tx, sender)
}

// markProfileStale notes that user's profile must be fetched again, now
// (runProfileFetches) and, if that fails, at the next Profile call.
func (c *Client) markProfileStale(tx sealedTx, user string) error {
	var rec profileRecord
	if err := getProfile(tx, user, &rec); err != nil {
		return err
	}
	rec.Stale = true
	if err := tx.putJSON(bucketProfile, user, &rec); err != nil {
		return err
	}
	if c.profileFetches == nil {
		c.profileFetches = map[string]bool{}
	}
	c.profileFetches[user] = true
	return nil
}

// runProfileFetches fetches the profiles the envelope just processed
// marked stale, reporting those that changed. c.mu is held.
func (c *Client) runProfileFetches(ctx context.Context) {
	users := make([]string, 0, len(c.profileFetches))
	for u := range c.profileFetches {
		users = append(users, u)
	}
	clear(c.profileFetches)
	slices.Sort(users)
	for _, u := range users {
		if _, err := c.fetchProfile(ctx, u); err != nil && !errors.Is(err, ErrNoProfile) {
			c.log.Warn("profile not fetched", "user", u, "err", err)
		}
	}
}

// getProfile reads user's profile record into r; none is a zero record.
func getProfile(tx sealedTx, user string, r *profileRecord) error {
	if err := tx.getJSON(bucketProfile, user, r); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
