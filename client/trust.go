package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/fingerprint"
	"github.com/parley-chat/parley/internal/keys"
)

// Safety numbers use libsignal's numeric fingerprint (protocol §3) with
// the normalised username as each party's stable identifier and
// scannable version 2.
const fingerprintVersion = 2

// Contact is what the client knows of a peer.
type Contact struct {
	Username    string
	IdentityKey []byte // encoded public identity key
	Verified    bool
	// Held means the contact was verified and their identity key has
	// changed since: sending to them fails with ErrIdentityNotVerified
	// until Verify is called again. (Blocking an account is another
	// thing: IsBlocked, spec/client.md §11.7.)
	Held  bool
	Added time.Time
}

// Contacts lists every peer the client has exchanged keys with, by name.
func (c *Client) Contacts(ctx context.Context) ([]Contact, error) {
	var out []Contact
	err := c.view(ctx, func(tx sealedTx) error {
		return tx.scan(bucketContact, "", func(k string, v []byte) error {
			var r contactRecord
			if err := jsonUnmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, Contact{Username: k, IdentityKey: r.Identity, Verified: r.Verified, Held: r.Held, Added: time.UnixMilli(r.Added)})
			return nil
		})
	})
	return out, err
}

// SafetyNumber returns the safety number shared with peer: 60 digits, the
// same on both sides, and this side's scannable code (for a QR code).
// The peer must be a contact (a message has been exchanged).
func (c *Client) SafetyNumber(ctx context.Context, peer string) (digits string, scannable []byte, err error) {
	sn, _, err := c.safetyNumber(ctx, peer)
	if err != nil {
		return "", nil, err
	}
	return sn.Displayable(), sn.Scannable(), nil
}

func (c *Client) safetyNumber(ctx context.Context, peer string) (*fingerprint.SafetyNumber, *contactRecord, error) {
	peer, err := api.NormalizeUsername(peer)
	if err != nil {
		return nil, nil, ErrNoSuchUser
	}
	var r contactRecord
	if err := c.view(ctx, func(tx sealedTx) error { return tx.getJSON(bucketContact, peer, &r) }); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil, ErrUnknownContact
		}
		return nil, nil, err
	}
	sn, err := fingerprint.New(fingerprintVersion, fingerprint.DefaultIterations,
		[]byte(c.acct.Username), c.IdentityKey(), []byte(peer), r.Identity)
	return sn, &r, err
}

// ErrUnknownContact means no keys have been exchanged with the peer yet.
var ErrUnknownContact = errors.New("client: no keys exchanged with this user yet; send or receive a message first")

// ErrSafetyNumberMismatch means a scanned code is not the peer's current one.
var ErrSafetyNumberMismatch = errors.New("client: the scanned safety number does not match")

// Verify marks peer's current identity key as verified, after the user
// compared the safety number (or scanned, if not nil, matched it). It
// lifts a Held state.
func (c *Client) Verify(ctx context.Context, peer string, scanned []byte) error {
	sn, r, err := c.safetyNumber(ctx, peer)
	if err != nil {
		return err
	}
	if scanned != nil {
		ok, err := sn.CompareScannable(scanned)
		if err != nil {
			return err
		}
		if !ok {
			return ErrSafetyNumberMismatch
		}
	}
	return c.setVerified(ctx, peer, r.Identity, true)
}

// Unverify clears the verified mark of peer.
func (c *Client) Unverify(ctx context.Context, peer string) error {
	_, r, err := c.safetyNumber(ctx, peer)
	if err != nil {
		return err
	}
	return c.setVerified(ctx, peer, r.Identity, false)
}

// ErrVerificationNotSynced means a verification mark was set (or cleared)
// on this device, but the account's other devices could not be told: the
// error wraps why. Doing it again tells them.
var ErrVerificationNotSynced = errors.New("client: the mark was set on this device, but the account's other devices were not told")

// setVerified sets the mark on this device, then sends the account's
// other devices a verification sync naming the key (spec/client.md §6.1).
func (c *Client) setVerified(ctx context.Context, peer string, identity []byte, verified bool) error {
	peer, _ = api.NormalizeUsername(peer)
	c.mu.Lock()
	defer c.unlock()
	err := c.update(ctx, func(tx sealedTx) error {
		var r contactRecord
		if err := tx.getJSON(bucketContact, peer, &r); err != nil {
			return err
		}
		if string(r.Identity) != string(identity) {
			return ErrSafetyNumberMismatch // the key changed while the user was comparing
		}
		r.Verified, r.Held = verified, false
		return tx.putJSON(bucketContact, peer, &r)
	})
	if err != nil {
		return err
	}
	ct := &content{Kind: kindSyncVerified, Timestamp: c.nowMillis(), Destination: peer, VerifiedKey: identity, Verified: verified}
	c.rand.Read(ct.ID[:])
	if err := c.deliver(ctx, c.acct.Username, ct, false); err != nil {
		return fmt.Errorf("%w: %w", ErrVerificationNotSynced, err)
	}
	return nil
}

