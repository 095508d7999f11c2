package senderkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"time"
)

// Labels and info strings of the chain step and the message-key derivation
// (spec §6.3). They are Signal's: libsignal's SenderChainKey uses the byte
// 0x01 (MESSAGE_KEY_SEED) and 0x02 (CHAIN_KEY_SEED) as HMAC inputs, and
// SenderMessageKey the HKDF info "WhisperGroup".
const (
	messageKeySeedLabel byte = 0x01
	chainKeySeedLabel   byte = 0x02
	messageKeyInfo           = "WhisperGroup"
)

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

// errBadPadding is internal; callers see ErrDecrypt.
var errBadPadding = errors.New("senderkey: bad padding")

type chainKey [chainKeySize]byte

// step returns the message-key seed for the current iteration and the next
// chain key (spec §6.3):
//
//	seed = HMAC-SHA256(chainKey, 0x01)
//	next = HMAC-SHA256(chainKey, 0x02)
func (ck *chainKey) step() (seed [seedSize]byte, next chainKey) {
	m := hmac.New(sha256.New, ck[:])
	m.Write([]byte{messageKeySeedLabel})
	m.Sum(seed[:0])
	m.Reset()
	m.Write([]byte{chainKeySeedLabel})
	m.Sum(next[:0])
	return seed, next
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
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("senderkey: aes: " + err.Error()) // unreachable: key is 32 bytes
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	out := make([]byte, len(plaintext)+pad)
	copy(out, plaintext)
	for i := len(plaintext); i < len(out); i++ {
		out[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, out)
	return out
}

// decryptCBC reverses encryptCBC. It runs only on messages whose signature
// verified, so its errors are no padding oracle to an outsider; the padding
// check is constant time anyway.
func decryptCBC(key, iv, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, errBadPadding
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("senderkey: aes: " + err.Error()) // unreachable: key is 32 bytes
	}
	out := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, ciphertext)

	pad := out[len(out)-1]
	good := subtle.ConstantTimeLessOrEq(1, int(pad)) & subtle.ConstantTimeLessOrEq(int(pad), aes.BlockSize)
	tail := out[len(out)-aes.BlockSize:]
	for i := range tail {
		inPad := subtle.ConstantTimeLessOrEq(aes.BlockSize-i, int(pad))
		eq := subtle.ConstantTimeByteEq(tail[i], pad)
		good &= eq | (inPad ^ 1)
	}
	if good != 1 {
		return nil, errBadPadding
	}
	return out[:len(out)-int(pad)], nil
}
