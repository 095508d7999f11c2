// Package ratchet implements the Double Ratchet (Signal's Double Ratchet
// specification, revision 1, with the §5.2 recommended cryptography and
// Signal's KDF labels) for one session between two devices (spec/protocol.md
// §5).
//
// It protects message confidentiality and integrity with forward secrecy
// (a message key is deleted once used) and post-compromise security (a new
// DH ratchet step heals a leaked state after one round trip). A message that
// fails for any reason — forged, truncated, replayed, too far ahead —
// returns ErrDecrypt and leaves the session exactly as it was. It does not
// hide message lengths (beyond block padding), the ratchet public keys, the
// counters or the timing of messages, and it does not authenticate who the
// peer is: that is the identity key's job (safety numbers).
package ratchet

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/msgcrypt"
	"github.com/parley-chat/parley/internal/pqxdh"
	"github.com/parley-chat/parley/internal/wire"
)

// Bounds on skipped message keys (Double Ratchet §3.5 MAX_SKIP; spec §5.7).
const (
	// MaxSkip is the largest number of message keys one message may make
	// the receiver skip in one chain.
	MaxSkip = 2000
	// MaxSkippedKeys bounds the skipped keys a session stores; the oldest
	// are dropped first.
	MaxSkippedKeys = 2000
	// SkippedKeyTTL is how long a skipped key is kept. It matches the
	// server's queue TTL: a message older than that can no longer arrive.
	SkippedKeyTTL = 30 * 24 * time.Hour
	// MaxPlaintext bounds one message's plaintext.
	MaxPlaintext = wire.MaxCiphertext - 16
)

var (
	// ErrDecrypt is the one error every failed decryption returns, whatever
	// the cause (spec §5.7). The session is unchanged after it.
	ErrDecrypt = errors.New("ratchet: message could not be decrypted")
	// ErrTooLarge is returned for a plaintext over MaxPlaintext.
	ErrTooLarge = errors.New("ratchet: plaintext too large")
	// ErrChainExhausted is returned when a sending chain has used all 2^32
	// message numbers; it cannot happen before the peer replies that often.
	ErrChainExhausted = errors.New("ratchet: sending chain exhausted")
)

// PendingPreKey is what an initiator repeats, wrapping each message in a
// prekey message, until the responder's first reply arrives (spec §4.4).
type PendingPreKey struct {
	SignedPreKeyID   uint32
	KEMPreKeyID      uint32
	HasOneTimePreKey bool
	OneTimePreKeyID  uint32
	KEMCiphertext    []byte
}

// skippedKey is a stored message-key seed for a message not yet received
// (Double Ratchet §3.2 MKSKIPPED).
type skippedKey struct {
	ratchet keys.PublicKey
	index   uint32
	seed    [keySize]byte
	created int64 // unix seconds
}

// Session is the state of one Double Ratchet session (Double Ratchet §3.2).
// It is not safe for concurrent use.
type Session struct {
	localIdentity  keys.PublicKey
	remoteIdentity keys.PublicKey
	baseKey        keys.PublicKey // the initiator's EK_A; names the session

	rootKey       [keySize]byte   // RK
	sendRatchet   keys.PrivateKey // DHs
	send          chainKey        // CKs, Ns
	prevSendCount uint32          // PN

	hasRecv     bool
	recvRatchet keys.PublicKey // DHr
	recv        chainKey       // CKr, Nr

	skipped []skippedKey // oldest first
	pending *PendingPreKey

	rand io.Reader // nil means crypto/rand; not serialised
}

