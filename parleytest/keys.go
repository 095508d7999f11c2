package parleytest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/pqxdh"
)

// PreKeys makes a valid upload for a device of identity: a signed prekey,
// a last-resort KEM prekey and n one-time prekeys of each kind, with IDs
// from first.
func PreKeys(identity keys.IdentityKeyPair, first uint32, n int) (api.PreKeyUpload, error) {
	var u api.PreKeyUpload
	spk, err := pqxdh.GenerateSignedPreKey(identity, first, nil)
	if err != nil {
		return u, err
	}
	lr, err := pqxdh.GenerateKEMPreKey(identity, first, true, nil)
	if err != nil {
		return u, err
	}
	u.SignedPreKey = &api.SignedPreKey{ID: spk.ID, PublicKey: spk.Private.Public().Encode(), Signature: spk.Signature}
	u.LastResortKEMPreKey = &api.SignedPreKey{ID: lr.ID, PublicKey: lr.Private.Public().Encode(), Signature: lr.Signature}
	for i := range n {
		id := first + 1 + uint32(i)
		opk, err := pqxdh.GenerateOneTimePreKey(id, nil)
		if err != nil {
			return u, err
		}
		u.OneTimePreKeys = append(u.OneTimePreKeys, api.PreKey{ID: id, PublicKey: opk.Private.Public().Encode()})
		kem, err := pqxdh.GenerateKEMPreKey(identity, id, false, nil)
		if err != nil {
			return u, err
		}
		u.KEMPreKeys = append(u.KEMPreKeys, api.SignedPreKey{ID: id, PublicKey: kem.Private.Public().Encode(), Signature: kem.Signature})
	}
	return u, nil
}

// Registration makes a valid registration request for username with a
// fresh identity key and n one-time prekeys of each kind.
func Registration(username string, n int) (api.RegisterRequest, keys.IdentityKeyPair, error) {
	id, err := keys.GenerateIdentityKeyPair(nil)
	if err != nil {
		return api.RegisterRequest{}, id, err
	}
	u, err := PreKeys(id, 1, n)
	if err != nil {
		return api.RegisterRequest{}, id, err
	}
	return api.RegisterRequest{Username: username, IdentityKey: id.Public().Encode(), DeviceName: "test", PreKeys: u}, id, nil
}

// RecoveryKey makes a recovery key as a client does (32 random bytes,
// base64url without padding) and its hash, the RegisterRequest's
// RecoveryKeyHash.
func RecoveryKey() (key string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	key = base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(key))
	return key, h[:]
}

// Recovery makes a valid recovery request for username with recoveryKey,
// a fresh identity key and n one-time prekeys of each kind signed by it.
func Recovery(username, recoveryKey string, n int) (api.RecoverRequest, keys.IdentityKeyPair, error) {
	id, err := keys.GenerateIdentityKeyPair(nil)
	if err != nil {
		return api.RecoverRequest{}, id, err
	}
	u, err := PreKeys(id, 1, n)
	if err != nil {
		return api.RecoverRequest{}, id, err
	}
	return api.RecoverRequest{Username: username, RecoveryKey: recoveryKey, IdentityKey: id.Public().Encode(),
		DeviceName: "recovered", PreKeys: u}, id, nil
}
