package client

import (
	"bytes"
	"errors"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/ratchet"
	"github.com/parley-chat/parley/internal/session"
	"github.com/parley-chat/parley/internal/wire"
)

// Sessions follow Sesame (Signal, "The Sesame Algorithm", rev 2, §3): per
// peer device one active session, used to send, and up to
// maxInactiveSessions inactive ones kept to decrypt messages still in
// flight on them. A new session from a prekey message becomes active; so
// does an inactive session that decrypts a message.
//
// Sesame keeps the previous session states of a device rather than
// deleting them, for messages still in flight (§3). Parley goes one step
// further and never deletes a session that may still have messages in
// flight: when the server says a device is gone (stale_devices), when a
// peer's identity key changes (recovery) and when the inactive list
// overflows, the sessions are *archived*: kept receive-only, never used
// to send, for archiveKeep and until the mailbox has been drained since
// (spec/client.md §4.1).

// deviceSessions is the loaded sessionRecord and archiveRecord of one
// peer device.
type deviceSessions struct {
	active   *ratchet.Session
	inactive []*ratchet.Session

	archived  []archived
	gone      bool // the server said the device no longer exists
	archDirty bool // archived or gone changed since loading
}

// archived is a receive-only session and when it was archived.
type archived struct {
	s  *ratchet.Session
	at int64 // unix ms
}

func loadSessions(tx sealedTx, user string, device uint32) (*deviceSessions, error) {
	ds := &deviceSessions{}
	var r sessionRecord
	err := tx.getJSON(bucketSession, sessionKey(user, device), &r)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err == nil {
		if ds.active, err = ratchet.Unmarshal(r.Active); err != nil {
			return nil, err
		}
		for _, b := range r.Inactive {
			s, err := ratchet.Unmarshal(b)
			if err != nil {
				return nil, err
			}
			ds.inactive = append(ds.inactive, s)
		}
	}
	var a archiveRecord
	err = tx.getJSON(bucketArchive, sessionKey(user, device), &a)
	if errors.Is(err, ErrNotFound) {
		return ds, nil
	}
	if err != nil {
		return nil, err
	}
	ds.gone = a.Gone
	for _, as := range a.Sessions {
		s, err := ratchet.Unmarshal(as.State)
		if err != nil {
			return nil, err
		}
		ds.archived = append(ds.archived, archived{s: s, at: as.At})
	}
	return ds, nil
}

func (ds *deviceSessions) save(tx sealedTx, user string, device uint32) error {
	k := sessionKey(user, device)
	if ds.archDirty {
		if len(ds.archived) == 0 && !ds.gone {
			if err := tx.del(bucketArchive, k); err != nil {
				return err
			}
		} else {
			a := archiveRecord{Gone: ds.gone}
			for _, as := range ds.archived {
				a.Sessions = append(a.Sessions, archivedSession{State: as.s.Marshal(), At: as.at})
			}
			if err := tx.putJSON(bucketArchive, k, &a); err != nil {
				return err
			}
		}
	}
	if ds.active == nil {
		return tx.del(bucketSession, k)
	}
	r := sessionRecord{Active: ds.active.Marshal()}
	for _, s := range ds.inactive {
		r.Inactive = append(r.Inactive, s.Marshal())
	}
	return tx.putJSON(bucketSession, k, &r)
}

// promote makes s the active session, keeping the previous active one as
// inactive (Sesame §3.2). An inactive session pushed off the list is
// archived, not dropped.
func (ds *deviceSessions) promote(s *ratchet.Session, now int64) {
	if ds.active == s {
		return
	}
	rest := ds.inactive[:0]
	for _, o := range ds.inactive {
		if o != s {
			rest = append(rest, o)
		}
	}
	if ds.active != nil {
		rest = append([]*ratchet.Session{ds.active}, rest...)
	}
	if len(rest) > maxInactiveSessions {
		ds.archive(now, rest[maxInactiveSessions:]...)
		rest = rest[:maxInactiveSessions]
	}
	ds.active, ds.inactive = s, rest
}

// archive adds ss, newest first, to the receive-only sessions, keeping at
// most maxArchivedSessions (the oldest go first).
func (ds *deviceSessions) archive(now int64, ss ...*ratchet.Session) {
	if len(ss) == 0 {
		return
	}
	add := make([]archived, 0, len(ss)+len(ds.archived))
	for _, s := range ss {
		add = append(add, archived{s: s, at: now})
	}
	ds.archived = append(add, ds.archived...)
	if len(ds.archived) > maxArchivedSessions {
		ds.archived = ds.archived[:maxArchivedSessions]
	}
	ds.archDirty = true
}

