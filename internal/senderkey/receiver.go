package senderkey

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

var (
	// ErrDecrypt is the one error for a message that cannot be decrypted:
	// malformed, truncated, forged, replayed, too far ahead, expired, or for
	// an unknown chain. It says nothing more on purpose (spec §6.5).
	ErrDecrypt = errors.New("senderkey: cannot decrypt message")
	// ErrNoSenderKey is returned for a well-formed message whose
	// distribution ID the receiver holds no key for: the application
	// should ask the sender for its distribution message.
	ErrNoSenderKey = errors.New("senderkey: no sender key for this distribution")
	// ErrInvalidDistribution is returned (wrapped) by NewReceiver and
	// Process for a distribution message they cannot use.
	ErrInvalidDistribution = errors.New("senderkey: invalid distribution message")
)

// Receiver decrypts one sender's messages for one group (spec §6.5). It
// keeps up to MaxChains of the sender's chains, newest first, and for each
// the message keys of skipped iterations.
//
// The zero Receiver holds no key: Decrypt returns ErrNoSenderKey until
// Process has accepted a distribution message, which also fixes the
// receiver's distribution ID.
type Receiver struct {
	distributionID [DistributionIDSize]byte
	chains         []*receiverChain // newest first, at most MaxChains
}

type receiverChain struct {
	id        uint32
	iteration uint32 // the iteration of key: the next one not yet reached
	key       chainKey
	signing   keys.PublicKey
	skipped   []skippedKey // ascending iterations, all below iteration
}

// skippedKey is the message-key seed of an iteration that was stepped over
// before its message arrived.
type skippedKey struct {
	iteration uint32
	seed      [seedSize]byte
	stored    int64 // Unix seconds, never negative
}

// NewReceiver returns a receiver holding the chain of one distribution
// message.
func NewReceiver(distribution []byte) (*Receiver, error) {
	r := new(Receiver)
	if err := r.Process(distribution); err != nil {
		return nil, err
	}
	return r, nil
}

// DistributionID returns the distribution ID of the receiver's chains, or
// all zeros if it has none.
func (r *Receiver) DistributionID() [DistributionIDSize]byte { return r.distributionID }

// Process adds the chain of a distribution message (spec §6.2), as
// libsignal's add_sender_key_state does: a chain ID the receiver already
// holds with the same signing key keeps its state (a distribution cannot
// move a chain backwards or forwards) and becomes the newest; the same
// chain ID with another signing key is replaced; a new chain ID is added
// and the oldest chain beyond MaxChains is evicted. The state is unchanged
// if Process fails.
func (r *Receiver) Process(distribution []byte) error {
	m, err := wire.ParseSenderKeyDistributionMessage(distribution)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDistribution, err)
	}
	signing, err := keys.DecodePublicKey(m.SigningKey)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDistribution, err)
	}
	var id [DistributionIDSize]byte
	copy(id[:], m.DistributionID)
	if len(r.chains) > 0 && id != r.distributionID {
		return fmt.Errorf("%w: distribution ID differs from the receiver's", ErrInvalidDistribution)
	}

	c := &receiverChain{id: m.ChainID, iteration: m.Iteration, signing: signing}
	copy(c.key[:], m.ChainKey)
	if old := r.chain(m.ChainID); old != nil && old.signing == signing {
		c = old
	}
	chains := make([]*receiverChain, 1, MaxChains)
	chains[0] = c
	for _, o := range r.chains {
		if o.id != m.ChainID && len(chains) < MaxChains {
			chains = append(chains, o)
		}
	}
	r.distributionID, r.chains = id, chains
	return nil
}

func (r *Receiver) chain(id uint32) *receiverChain {
	for _, c := range r.chains {
		if c.id == id {
			return c
		}
	}
	return nil
}

// Decrypt is DecryptAt at the current time.
func (r *Receiver) Decrypt(msg []byte) ([]byte, error) {
	return r.DecryptAt(msg, time.Now())
}

