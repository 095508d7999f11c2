package senderkey

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

// DistributionIDSize is the size of a group's distribution ID.
const DistributionIDSize = wire.DistributionIDSize

var (
	// ErrChainExhausted is returned by Encrypt when the chain has used
	// every iteration; Rotate starts a new chain.
	ErrChainExhausted = errors.New("senderkey: sender chain exhausted")
	// ErrTooLarge is returned by Encrypt for a plaintext over MaxPlaintext.
	ErrTooLarge = errors.New("senderkey: plaintext too large")
)

// Sender is the sending side of one member's sender key for one group
// (spec §6.1): the current sender chain and its signing key. A Sender comes
// from NewSender or UnmarshalSender; the zero Sender cannot encrypt.
type Sender struct {
	distributionID [DistributionIDSize]byte
	chainID        uint32
	iteration      uint32 // the iteration of chainKey: the next message's
	chainKey       chainKey
	signing        keys.PrivateKey
}

// NewSender starts a sender chain for the group distributionID at
// iteration 0. It reads from rand (crypto/rand when nil), in this order, a
// 4-byte big-endian chain ID, the 32-byte chain key and the 32-byte signing
// private key (spec §6.1).
func NewSender(distributionID [DistributionIDSize]byte, rand io.Reader) (*Sender, error) {
	s := &Sender{distributionID: distributionID}
	if err := s.newChain(reader(rand), false); err != nil {
		return nil, fmt.Errorf("senderkey: new sender: %w", err)
	}
	return s, nil
}

// Rotate replaces the chain with a fresh one: a new chain ID, chain key and
// signing key, at iteration 0, read from rand as NewSender does (spec §6.1).
// Members who receive the new Distribution can read what follows; members
// who do not (those removed from the group) cannot. The state is unchanged
// if Rotate fails.
func (s *Sender) Rotate(rand io.Reader) error {
	if err := s.newChain(reader(rand), true); err != nil {
		return fmt.Errorf("senderkey: rotate: %w", err)
	}
	return nil
}

// maxChainIDDraws bounds the draws for a chain ID that differs from the
// current one, so that a broken random source cannot loop forever.
const maxChainIDDraws = 8

func (s *Sender) newChain(r io.Reader, rotating bool) error {
	var b [4]byte
	var id uint32
	for i := 0; ; i++ {
		if i == maxChainIDDraws {
			return errors.New("random source keeps repeating the chain ID")
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return err
		}
		id = binary.BigEndian.Uint32(b[:])
		if !rotating || id != s.chainID {
			break
		}
	}
	var ck chainKey
	if _, err := io.ReadFull(r, ck[:]); err != nil {
		return err
	}
	signing, err := keys.GeneratePrivateKey(r)
	if err != nil {
		return err
	}
	s.chainID, s.iteration, s.chainKey, s.signing = id, 0, ck, signing
	return nil
}

// DistributionID returns the group's distribution ID.
func (s *Sender) DistributionID() [DistributionIDSize]byte { return s.distributionID }

// Distribution returns the distribution message for the current chain at
// its current iteration (spec §6.2). It holds the chain key: send it only
// inside a pairwise session. A member who processes it can decrypt this
// sender's messages from the current iteration on, not earlier ones.
func (s *Sender) Distribution() []byte {
	m := wire.SenderKeyDistributionMessage{
		DistributionID: s.distributionID[:],
		ChainID:        s.chainID,
		Iteration:      s.iteration,
		ChainKey:       s.chainKey[:],
		SigningKey:     s.signing.Public().Encode(),
	}
	return m.Marshal()
}

// Encrypt encrypts plaintext as the chain's next message (spec §6.4): it
// steps the chain, encrypts with AES-256-CBC under the message key and
// signs every byte of the message before the signature with XEdDSA, using
// 64 bytes from rand (crypto/rand when nil). The state advances only if
// Encrypt succeeds.
func (s *Sender) Encrypt(plaintext []byte, rand io.Reader) ([]byte, error) {
	if s.signing.IsZero() {
		return nil, errors.New("senderkey: encrypt: sender has no key; use NewSender")
	}
	if len(plaintext) > MaxPlaintext {
		return nil, ErrTooLarge
	}
	// The chain's last iteration is never used, so that the receiver's
	// next iteration always fits in a uint32.
	if s.iteration == math.MaxUint32 {
		return nil, ErrChainExhausted
	}
	seed, next := s.chainKey.step()
	iv, key := messageKeys(&seed)
	m := wire.SenderKeyMessage{
		DistributionID: s.distributionID[:],
		ChainID:        s.chainID,
		Iteration:      s.iteration,
		Ciphertext:     encryptCBC(key, iv, plaintext),
	}
	signed := m.AppendSigned(make([]byte, 0, headerMax+len(m.Ciphertext)+signatureSize))
	sig, err := s.signing.Sign(signed, reader(rand))
	if err != nil {
		return nil, fmt.Errorf("senderkey: encrypt: %w", err)
	}
	s.chainKey, s.iteration = next, s.iteration+1
	return append(signed, sig...), nil
}

func reader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}
