package pqxdh

import (
	"io"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

// SignedPreKey is a medium-term X25519 prekey signed by the identity key
// (PQXDH §3.2: SPKB and Sig(IKB, EncodeEC(SPKB))).
type SignedPreKey struct {
	ID        uint32
	Private   keys.PrivateKey
	Signature []byte
}

// GenerateSignedPreKey makes and signs a new signed prekey.
func GenerateSignedPreKey(identity keys.IdentityKeyPair, id uint32, rand io.Reader) (SignedPreKey, error) {
	k, err := keys.GeneratePrivateKey(rand)
	if err != nil {
		return SignedPreKey{}, err
	}
	sig, err := identity.Private.Sign(k.Public().Encode(), rand)
	if err != nil {
		return SignedPreKey{}, err
	}
	return SignedPreKey{ID: id, Private: k, Signature: sig}, nil
}

// KEMPreKey is a signed ML-KEM-1024 prekey (PQXDH §3.2: PQSPKB or PQOPKB
// and Sig(IKB, EncodeKEM(PQPKB))). A last-resort key is reused until it is
// replaced; a one-time key is used once.
type KEMPreKey struct {
	ID         uint32
	Private    keys.KEMPrivateKey
	Signature  []byte
	LastResort bool
}

// GenerateKEMPreKey makes and signs a new KEM prekey.
func GenerateKEMPreKey(identity keys.IdentityKeyPair, id uint32, lastResort bool, rand io.Reader) (KEMPreKey, error) {
	k, err := keys.GenerateKEMPrivateKey(rand)
	if err != nil {
		return KEMPreKey{}, err
	}
	sig, err := identity.Private.Sign(k.Public().Encode(), rand)
	if err != nil {
		return KEMPreKey{}, err
	}
	return KEMPreKey{ID: id, Private: k, Signature: sig, LastResort: lastResort}, nil
}

// OneTimePreKey is an unsigned X25519 one-time prekey (PQXDH §3.2: OPKB).
type OneTimePreKey struct {
	ID      uint32
	Private keys.PrivateKey
}

// GenerateOneTimePreKey makes a new one-time prekey.
func GenerateOneTimePreKey(id uint32, rand io.Reader) (OneTimePreKey, error) {
	k, err := keys.GeneratePrivateKey(rand)
	return OneTimePreKey{ID: id, Private: k}, err
}

// MakeBundle assembles the encoded bundle a server would serve for one
// device; opk may be nil.
func MakeBundle(identity keys.PublicKey, deviceID uint32, spk *SignedPreKey, kem *KEMPreKey, opk *OneTimePreKey) []byte {
	w := wire.PreKeyBundle{
		IdentityKey:     identity.Encode(),
		DeviceID:        deviceID,
		SignedPreKeyID:  spk.ID,
		SignedPreKey:    spk.Private.Public().Encode(),
		SignedPreKeySig: spk.Signature,
		KEMPreKeyID:     kem.ID,
		KEMPreKey:       kem.Private.Public().Encode(),
		KEMPreKeySig:    kem.Signature,
	}
	if opk != nil {
		w.HasOneTimePreKey = true
		w.OneTimePreKeyID = opk.ID
		w.OneTimePreKey = opk.Private.Public().Encode()
	}
	return w.Marshal()
}
