package ratchet

import (
	"crypto/hmac"
	"errors"
	"slices"
	"time"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/msgcrypt"
	"github.com/parley-chat/parley/internal/wire"
)

var (
	errReplay  = errors.New("ratchet: message already received")
	errTooFar  = errors.New("ratchet: message too far ahead")
	errBadMAC  = errors.New("ratchet: bad MAC")
	errBadSize = errors.New("ratchet: ciphertext not a whole number of blocks")
)

// Decrypt decrypts a ratchet message (Double Ratchet §3.5 RatchetDecrypt).
// Any failure returns ErrDecrypt and leaves the session unchanged.
func (s *Session) Decrypt(msg []byte) ([]byte, error) {
	return s.DecryptAt(msg, time.Now())
}

// DecryptAt is Decrypt with an explicit clock, which decides which skipped
// keys have expired.
func (s *Session) DecryptAt(msg []byte, now time.Time) ([]byte, error) {
	pt, err := s.decrypt(msg, now.Unix())
	if err != nil {
		// Spec §5.7: one opaque error, whatever went wrong.
		return nil, ErrDecrypt
	}
	return pt, nil
}

// step is everything a successful decryption changes, computed before the
// MAC is checked and applied only after (spec §5.7).
type step struct {
	ratchet bool // a DH ratchet step happened (Double Ratchet §3.5 DHRatchet)
	root    [keySize]byte
	send    keys.PrivateKey
	sendCK  chainKey
	skipped []skippedKey
}

func (s *Session) decrypt(msg []byte, now int64) ([]byte, error) {
	m, err := wire.ParseRatchetMessage(msg)
	if err != nil {
		return nil, err
	}
	if len(m.Ciphertext)%16 != 0 {
		return nil, errBadSize
	}
	their, err := keys.DecodePublicKey(m.RatchetKey)
	if err != nil {
		return nil, err
	}
	// Double Ratchet §3.5 TrySkippedMessageKeys.
	if i := s.findSkipped(their, m.Counter, now); i >= 0 {
		pt, err := s.open(&s.skipped[i].seed, &m)
		if err != nil {
			return nil, err
		}
		s.skipped = slices.Delete(s.skipped, i, i+1)
		s.pending = nil
		s.prune(now)
		return pt, nil
	}
	var st step
	chain := s.recv
	if !s.hasRecv || their != s.recvRatchet {
		// Double Ratchet §3.5: SkipMessageKeys(state, header.pn), then
		// DHRatchet(state, header), all on the side.
		if s.hasRecv {
			if st.skipped, _, err = skipTo(st.skipped, s.recvRatchet, s.recv, m.PreviousCounter, now); err != nil {
				return nil, err
			}
		}
		var root [keySize]byte
		if root, chain, err = rootStep(&s.rootKey, s.sendRatchet, their); err != nil {
			return nil, err
		}
		if st.send, err = keys.GeneratePrivateKey(s.rand); err != nil {
			return nil, err
		}
		if st.root, st.sendCK, err = rootStep(&root, st.send, their); err != nil {
			return nil, err
		}
		st.ratchet = true
	}
	if m.Counter < chain.index {
		return nil, errReplay
	}
	// Double Ratchet §3.5: SkipMessageKeys(state, header.n).
	if st.skipped, chain, err = skipTo(st.skipped, their, chain, m.Counter, now); err != nil {
		return nil, err
	}
	seed, next := chain.step()
	pt, err := s.open(&seed, &m)
	clear(seed[:])
	if err != nil {
		return nil, err
	}
	s.commit(&st, their, next, now)
	return pt, nil
}

// commit applies a successful step.
func (s *Session) commit(st *step, their keys.PublicKey, recv chainKey, now int64) {
	if st.ratchet {
		s.prevSendCount = s.send.index
		s.sendRatchet = st.send
		s.send = st.sendCK
		s.rootKey = st.root
		s.recvRatchet = their
		s.hasRecv = true
	}
	s.recv = recv
	s.pending = nil
	s.prune(now)
	s.skipped = append(s.skipped, st.skipped...)
	if over := len(s.skipped) - MaxSkippedKeys; over > 0 {
		s.skipped = slices.Delete(s.skipped, 0, over)
	}
}

// skipTo stores seeds for messages chain.index..until-1 in list and returns
// the chain advanced to until (Double Ratchet §3.5 SkipMessageKeys).
func skipTo(list []skippedKey, ratchet keys.PublicKey, chain chainKey, until uint32, now int64) ([]skippedKey, chainKey, error) {
	if uint64(until) > uint64(chain.index)+MaxSkip {
		return nil, chain, errTooFar
	}
	for chain.index < until {
		k := skippedKey{ratchet: ratchet, index: chain.index, created: now}
		k.seed, chain = chain.step()
		list = append(list, k)
	}
	return list, chain, nil
}

func (s *Session) findSkipped(ratchet keys.PublicKey, index uint32, now int64) int {
	for i := range s.skipped {
		k := &s.skipped[i]
		if k.index == index && k.ratchet == ratchet && !expired(k.created, now) {
			return i
		}
	}
	return -1
}

// expired reports whether a key stored at created is past SkippedKeyTTL.
func expired(created, now int64) bool {
	return now-created >= int64(SkippedKeyTTL/time.Second)
}

// Prune deletes the skipped keys that have expired at now. Decrypt prunes
// as it goes; a client calls Prune for sessions that have been quiet, so
// that expired keys do not outlive their TTL in stored state.
func (s *Session) Prune(now time.Time) { s.prune(now.Unix()) }

func (s *Session) prune(now int64) {
	if len(s.skipped) > 0 {
		s.skipped = slices.DeleteFunc(s.skipped, func(k skippedKey) bool { return expired(k.created, now) })
	}
}

// open checks the MAC (spec §5.6) and only then decrypts.
func (s *Session) open(seed *[keySize]byte, m *wire.RatchetMessage) ([]byte, error) {
	mk, err := deriveMessageKeys(seed)
	if err != nil {
		return nil, err
	}
	defer clear(mk.cipherKey[:])
	defer clear(mk.macKey[:])
	var want [macSize]byte
	computeMAC(want[:0], &mk.macKey, &s.remoteIdentity, &s.localIdentity, m.Authenticated)
	if !hmac.Equal(want[:], m.MAC) {
		return nil, errBadMAC
	}
	return msgcrypt.Open(mk.cipherKey[:], mk.iv[:], m.Ciphertext)
}
