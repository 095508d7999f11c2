package client

import (
	"bytes"
	"errors"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/ratchet"
	"github.com/parley-chat/parley/internal/session"
	"github.com/parley-chat/parley/internal/wire"
)

// Sessions follow Sesame (Signal, "The Sesame Algorithm", §3): per peer
// device one active session, used to send, and up to maxInactiveSessions
// inactive ones kept to decrypt messages still in flight on them. A new
// session from a prekey message becomes active; so does an inactive
// session that decrypts a message.

// deviceSessions is the loaded sessionRecord of one peer device.
type deviceSessions struct {
	active   *ratchet.Session
	inactive []*ratchet.Session
}

func loadSessions(tx sealedTx, user string, device uint32) (*deviceSessions, error) {
	var r sessionRecord
	if err := tx.getJSON(bucketSession, sessionKey(user, device), &r); err != nil {
		if errors.Is(err, ErrNotFound) {
			return &deviceSessions{}, nil
		}
		return nil, err
	}
	ds := &deviceSessions{}
	var err error
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
	return ds, nil
}

func (ds *deviceSessions) save(tx sealedTx, user string, device uint32) error {
	if ds.active == nil {
		return tx.del(bucketSession, sessionKey(user, device))
	}
	r := sessionRecord{Active: ds.active.Marshal()}
	for _, s := range ds.inactive {
		r.Inactive = append(r.Inactive, s.Marshal())
	}
	return tx.putJSON(bucketSession, sessionKey(user, device), &r)
}

// promote makes s the active session, keeping the previous active one as
// inactive (Sesame §3.2).
func (ds *deviceSessions) promote(s *ratchet.Session) {
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
		rest = rest[:maxInactiveSessions]
	}
	ds.active, ds.inactive = s, rest
}

// decrypt decrypts one envelope from a peer device with the matching
// session, or a new one for a prekey message, and leaves ds changed only
// on success. It returns the plaintext and the sender's identity key.
func (c *Client) decrypt(tx sealedTx, ds *deviceSessions, envType uint8, msg []byte) ([]byte, keys.PublicKey, error) {
	switch wire.Type(envType) {
	case wire.TypePreKey:
		_, base, err := session.PeekPreKey(msg)
		if err != nil {
			return nil, keys.PublicKey{}, err
		}
		var existing *ratchet.Session
		for _, s := range append([]*ratchet.Session{ds.active}, ds.inactive...) {
			if s != nil && s.BaseKey() == base {
				existing = s
				break
			}
		}
		ps := &txPreKeys{tx: tx}
		resp, err := session.Respond(c.id, ps, existing, nil, msg, c.rand)
		if err == nil {
			err = ps.err
		}
		if err != nil {
			return nil, keys.PublicKey{}, err
		}
		ds.promote(resp.Session)
		return resp.Plaintext, resp.Identity, nil
	case wire.TypeRatchet:
		for _, s := range append([]*ratchet.Session{ds.active}, ds.inactive...) {
			if s == nil {
				continue
			}
			pt, err := s.Decrypt(msg)
			if err == nil {
				ds.promote(s)
				return pt, s.RemoteIdentity(), nil
			}
		}
		return nil, keys.PublicKey{}, ratchet.ErrDecrypt
	}
	return nil, keys.PublicKey{}, ratchet.ErrDecrypt
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
