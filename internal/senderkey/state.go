package senderkey

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

// StateVersion is the version integer that starts every serialised state
// (spec §6.6).
const StateVersion = 1

// ErrInvalidState is returned (wrapped) by UnmarshalSender and
// UnmarshalReceiver for bytes that are not a canonical state encoding.
var ErrInvalidState = errors.New("senderkey: invalid state")

// Sender state fields (spec §6.6). All are required, so no strict prefix of
// a state is a state.
const (
	senderVersionField      protowire.Number = 1
	senderDistributionField protowire.Number = 2
	senderChainIDField      protowire.Number = 3
	senderIterationField    protowire.Number = 4
	senderChainKeyField     protowire.Number = 5
	senderSigningKeyField   protowire.Number = 6
)

// Receiver state fields (spec §6.6). The chain count comes before the
// repeated chains so that a prefix ending between two chains is rejected.
const (
	receiverVersionField      protowire.Number = 1
	receiverDistributionField protowire.Number = 2
	receiverChainCountField   protowire.Number = 3
	receiverChainField        protowire.Number = 4

	chainIDField         protowire.Number = 1
	chainIterationField  protowire.Number = 2
	chainKeyField        protowire.Number = 3
	chainSigningKeyField protowire.Number = 4
	chainSkippedField    protowire.Number = 5

	skippedIterationField protowire.Number = 1
	skippedSeedField      protowire.Number = 2
	skippedStoredField    protowire.Number = 3
)

// Encoded size bounds, for validating lengths.
const (
	maxSkippedSize = 1 + 5 + 2 + seedSize + 1 + 10
	maxChainSize   = 1 + 5 + 1 + 5 + 2 + chainKeySize + 2 + keys.EncodedPublicKeySize +
		MaxSkippedKeys*(1+1+maxSkippedSize)
)

// Marshal returns the sender's state. It holds the chain key and the
// signing private key.
func (s *Sender) Marshal() []byte {
	var signing []byte
	if !s.signing.IsZero() {
		signing = s.signing.Bytes()
	}
	e := wire.Encoder{B: make([]byte, 0, 96)}
	e.Uint(senderVersionField, StateVersion)
	e.Bytes(senderDistributionField, s.distributionID[:])
	e.Uint(senderChainIDField, uint64(s.chainID))
	e.Uint(senderIterationField, uint64(s.iteration))
	e.Bytes(senderChainKeyField, s.chainKey[:])
	e.Bytes(senderSigningKeyField, signing)
	return e.B
}

// UnmarshalSender decodes a state written by Sender.Marshal.
func UnmarshalSender(b []byte) (*Sender, error) {
	d := wire.NewDecoder(b)
	if err := checkVersion(&d, senderVersionField); err != nil {
		return nil, err
	}
	s := new(Sender)
	copy(s.distributionID[:], d.Bytes(senderDistributionField, DistributionIDSize, DistributionIDSize))
	s.chainID = uint32(d.Uint(senderChainIDField, math.MaxUint32))
	s.iteration = uint32(d.Uint(senderIterationField, math.MaxUint32))
	copy(s.chainKey[:], d.Bytes(senderChainKeyField, chainKeySize, chainKeySize))
	signing := d.Bytes(senderSigningKeyField, keys.PrivateKeySize, keys.PrivateKeySize)
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: sender: %w", ErrInvalidState, err)
	}
	k, err := keys.NewPrivateKey(signing)
	if err != nil {
		return nil, fmt.Errorf("%w: sender: %w", ErrInvalidState, err)
	}
	s.signing = k
	return s, nil
}

// Marshal returns the receiver's state. It holds chain keys and skipped
// message keys.
func (r *Receiver) Marshal() []byte {
	e := wire.Encoder{B: make([]byte, 0, 32+len(r.chains)*128)}
	e.Uint(receiverVersionField, StateVersion)
	e.Bytes(receiverDistributionField, r.distributionID[:])
	e.Uint(receiverChainCountField, uint64(len(r.chains)))
	var c wire.Encoder
	for _, ch := range r.chains {
		c.B = ch.appendState(c.B[:0])
		e.Bytes(receiverChainField, c.B)
	}
	return e.B
}