// NewInitiator starts the initiator's session after PQXDH (spec §5.1).
// As in Signal, the responder's signed prekey is its first ratchet key, the
// PQXDH chain key is the initiator's first receiving chain, and the
// initiator performs the first DH ratchet step at once (Double Ratchet
// §3.3 RatchetInitAlice).
func NewInitiator(local keys.IdentityKeyPair, remote keys.PublicKey, init *pqxdh.Initiation, theirRatchet keys.PublicKey, pending *PendingPreKey, rand io.Reader) (*Session, error) {
	ours, err := keys.GeneratePrivateKey(rand)
	if err != nil {
		return nil, err
	}
	root, send, err := rootStep(&init.Keys.RootKey, ours, theirRatchet)
	if err != nil {
		return nil, fmt.Errorf("ratchet: first ratchet step: %w", err)
	}
	return &Session{
		localIdentity:  local.Public(),
		remoteIdentity: remote,
		baseKey:        init.BaseKey,
		rootKey:        root,
		sendRatchet:    ours,
		send:           send,
		hasRecv:        true,
		recvRatchet:    theirRatchet,
		recv:           chainKey{key: init.Keys.ChainKey},
		pending:        pending,
		rand:           rand,
	}, nil
}

// NewResponder starts the responder's session after PQXDH (spec §5.1):
// its signed prekey is its first ratchet key pair and the PQXDH chain key is
// its first sending chain (Double Ratchet §3.3 RatchetInitBob).
func NewResponder(local keys.IdentityKeyPair, remote keys.PublicKey, sk pqxdh.SessionKeys, ourRatchet keys.PrivateKey, baseKey keys.PublicKey, rand io.Reader) *Session {
	return &Session{
		localIdentity:  local.Public(),
		remoteIdentity: remote,
		baseKey:        baseKey,
		rootKey:        sk.RootKey,
		sendRatchet:    ourRatchet,
		send:           chainKey{key: sk.ChainKey},
		rand:           rand,
	}
}

// SetRand sets the randomness source for new ratchet keys (nil means
// crypto/rand). Only deterministic tests set it.
func (s *Session) SetRand(r io.Reader) { s.rand = r }

// RemoteIdentity returns the peer's identity key.
func (s *Session) RemoteIdentity() keys.PublicKey { return s.remoteIdentity }

// BaseKey returns the initiator's PQXDH base key, which names the session.
func (s *Session) BaseKey() keys.PublicKey { return s.baseKey }

// Pending reports whether the initiator still wraps messages in prekey
// messages because no reply has arrived.
func (s *Session) Pending() bool { return s.pending != nil }

// Encrypt encrypts plaintext as the next message of the sending chain
// (Double Ratchet §3.4 RatchetEncrypt). Until the peer has replied, the
// result is a prekey message (spec §4.4); otherwise a ratchet message.
func (s *Session) Encrypt(plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, ErrTooLarge
	}
	if s.send.index == math.MaxUint32 {
		return nil, ErrChainExhausted
	}
	seed, next := s.send.step()
	mk, err := deriveMessageKeys(&seed)
	clear(seed[:])
	if err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	var rk [keys.EncodedPublicKeySize]byte
	s.sendRatchet.Public().AppendEncoded(rk[:0])
	ctLen := msgcrypt.PaddedLen(len(plaintext))
	n := wire.RatchetPrefixSize(s.send.index, s.prevSendCount, ctLen) + ctLen + macSize
	out := wire.AppendRatchetPrefix(make([]byte, 0, n), rk[:], s.send.index, s.prevSendCount, ctLen)
	out = msgcrypt.Seal(out, mk.cipherKey[:], mk.iv[:], plaintext)
	// Spec §5.6: the MAC covers both identity keys and the whole header.
	out = computeMAC(out, &mk.macKey, &s.localIdentity, &s.remoteIdentity, out)
	clear(mk.cipherKey[:])
	clear(mk.macKey[:])
	s.send = next
	if s.pending == nil {
		return out, nil
	}
	p := s.pending
	pk := wire.PreKeyMessage{
		IdentityKey:      s.localIdentity.Encode(),
		BaseKey:          s.baseKey.Encode(),
		HasOneTimePreKey: p.HasOneTimePreKey,
		OneTimePreKeyID:  p.OneTimePreKeyID,
		SignedPreKeyID:   p.SignedPreKeyID,
		KEMPreKeyID:      p.KEMPreKeyID,
		KEMCiphertext:    p.KEMCiphertext,
		Message:          out,
	}
	return pk.Marshal(), nil
}
