// Package protocoltest builds real protocol parties for tests and
// benchmarks: identities, prekeys in an in-memory store, and sessions
// started through the same PQXDH path the client uses. Tests, benchmarks
// and the demo command use it; production code does not.
package protocoltest

import (
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/ratchet"
	"github.com/parley-chat/parley/internal/session"
)

// Rand returns a deterministic randomness source for seed.
func Rand(seed uint64) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

// Party is one device with its identity and prekeys.
type Party struct {
	Identity keys.IdentityKeyPair
	Store    *MemStore
	SPK      pqxdh.SignedPreKey
	KEM      pqxdh.KEMPreKey
	OPK      *pqxdh.OneTimePreKey
}

// NewParty makes a device with a signed prekey (ID 1), a last-resort KEM
// prekey (ID 1) and, if withOPK, one one-time prekey (ID 1).
func NewParty(r io.Reader, withOPK bool) (*Party, error) {
	id, err := keys.GenerateIdentityKeyPair(r)
	if err != nil {
		return nil, err
	}
	p := &Party{Identity: id, Store: NewMemStore()}
	if p.SPK, err = pqxdh.GenerateSignedPreKey(id, 1, r); err != nil {
		return nil, err
	}
	if p.KEM, err = pqxdh.GenerateKEMPreKey(id, 1, true, r); err != nil {
		return nil, err
	}
	p.Store.Signed[p.SPK.ID] = p.SPK.Private
	p.Store.KEM[p.KEM.ID] = p.KEM
	if withOPK {
		opk, err := pqxdh.GenerateOneTimePreKey(1, r)
		if err != nil {
			return nil, err
		}
		p.OPK = &opk
		p.Store.OneTime[opk.ID] = opk.Private
	}
	return p, nil
}

// Bundle returns the party's encoded prekey bundle as a server would serve it.
func (p *Party) Bundle() []byte {
	return pqxdh.MakeBundle(p.Identity.Public(), 1, &p.SPK, &p.KEM, p.OPK)
}

// Pair starts a session from a to b and completes it with one message
// each way, so both sides are past the prekey stage.
func Pair(r io.Reader, a, b *Party) (as, bs *ratchet.Session, err error) {
	return PairWith(r, a, b, nil)
}

// PairWith is Pair with the KEM step done by encaps (session.InitiateWith);
// the ratchet vectors pass internal/kat's deterministic encapsulation.
func PairWith(r io.Reader, a, b *Party, encaps pqxdh.Encapsulator) (as, bs *ratchet.Session, err error) {
	if as, err = session.InitiateWith(a.Identity, nil, b.Bundle(), r, encaps); err != nil {
		return nil, nil, err
	}
	as.SetRand(r)
	m, err := as.Encrypt([]byte("hello"))
	if err != nil {
		return nil, nil, err
	}
	resp, err := session.Respond(b.Identity, b.Store, nil, nil, m, r)
	if err != nil {
		return nil, nil, fmt.Errorf("respond: %w", err)
	}
	bs = resp.Session
	reply, err := bs.Encrypt([]byte("hi"))
	if err != nil {
		return nil, nil, err
	}
	if _, err := as.Decrypt(reply); err != nil {
		return nil, nil, fmt.Errorf("first reply: %w", err)
	}
	return as, bs, nil
}

// MemStore is an in-memory session.PreKeyStore.
type MemStore struct {
	Signed  map[uint32]keys.PrivateKey
	KEM     map[uint32]pqxdh.KEMPreKey
	OneTime map[uint32]keys.PrivateKey
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{
		Signed:  map[uint32]keys.PrivateKey{},
		KEM:     map[uint32]pqxdh.KEMPreKey{},
		OneTime: map[uint32]keys.PrivateKey{},
	}
}

// SignedPreKey implements session.PreKeyStore.
func (s *MemStore) SignedPreKey(id uint32) (keys.PrivateKey, bool) {
	k, ok := s.Signed[id]
	return k, ok
}

// KEMPreKey implements session.PreKeyStore.
func (s *MemStore) KEMPreKey(id uint32) (keys.KEMPrivateKey, bool, bool) {
	k, ok := s.KEM[id]
	return k.Private, k.LastResort, ok
}

// OneTimePreKey implements session.PreKeyStore.
func (s *MemStore) OneTimePreKey(id uint32) (keys.PrivateKey, bool) {
	k, ok := s.OneTime[id]
	return k, ok
}

// RemoveOneTimePreKey implements session.PreKeyStore.
func (s *MemStore) RemoveOneTimePreKey(id uint32) { delete(s.OneTime, id) }

// RemoveKEMPreKey implements session.PreKeyStore.
func (s *MemStore) RemoveKEMPreKey(id uint32) { delete(s.KEM, id) }
