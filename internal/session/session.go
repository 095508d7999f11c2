// Package session starts Double Ratchet sessions with PQXDH (spec/protocol.md
// §4.4): the initiator from a prekey bundle, the responder from a prekey
// message.
//
// It enforces the rules that keep the two halves from being mixed up: a
// bundle whose prekey signatures fail is refused, an identity key that
// changed is refused unless the caller accepts it, and a one-time prekey is
// consumed only when a session built on it has decrypted its first message,
// and never used again. It does no I/O: prekeys come through PreKeyStore.
package session

import (
	"errors"
	"fmt"
	"io"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/ratchet"
	"github.com/parley-chat/parley/internal/wire"
)

var (
	// ErrUntrustedIdentity means the peer's identity key is not the one
	// the caller trusts; the caller must ask the user before going on.
	ErrUntrustedIdentity = pqxdh.ErrUntrustedIdentity
	// ErrUnknownPreKey means a prekey message names a prekey the responder
	// does not have, for example a one-time prekey that was already used.
	ErrUnknownPreKey = errors.New("session: unknown or used prekey")
)

// Initiate verifies an encoded bundle and starts a session with it
// (PQXDH §3.3). expected is the identity key the caller trusts for this
// peer, or nil for a first contact or a key the user has just accepted.
func Initiate(ours keys.IdentityKeyPair, expected *keys.PublicKey, bundle []byte, rand io.Reader) (*ratchet.Session, error) {
	return InitiateWith(ours, expected, bundle, rand, nil)
}

// InitiateWith is Initiate with the KEM step done by encaps (see
// pqxdh.InitiateWith): nil in production, internal/kat's deterministic
// encapsulation in known-answer tests.
func InitiateWith(ours keys.IdentityKeyPair, expected *keys.PublicKey, bundle []byte, rand io.Reader, encaps pqxdh.Encapsulator) (*ratchet.Session, error) {
	b, err := pqxdh.ParseBundle(bundle)
	if err != nil {
		return nil, err
	}
	init, err := pqxdh.InitiateWith(ours, expected, b, rand, encaps)
	if err != nil {
		return nil, err
	}
	pending := &ratchet.PendingPreKey{
		SignedPreKeyID:   b.SignedPreKeyID,
		KEMPreKeyID:      b.KEMPreKeyID,
		HasOneTimePreKey: b.HasOneTimePreKey,
		OneTimePreKeyID:  b.OneTimePreKeyID,
		KEMCiphertext:    init.KEMCiphertext,
	}
	return ratchet.NewInitiator(ours, b.IdentityKey, init, b.SignedPreKey, pending, rand)
}

// PreKeyStore holds a responder's private prekeys.
type PreKeyStore interface {
	SignedPreKey(id uint32) (keys.PrivateKey, bool)
	// KEMPreKey returns the key and whether it is a last-resort key,
	// which is not consumed.
	KEMPreKey(id uint32) (key keys.KEMPrivateKey, lastResort bool, ok bool)
	OneTimePreKey(id uint32) (keys.PrivateKey, bool)
	// RemoveOneTimePreKey and RemoveKEMPreKey are called once a session
	// that used the key has decrypted its first message.
	RemoveOneTimePreKey(id uint32)
	RemoveKEMPreKey(id uint32)
}

// Response is the result of Respond.
type Response struct {
	Session   *ratchet.Session // new, or existing when it already covered the message
	Plaintext []byte
	Identity  keys.PublicKey // the initiator's identity key
}

// Respond handles a prekey message (PQXDH §3.4). existing is the session
// the caller has with the sender's device, if any: when it was built from
// the same base key, the message is just decrypted with it (the initiator
// repeats the prekey header until it hears back). trusted reports whether
// an identity key is acceptable for the sender; nil trusts any key.
// Nothing changes, in existing or in store, unless the call succeeds.
func Respond(ours keys.IdentityKeyPair, store PreKeyStore, existing *ratchet.Session, trusted func(keys.PublicKey) bool, msg []byte, rand io.Reader) (*Response, error) {
	m, err := wire.ParsePreKeyMessage(msg)
	if err != nil {
		return nil, ratchet.ErrDecrypt
	}
	identity, err := keys.DecodePublicKey(m.IdentityKey)
	if err != nil {
		return nil, ratchet.ErrDecrypt
	}
	base, err := keys.DecodePublicKey(m.BaseKey)
	if err != nil {
		return nil, ratchet.ErrDecrypt
	}
	if trusted != nil && !trusted(identity) {
		return nil, ErrUntrustedIdentity
	}
	if existing != nil && existing.BaseKey() == base && existing.RemoteIdentity() == identity {
		pt, err := existing.Decrypt(m.Message)
		if err != nil {
			return nil, err
		}
		return &Response{Session: existing, Plaintext: pt, Identity: identity}, nil
	}
	rk := pqxdh.ResponderKeys{Identity: ours}
	var ok, lastResort bool
	if rk.SignedPreKey, ok = store.SignedPreKey(m.SignedPreKeyID); !ok {
		return nil, fmt.Errorf("%w: signed prekey", ErrUnknownPreKey)
	}
	if rk.KEMPreKey, lastResort, ok = store.KEMPreKey(m.KEMPreKeyID); !ok {
		return nil, fmt.Errorf("%w: KEM prekey", ErrUnknownPreKey)
	}
	if m.HasOneTimePreKey {
		opk, ok := store.OneTimePreKey(m.OneTimePreKeyID)
		if !ok {
			return nil, fmt.Errorf("%w: one-time prekey", ErrUnknownPreKey)
		}
		rk.OneTimePreKey = &opk
	}
	sk, err := pqxdh.Respond(&rk, identity, base, m.KEMCiphertext)
	if err != nil {
		return nil, ratchet.ErrDecrypt
	}
	s := ratchet.NewResponder(ours, identity, sk, rk.SignedPreKey, base, rand)
	pt, err := s.Decrypt(m.Message)
	if err != nil {
		return nil, err
	}
	// PQXDH §3.4: delete the one-time prekeys once used.
	if m.HasOneTimePreKey {
		store.RemoveOneTimePreKey(m.OneTimePreKeyID)
	}
	if !lastResort {
		store.RemoveKEMPreKey(m.KEMPreKeyID)
	}
	return &Response{Session: s, Plaintext: pt, Identity: identity}, nil
}

// PeekPreKey returns the sender's identity key and base key of a prekey
// message without decrypting anything, so that a caller holding several
// sessions with the sender's device can pick the one to pass to Respond
// (Sesame §3.3: a session is matched by its base key).
func PeekPreKey(msg []byte) (identity, base keys.PublicKey, err error) {
	m, err := wire.ParsePreKeyMessage(msg)
	if err != nil {
		return identity, base, ratchet.ErrDecrypt
	}
	if identity, err = keys.DecodePublicKey(m.IdentityKey); err != nil {
		return identity, base, ratchet.ErrDecrypt
	}
	if base, err = keys.DecodePublicKey(m.BaseKey); err != nil {
		return identity, base, ratchet.ErrDecrypt
	}
	return identity, base, nil
}
