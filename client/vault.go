package client

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// The vault encrypts the client's state at rest. A random 256-bit data key
// seals every value with AES-256-GCM; the data key itself is stored sealed
// under a key derived from the user's passphrase with Argon2id (RFC 9106).
// Changing the passphrase only rewraps the data key.
//
// Each value is nonce (12 random bytes) ‖ ciphertext ‖ tag, with the
// bucket and key as associated data, so a value moved to another name
// fails to open. Names are not encrypted (see Store).

const (
	vaultBucket  = "vault" // the one bucket that holds unsealed bytes
	vaultKey     = "header"
	vaultVersion = 1

	dataKeySize = 32
	saltSize    = 16

	// Argon2id parameters: RFC 9106 §4, second recommended option
	// (t=3, m=64 MiB), with 4 lanes.
	argonTime    = 3
	argonMemory  = 64 << 10 // KiB
	argonThreads = 4

	adValue  = "parley-vault-value-v1"
	adHeader = "parley-vault-key-v1"
)

// ErrWrongPassphrase means the passphrase does not open the store.
var ErrWrongPassphrase = errors.New("client: wrong passphrase")

// vaultHeader is stored unsealed under (vault, header).
type vaultHeader struct {
	Version    int    `json:"version"`
	Salt       []byte `json:"salt"`
	Time       uint32 `json:"time"`
	MemoryKiB  uint32 `json:"memory_kib"`
	Threads    uint8  `json:"threads"`
	WrappedKey []byte `json:"wrapped_key"`
}

// vault seals and opens values with the data key.
type vault struct {
	aead cipher.AEAD
	// indexKey names the words of the search index (search.go):
	// HKDF-SHA256 of the data key (RFC 5869), info searchIndexInfo.
	indexKey []byte
}

const searchIndexInfo = "Parley search index v1"

func newVault(key []byte) (*vault, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	ik, err := hkdf.Key(sha256.New, key, nil, searchIndexInfo, 32)
	if err != nil {
		return nil, err
	}
	return &vault{aead: aead, indexKey: ik}, nil
}

func passphraseKey(pass []byte, h *vaultHeader) (*vault, error) {
	k := argon2.IDKey(pass, h.Salt, h.Time, h.MemoryKiB, h.Threads, dataKeySize)
	defer clear(k)
	return newVault(k)
}

// createVault writes a new header to st, which must hold none, and returns
// the vault of a new random data key.
func createVault(ctx context.Context, st Store, pass []byte) (*vault, error) {
	b, v, err := newVaultHeader(pass)
	if err != nil {
		return nil, err
	}
	err = st.Update(ctx, func(tx Tx) error {
		if _, err := tx.Get(vaultBucket, vaultKey); err == nil {
			return ErrExists
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return tx.Put(vaultBucket, vaultKey, b)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// newVaultHeader makes a new random data key and returns its header,
// wrapped under pass, and its vault.
func newVaultHeader(pass []byte) ([]byte, *vault, error) {
	h := &vaultHeader{Version: vaultVersion, Salt: make([]byte, saltSize), Time: argonTime, MemoryKiB: argonMemory, Threads: argonThreads}
	rand.Read(h.Salt)
	dk := make([]byte, dataKeySize)
	rand.Read(dk)
	defer clear(dk)
	kek, err := passphraseKey(pass, h)
	if err != nil {
		return nil, nil, err
	}
	h.WrappedKey = kek.seal(nil, adHeader, dk)
	b, err := json.Marshal(h)
	if err != nil {
		return nil, nil, err
	}
	v, err := newVault(dk)
	return b, v, err
}

// openVault reads the header and unwraps the data key. It writes nothing,
// so a wrong passphrase cannot damage the store.
func openVault(ctx context.Context, st Store, pass []byte) (*vault, error) {
	var b []byte
	err := st.View(ctx, func(tx Tx) error {
		var err error
		b, err = tx.Get(vaultBucket, vaultKey)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNoAccount
	}
	if err != nil {
		return nil, err
	}
	var h vaultHeader
	if err := json.Unmarshal(b, &h); err != nil || h.Version != vaultVersion || len(h.Salt) != saltSize || h.Threads == 0 {
		return nil, fmt.Errorf("client: the store's vault header is damaged or from a newer version")
	}
	if h.MemoryKiB > 4<<20 || h.Time > 100 { // refuse a header that asks for absurd work
		return nil, fmt.Errorf("client: the store's vault header asks for unreasonable Argon2id parameters")
	}
	kek, err := passphraseKey(pass, &h)
	if err != nil {
		return nil, err
	}
	dk, err := kek.open(adHeader, h.WrappedKey)
	if err != nil {
		return nil, ErrWrongPassphrase
	}
	defer clear(dk)
	return newVault(dk)
}

func (v *vault) seal(dst []byte, ad string, plaintext []byte) []byte {
	nonce := make([]byte, v.aead.NonceSize(), v.aead.NonceSize()+len(plaintext)+v.aead.Overhead())
	rand.Read(nonce)
	return v.aead.Seal(append(dst, nonce...), nonce, plaintext, []byte(ad))
}

func (v *vault) open(ad string, sealed []byte) ([]byte, error) {
	n := v.aead.NonceSize()
	if len(sealed) < n+v.aead.Overhead() {
		return nil, errSealed
	}
	pt, err := v.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
	if err != nil {
		return nil, errSealed
	}
	return pt, nil
}

var errSealed = errors.New("client: a stored value failed to decrypt (store damaged or tampered with)")

func valueAD(bucket, key string) string { return adValue + "\x00" + bucket + "\x00" + key }

// sealedTx seals values on the way in and opens them on the way out.
type sealedTx struct {
	tx Tx
	v  *vault
}

func (s sealedTx) get(bucket, key string) ([]byte, error) {
	b, err := s.tx.Get(bucket, key)
	if err != nil {
		return nil, err
	}
	return s.v.open(valueAD(bucket, key), b)
}

func (s sealedTx) put(bucket, key string, value []byte) error {
	return s.tx.Put(bucket, key, s.v.seal(nil, valueAD(bucket, key), value))
}

func (s sealedTx) del(bucket, key string) error { return s.tx.Delete(bucket, key) }

func (s sealedTx) scan(bucket, prefix string, fn func(key string, value []byte) error) error {
	return s.tx.Scan(bucket, prefix, func(k string, b []byte) error {
		v, err := s.v.open(valueAD(bucket, k), b)
		if err != nil {
			return err
		}
		return fn(k, v)
	})
}

// keys lists the keys of bucket that start with prefix, in order,
// without opening their values.
func (s sealedTx) keys(bucket, prefix string) ([]string, error) {
	var out []string
	err := s.tx.Scan(bucket, prefix, func(k string, _ []byte) error {
		out = append(out, k)
		return nil
	})
	return out, err
}

// getJSON and putJSON store records as sealed JSON.
func (s sealedTx) getJSON(bucket, key string, out any) error {
	b, err := s.get(bucket, key)
	if err != nil {
		return err
	}
	return jsonUnmarshal(b, out)
}

func jsonUnmarshal(b []byte, out any) error {
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: a stored record is damaged: %w", err)
	}
	return nil
}

func (s sealedTx) putJSON(bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.put(bucket, key, b)
}