// archiveAll makes every session of the device receive-only; gone marks
// a device the server no longer has.
func (ds *deviceSessions) archiveAll(now int64, gone bool) {
	var ss []*ratchet.Session
	if ds.active != nil {
		ss = append(ss, ds.active)
	}
	ss = append(ss, ds.inactive...)
	ds.archive(now, ss...)
	ds.active, ds.inactive = nil, nil
	if gone && !ds.gone {
		ds.gone, ds.archDirty = true, true
	}
}

// archiveIdentity archives the sessions whose remote identity is not key.
func (ds *deviceSessions) archiveIdentity(now int64, key keys.PublicKey) {
	var old []*ratchet.Session
	var keep []*ratchet.Session
	for _, s := range append([]*ratchet.Session{ds.active}, ds.inactive...) {
		switch {
		case s == nil:
		case s.RemoteIdentity() != key:
			old = append(old, s)
		default:
			keep = append(keep, s)
		}
	}
	if len(old) == 0 {
		return
	}
	ds.archive(now, old...)
	ds.active, ds.inactive = nil, nil
	if len(keep) > 0 {
		ds.active, ds.inactive = keep[0], keep[1:]
	}
}

// pruneArchive drops the archived sessions archived before drainedSince
// (the start of a connection that has since read its whole queue) and at
// least archiveKeep before now (spec/client.md §4.1).
func (ds *deviceSessions) pruneArchive(drainedSince, now int64) {
	keep := ds.archived[:0]
	for _, a := range ds.archived {
		if a.at < drainedSince && now-a.at >= archiveKeep.Milliseconds() {
			ds.archDirty = true
			continue
		}
		keep = append(keep, a)
	}
	ds.archived = keep
	if len(ds.archived) == 0 && ds.gone && ds.active == nil {
		ds.gone, ds.archDirty = false, true
	}
}

// decrypt decrypts one envelope from a peer device with the matching
// session, or a new one for a prekey message, and leaves ds changed only
// on success. It returns the plaintext and the sender's identity key, and
// whether a receive-only session took it (then the identity is the one
// that session was made with, perhaps no longer the peer's: it must not
// be recorded as the peer's current key).
func (c *Client) decrypt(tx sealedTx, ds *deviceSessions, envType uint8, msg []byte) ([]byte, keys.PublicKey, bool, error) {
	now := c.nowMillis()
	switch wire.Type(envType) {
	case wire.TypePreKey:
		_, base, err := session.PeekPreKey(msg)
		if err != nil {
			return nil, keys.PublicKey{}, false, err
		}
		var existing *ratchet.Session
		arch := -1
		for _, s := range append([]*ratchet.Session{ds.active}, ds.inactive...) {
			if s != nil && s.BaseKey() == base {
				existing = s
				break
			}
		}
		for i, a := range ds.archived {
			if existing == nil && a.s.BaseKey() == base {
				existing, arch = a.s, i
			}
		}
		ps := &txPreKeys{tx: tx}
		resp, err := session.Respond(c.id, ps, existing, nil, msg, c.rand)
		if err == nil {
			err = ps.err
		}
		if err != nil {
			return nil, keys.PublicKey{}, false, err
		}
		switch {
		case arch >= 0:
			ds.archived[arch].s, ds.archDirty = resp.Session, true
			return resp.Plaintext, resp.Identity, true, nil
		case ds.gone:
			// A prekey message from a device the server no longer has:
			// read it, but never send on its session.
			ds.archive(now, resp.Session)
			return resp.Plaintext, resp.Identity, true, nil
		}
		ds.promote(resp.Session, now)
		return resp.Plaintext, resp.Identity, false, nil
	case wire.TypeRatchet:
		for _, s := range append([]*ratchet.Session{ds.active}, ds.inactive...) {
			if s == nil {
				continue
			}
			pt, err := s.Decrypt(msg)
			if err == nil {
				ds.promote(s, now)
				return pt, s.RemoteIdentity(), false, nil
			}
		}
		// Sesame (§3) tries the active and then the inactive sessions;
		// the archived ones come last, and stay receive-only.
		for _, a := range ds.archived {
			pt, err := a.s.Decrypt(msg)
			if err == nil {
				ds.archDirty = true
				return pt, a.s.RemoteIdentity(), true, nil
			}
		}
		return nil, keys.PublicKey{}, false, ratchet.ErrDecrypt
	}
	return nil, keys.PublicKey{}, false, ratchet.ErrDecrypt
}