// DecryptAt decrypts a sender-key message (spec §6.5), taking now as the
// current time for storing and expiring skipped message keys.
//
// It verifies the signature with the chain's signing key before it derives
// any key, then takes the message key from the stored skipped keys (a late
// message) or by stepping the chain forward at most MaxForwardJump
// iterations, storing the keys it steps over. Every failure returns
// ErrDecrypt, or ErrNoSenderKey for a distribution ID the receiver has no
// key for, and leaves the state unchanged: the new state is computed on the
// side and replaces the old only once the message has decrypted. On success
// the message key is gone from the state, so the message cannot be
// decrypted again, and expired skipped keys are deleted.
func (r *Receiver) DecryptAt(msg []byte, now time.Time) ([]byte, error) {
	m, err := wire.ParseSenderKeyMessage(msg)
	if err != nil {
		return nil, ErrDecrypt
	}
	if r == nil || len(r.chains) == 0 || !bytes.Equal(m.DistributionID, r.distributionID[:]) {
		return nil, ErrNoSenderKey
	}
	c := r.chain(m.ChainID)
	if c == nil {
		return nil, ErrDecrypt
	}
	if !c.signing.Verify(m.Signed, m.Signature) {
		return nil, ErrDecrypt
	}
	u, ok := c.messageKey(m.Iteration, unixSeconds(now))
	if !ok {
		return nil, ErrDecrypt
	}
	iv, key := messageKeys(&u.seed)
	plaintext, err := decryptCBC(key, iv, m.Ciphertext)
	if err != nil {
		return nil, ErrDecrypt
	}
	c.apply(u)
	r.Prune(now)
	return plaintext, nil
}

// chainUpdate is the new state of a chain after one message, computed
// without touching the chain.
type chainUpdate struct {
	seed      [seedSize]byte // the message's key seed
	iteration uint32
	key       chainKey
	skipped   []skippedKey // replaces the chain's when used < 0
	used      int          // index of the skipped key the message used, or -1
}

// messageKey finds or derives the key seed for iteration.
func (c *receiverChain) messageKey(iteration uint32, now int64) (chainUpdate, bool) {
	if iteration < c.iteration {
		// A late message: its key must be stored and not expired. A
		// replay finds nothing, as the first delivery deleted the key.
		i, found := slices.BinarySearchFunc(c.skipped, iteration, func(k skippedKey, it uint32) int {
			return cmp.Compare(k.iteration, it)
		})
		if !found || expired(c.skipped[i].stored, now) {
			return chainUpdate{}, false
		}
		return chainUpdate{seed: c.skipped[i].seed, iteration: c.iteration, key: c.key, used: i}, true
	}
	// The sender never uses iteration MaxUint32, so iteration+1 fits.
	if iteration == math.MaxUint32 || iteration-c.iteration > MaxForwardJump {
		return chainUpdate{}, false
	}
	jump := int(iteration - c.iteration)
	u := chainUpdate{iteration: iteration + 1, skipped: c.skipped, used: -1}
	drop := 0 // how many of the oldest keys, old and new, are evicted
	if jump > 0 {
		total := len(c.skipped) + jump
		drop = max(0, total-MaxSkippedKeys)
		u.skipped = make([]skippedKey, 0, total-drop)
		if drop < len(c.skipped) {
			u.skipped = append(u.skipped, c.skipped[drop:]...)
		}
	}
	ck := c.key
	for i := range jump {
		seed, next := ck.step()
		if len(c.skipped)+i >= drop {
			u.skipped = append(u.skipped, skippedKey{iteration: c.iteration + uint32(i), seed: seed, stored: now})
		}
		ck = next
	}
	u.seed, u.key = ck.step()
	return u, true
}

func (c *receiverChain) apply(u chainUpdate) {
	c.iteration, c.key = u.iteration, u.key
	if u.used >= 0 {
		c.skipped = slices.Delete(c.skipped, u.used, u.used+1)
	} else {
		c.skipped = u.skipped
	}
}

// Prune deletes the skipped message keys that have expired at now. Decrypt
// prunes after every message it decrypts; an application whose groups may
// go quiet calls Prune on its own schedule, so that old keys do not outlive
// SkippedKeyTTL.
func (r *Receiver) Prune(now time.Time) {
	t := unixSeconds(now)
	for _, c := range r.chains {
		c.skipped = slices.DeleteFunc(c.skipped, func(k skippedKey) bool { return expired(k.stored, t) })
	}
}

// expired reports whether a key stored at the Unix time stored has lived
// SkippedKeyTTL by now. A clock that went backwards expires nothing.
func expired(stored, now int64) bool {
	return now-stored >= int64(SkippedKeyTTL/time.Second)
}

func unixSeconds(t time.Time) int64 {
	return max(0, t.Unix())
}
