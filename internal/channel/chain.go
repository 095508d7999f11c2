package channel

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
)

// Chain is a follower's view of a channel's signing keys: the genesis key
// (epoch 0) and one key per handover since, with the time each key was
// retired. It is built by applying handover records in order.
type Chain struct {
	keys    []ed25519.PublicKey
	retired []int64 // retired[i]: the handover time that ended epoch i
}

// NewChain starts a chain at the channel's genesis key.
func NewChain(genesis ed25519.PublicKey) (*Chain, error) {
	if len(genesis) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: genesis key", ErrMalformed)
	}
	return &Chain{keys: []ed25519.PublicKey{bytes.Clone(genesis)}}, nil
}

// Genesis is the channel's ID.
func (c *Chain) Genesis() ed25519.PublicKey { return c.keys[0] }

// Epoch is the current epoch.
func (c *Chain) Epoch() uint32 { return uint32(len(c.keys) - 1) }

// Verify parses an encoded record and checks that it belongs to this
// channel and is signed by the key of its epoch, and, for a retired epoch,
// that it is dated no later than the handover that retired the key (so a
// key given up, say by a removed admin, cannot sign new records). A
// handover record of the current epoch is applied: the chain moves on.
func (c *Chain) Verify(b []byte) (*Record, error) {
	r, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(r.Channel, c.keys[0]) {
		return nil, ErrWrongChannel
	}
	if int(r.Epoch) >= len(c.keys) {
		return nil, ErrEpoch
	}
	if !ed25519.Verify(c.keys[r.Epoch], signedMessage(r.Signed), r.Signature) {
		return nil, ErrSignature
	}
	if int(r.Epoch) < len(c.retired) && r.Time > c.retired[r.Epoch] {
		return nil, ErrEpoch
	}
	if r.Kind == KindHandover {
		if r.Epoch != c.Epoch() {
			return nil, ErrEpoch // an old key cannot fork the chain
		}
		c.keys = append(c.keys, bytes.Clone(r.NewKey))
		c.retired = append(c.retired, r.Time)
	}
	return r, nil
}

// Key returns the public key of an epoch the chain knows, or nil.
func (c *Chain) Key(epoch uint32) ed25519.PublicKey {
	if int(epoch) >= len(c.keys) {
		return nil
	}
	return c.keys[epoch]
}