// archiveDevice makes the sessions with a device of user receive-only;
// gone says the server no longer has the device.
func (c *Client) archiveDevice(tx sealedTx, user string, device uint32, gone bool) error {
	ds, err := loadSessions(tx, user, device)
	if err != nil {
		return err
	}
	ds.archiveAll(c.nowMillis(), gone)
	return ds.save(tx, user, device)
}

// archiveOldIdentity runs before observeIdentity records key as peer's
// identity: if it is a new key, every session with peer made with
// another key is archived rather than deleted, so messages the old
// devices sent are still read. cur, if not nil, is the loaded state of
// device curDev, which the caller saves.
func (c *Client) archiveOldIdentity(tx sealedTx, peer string, key keys.PublicKey, cur *deviceSessions, curDev uint32) error {
	var r contactRecord
	err := tx.getJSON(bucketContact, peer, &r)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || sameKey(r.Identity, key) {
		return err
	}
	now := c.nowMillis()
	devices, err := sessionDevices(tx, peer, 0, false)
	if err != nil {
		return err
	}
	for _, d := range devices {
		if cur != nil && d == curDev {
			continue
		}
		ds, err := loadSessions(tx, peer, d)
		if err != nil {
			return err
		}
		ds.archiveIdentity(now, key)
		if err := ds.save(tx, peer, d); err != nil {
			return err
		}
	}
	if cur != nil {
		cur.archiveIdentity(now, key)
	}
	return nil
}

// pruneArchives drops the archived sessions that pruneArchive allows.
// drainedSince is the start of a connection that read its whole queue.
func (c *Client) pruneArchives(tx sealedTx, drainedSince int64) error {
	ks, err := tx.keys(bucketArchive, "")
	if err != nil {
		return err
	}
	for _, k := range ks {
		user, d, err := parseSessionKey(k)
		if err != nil {
			return err
		}
		ds, err := loadSessions(tx, user, d)
		if err != nil {
			return err
		}
		ds.pruneArchive(drainedSince, c.nowMillis())
		if ds.archDirty {
			if err := ds.save(tx, user, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// txPreKeys is session.PreKeyStore over a transaction. A store error is
// kept in err (the interface has no error results) and fails the caller.
type txPreKeys struct {
	tx  sealedTx
	err error
}

func (p *txPreKeys) fail(err error) {
	if p.err == nil && !errors.Is(err, ErrNotFound) {
		p.err = err
	}
}

func (p *txPreKeys) SignedPreKey(id uint32) (keys.PrivateKey, bool) {
	var r signedPreKeyRecord
	if err := p.tx.getJSON(bucketSigned, idKey(id), &r); err != nil {
		p.fail(err)
		return keys.PrivateKey{}, false
	}
	k, err := keys.NewPrivateKey(r.Private)
	return k, err == nil
}

func (p *txPreKeys) KEMPreKey(id uint32) (keys.KEMPrivateKey, bool, bool) {
	var r kemPreKeyRecord
	if err := p.tx.getJSON(bucketKEM, idKey(id), &r); err != nil {
		p.fail(err)
		return keys.KEMPrivateKey{}, false, false
	}
	k, err := keys.NewKEMPrivateKey(r.Seed)
	return k, r.LastResort, err == nil
}

func (p *txPreKeys) OneTimePreKey(id uint32) (keys.PrivateKey, bool) {
	b, err := p.tx.get(bucketOneTime, idKey(id))
	if err != nil {
		p.fail(err)
		return keys.PrivateKey{}, false
	}
	k, err := keys.NewPrivateKey(b)
	return k, err == nil
}

func (p *txPreKeys) RemoveOneTimePreKey(id uint32) { p.fail(p.tx.del(bucketOneTime, idKey(id))) }
func (p *txPreKeys) RemoveKEMPreKey(id uint32)     { p.fail(p.tx.del(bucketKEM, idKey(id))) }

// sameKey compares encoded identity keys.
func sameKey(a []byte, b keys.PublicKey) bool { return bytes.Equal(a, b.Encode()) }
