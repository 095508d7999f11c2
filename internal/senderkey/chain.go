package senderkey

import (
	"crypto/aes"
	"crypto/hkdf"
	"crypto/sha256"
	"time"

	"github.com/parley-chat/parley/internal/msgcrypt"
)

// messageKeyInfo is the HKDF info of the message-key derivation (spec
// §6.3), Signal's SenderMessageKey label. The chain step itself, with
// Signal's HMAC inputs 0x01 and 0x02, is msgcrypt.ChainStep.
const messageKeyInfo = "WhisperGroup"

// Sizes (spec §6.3).
const (
	chainKeySize   = 32
	seedSize       = 32
	ivSize         = aes.BlockSize // 16
	cipherKeySize  = 32            // AES-256
	messageKeySize = ivSize + cipherKeySize
	signatureSize  = 64 // XEdDSA
	// headerMax bounds a message's bytes before the ciphertext: version,
	// type, distribution ID, chain ID, iteration, ciphertext tag and length.
	headerMax = 2 + 18 + 6 + 6 + 5
)

// Receiver limits (spec §6.5). Signal bounds stored message keys at 2000
// and keeps 5 sender-key states (libsignal consts.rs MAX_MESSAGE_KEYS,
// MAX_SENDER_KEY_STATES); Parley also bounds the jump of one message to
// 2000 (Signal allows 25,000) and expires skipped keys.
const (
	// MaxForwardJump is how far past a chain's next iteration one message
	// may be.
	MaxForwardJump = 2000
	// MaxSkippedKeys bounds the message keys a receiver keeps for one chain
	// to decrypt late messages; the oldest are evicted first.
	MaxSkippedKeys = 2000
	// MaxChains is how many chains of one sender a receiver keeps; the
	// least recently distributed is evicted first.
	MaxChains = 5
	// SkippedKeyTTL is how long a skipped message key is kept.
	SkippedKeyTTL = 30 * 24 * time.Hour
)

// MaxPlaintext is the largest plaintext Encrypt accepts: its padded
// ciphertext must fit wire.MaxCiphertext (1 MiB).
const MaxPlaintext = 1<<20 - 1

type chainKey [chainKeySize]byte

// step returns the message-key seed for the current iteration and the next
// chain key (spec §6.3):
//
//	seed = HMAC-SHA256(chainKey, 0x01)
//	next = HMAC-SHA256(chainKey, 0x02)
func (ck *chainKey) step() (seed [seedSize]byte, next chainKey) {
	return msgcrypt.ChainStep((*[chainKeySize]byte)(ck))
}

// messageKeys derives IV ‖ AES-256 key from a seed (spec §6.3):
//
//	HKDF-SHA256(ikm = seed, salt = none, info = "WhisperGroup", 48 bytes)
//
// An absent salt is 32 zero bytes (RFC 5869 §2.2), as in Signal.
func messageKeys(seed *[seedSize]byte) (iv, key []byte) {
	okm, err := hkdf.Key(sha256.New, seed[:], nil, messageKeyInfo, messageKeySize)
	if err != nil {
		// Unreachable: 48 bytes is far below HKDF-SHA256's 255*32 limit.
		panic("senderkey: hkdf: " + err.Error())
	}
	return okm[:ivSize], okm[ivSize:]
}

// encryptCBC returns AES-256-CBC(key, iv, PKCS#7(plaintext)) (spec §6.4).
func encryptCBC(key, iv, plaintext []byte) []byte {
	return msgcrypt.Seal(make([]byte, 0, msgcrypt.PaddedLen(len(plaintext))), key, iv, plaintext)
}

// decryptCBC reverses encryptCBC. It runs only on messages whose signature
// verified, so its errors are no padding oracle to an outsider.
func decryptCBC(key, iv, ciphertext []byte) ([]byte, error) {
	return msgcrypt.Open(key, iv, ciphertext)
}