func (c *receiverChain) appendState(b []byte) []byte {
	e := wire.Encoder{B: b}
	e.Uint(chainIDField, uint64(c.id))
	e.Uint(chainIterationField, uint64(c.iteration))
	e.Bytes(chainKeyField, c.key[:])
	e.Bytes(chainSigningKeyField, c.signing.Encode())
	var k wire.Encoder
	for _, sk := range c.skipped {
		k.B = k.B[:0]
		k.Uint(skippedIterationField, uint64(sk.iteration))
		k.Bytes(skippedSeedField, sk.seed[:])
		k.Uint(skippedStoredField, uint64(sk.stored))
		e.Bytes(chainSkippedField, k.B)
	}
	return e.B
}

// UnmarshalReceiver decodes a state written by Receiver.Marshal. It checks
// every length and invariant: at most MaxChains chains with distinct IDs,
// at most MaxSkippedKeys skipped keys per chain, in ascending order and
// below the chain's iteration.
func UnmarshalReceiver(b []byte) (*Receiver, error) {
	d := wire.NewDecoder(b)
	if err := checkVersion(&d, receiverVersionField); err != nil {
		return nil, err
	}
	r := new(Receiver)
	copy(r.distributionID[:], d.Bytes(receiverDistributionField, DistributionIDSize, DistributionIDSize))
	n := int(d.Uint(receiverChainCountField, MaxChains))
	for range n {
		cb := d.Bytes(receiverChainField, 1, maxChainSize)
		if d.Err() != nil {
			break
		}
		c, err := parseChain(cb)
		if err != nil {
			return nil, fmt.Errorf("%w: receiver chain: %w", ErrInvalidState, err)
		}
		if r.chain(c.id) != nil {
			return nil, fmt.Errorf("%w: receiver: repeated chain ID", ErrInvalidState)
		}
		r.chains = append(r.chains, c)
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: receiver: %w", ErrInvalidState, err)
	}
	return r, nil
}

func parseChain(b []byte) (*receiverChain, error) {
	d := wire.NewDecoder(b)
	c := new(receiverChain)
	c.id = uint32(d.Uint(chainIDField, math.MaxUint32))
	c.iteration = uint32(d.Uint(chainIterationField, math.MaxUint32))
	copy(c.key[:], d.Bytes(chainKeyField, chainKeySize, chainKeySize))
	signing := d.Bytes(chainSigningKeyField, keys.EncodedPublicKeySize, keys.EncodedPublicKeySize)
	for d.More(chainSkippedField) {
		kb := d.Bytes(chainSkippedField, 1, maxSkippedSize)
		if d.Err() != nil {
			break
		}
		if len(c.skipped) == MaxSkippedKeys {
			return nil, errors.New("too many skipped keys")
		}
		k, err := parseSkipped(kb)
		if err != nil {
			return nil, err
		}
		if k.iteration >= c.iteration {
			return nil, errors.New("skipped key not below the chain's iteration")
		}
		if n := len(c.skipped); n > 0 && k.iteration <= c.skipped[n-1].iteration {
			return nil, errors.New("skipped keys out of order")
		}
		c.skipped = append(c.skipped, k)
	}
	if err := d.Finish(); err != nil {
		return nil, err
	}
	pub, err := keys.DecodePublicKey(signing)
	if err != nil {
		return nil, err
	}
	c.signing = pub
	return c, nil
}

func parseSkipped(b []byte) (skippedKey, error) {
	d := wire.NewDecoder(b)
	var k skippedKey
	k.iteration = uint32(d.Uint(skippedIterationField, math.MaxUint32))
	copy(k.seed[:], d.Bytes(skippedSeedField, seedSize, seedSize))
	k.stored = int64(d.Uint(skippedStoredField, math.MaxInt64))
	return k, d.Finish()
}

func checkVersion(d *wire.Decoder, field protowire.Number) error {
	v := d.Uint(field, math.MaxUint32)
	if err := d.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidState, err)
	}
	if v != StateVersion {
		return fmt.Errorf("%w: unsupported version %d", ErrInvalidState, v)
	}
	return nil
}