// VerifiedElsewhereEvent reports a verification sync from another of
// this account's devices (Device): Peer was marked verified (or not) and
// the mark now holds here too, or, if Refused, that device named another
// identity key for Peer than the one this device has pinned, so nothing
// changed here and a note was added to the conversation.
type VerifiedElsewhereEvent struct {
	Peer     string
	Device   uint32
	Verified bool
	Refused  bool
}

func (*VerifiedElsewhereEvent) event() {}

// applyVerifiedSync applies a verification sync from this account's
// device dev (spec/client.md §6.1). It returns the event to report, or
// nil if nothing changed.
func (c *Client) applyVerifiedSync(tx sealedTx, dev uint32, ct *content) (Event, error) {
	peer := ct.Destination
	if peer == c.acct.Username {
		return nil, nil
	}
	ev := &VerifiedElsewhereEvent{Peer: peer, Device: dev, Verified: ct.Verified}
	var r contactRecord
	err := tx.getJSON(bucketContact, peer, &r)
	switch {
	case errors.Is(err, ErrNotFound):
		if !ct.Verified {
			return nil, nil // no mark here to clear
		}
		// No key pinned here yet: the one the own device verified is
		// pinned, verified, as a first key seen would be.
		r = contactRecord{Identity: bytes.Clone(ct.VerifiedKey), Verified: true, Added: c.nowMillis()}
		return ev, tx.putJSON(bucketContact, peer, &r)
	case err != nil:
		return nil, err
	case !bytes.Equal(r.Identity, ct.VerifiedKey):
		ev.Refused = true
		what := "verified"
		if !ct.Verified {
			what = "not verified"
		}
		var id MessageID
		c.rand.Read(id[:])
		_, err := storeMessage(tx, &messageRecord{ID: id, Conv: Direct(peer), From: peer, Kind: KindIdentityChanged,
			Text:      fmt.Sprintf("Your device %d marked %s %s for another safety number than this device has; nothing changed here. Compare the safety number on this device.", dev, peer, what),
			Timestamp: c.nowMillis(), Status: StatusRead})
		return ev, err
	case r.Verified == ct.Verified && !r.Held:
		return nil, nil
	}
	r.Verified, r.Held = ct.Verified, false
	return ev, tx.putJSON(bucketContact, peer, &r)
}

// observeIdentity records peer's identity key as seen in a bundle or a
// message. A first key is simply stored. A changed key replaces the old
// one, drops the sessions with peer's other devices (they belonged to
// the old identity), adds a note to the conversation and, if the contact
// was verified, blocks sending until the user verifies again (Signal's
// behaviour). It reports whether the key changed.
func (c *Client) observeIdentity(tx sealedTx, peer string, key keys.PublicKey, except uint32) (bool, error) {
	var r contactRecord
	err := tx.getJSON(bucketContact, peer, &r)
	if errors.Is(err, ErrNotFound) {
		return false, tx.putJSON(bucketContact, peer, &contactRecord{Identity: key.Encode(), Added: c.nowMillis()})
	}
	if err != nil {
		return false, err
	}
	if sameKey(r.Identity, key) {
		return false, nil
	}
	r.Identity = key.Encode()
	if r.Verified {
		r.Verified, r.Held = false, true
	}
	if err := tx.putJSON(bucketContact, peer, &r); err != nil {
		return false, err
	}
	var stale []string
	if err := tx.scan(bucketSession, peer+"/", func(k string, _ []byte) error {
		if _, d, err := parseSessionKey(k); err == nil && d != except {
			stale = append(stale, k)
		}
		return nil
	}); err != nil {
		return false, err
	}
	for _, k := range stale {
		if err := tx.del(bucketSession, k); err != nil {
			return false, err
		}
	}
	var id MessageID
	c.rand.Read(id[:])
	_, err = storeMessage(tx, &messageRecord{ID: id, Conv: Direct(peer), From: peer, Kind: KindIdentityChanged,
		Text: "The safety number with " + peer + " changed.", Timestamp: c.nowMillis(), Status: StatusRead})
	return true, err
}
