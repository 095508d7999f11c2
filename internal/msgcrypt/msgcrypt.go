// Package msgcrypt holds the symmetric steps that the pairwise Double
// Ratchet and group Sender Keys share, as Signal defines them
// (spec/protocol.md §5.3, §5.4, §6.3): the chain-key step and AES-256-CBC
// with PKCS#7 padding.
//
// CBC here is always used encrypt-then-authenticate: callers check a MAC or
// a signature over the ciphertext before calling Open, so padding errors are
// no oracle. Open's padding check is constant time anyway. The package
// authenticates nothing itself.
package msgcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
)

// Chain-step inputs (Double Ratchet §5.2 KDF_CK, with Signal's constants).
var (
	messageKeySeedInput = []byte{0x01}
	chainKeySeedInput   = []byte{0x02}
)

// KeySize is the size of a chain key and of a message-key seed.
const KeySize = 32

// ChainStep returns the message-key seed and the next chain key of chain
// key ck: seed = HMAC-SHA256(ck, 0x01), next = HMAC-SHA256(ck, 0x02).
func ChainStep(ck *[KeySize]byte) (seed, next [KeySize]byte) {
	m := hmac.New(sha256.New, ck[:])
	m.Write(messageKeySeedInput)
	m.Sum(seed[:0])
	m.Reset()
	m.Write(chainKeySeedInput)
	m.Sum(next[:0])
	return seed, next
}

// ErrPadding is returned by Open for a ciphertext that is not a whole
// number of blocks or whose padding is wrong.
var ErrPadding = errors.New("msgcrypt: bad padding")

// PaddedLen is the ciphertext length for an n-byte plaintext.
func PaddedLen(n int) int { return n + aes.BlockSize - n%aes.BlockSize }

// Seal appends AES-256-CBC(key, iv, PKCS#7(plaintext)) to dst, encrypting in
// place, so a dst with room for PaddedLen(len(plaintext)) more bytes is not
// reallocated. key is 32 bytes and iv 16.
func Seal(dst, key, iv, plaintext []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("msgcrypt: AES key is not 32 bytes")
	}
	start := len(dst)
	dst = append(dst, plaintext...)
	pad := byte(aes.BlockSize - len(plaintext)%aes.BlockSize)
	for range pad {
		dst = append(dst, pad)
	}
	out := dst[start:]
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, out)
	return dst
}

// Open decrypts an AES-256-CBC ciphertext and removes its PKCS#7 padding,
// checking the last block in constant time.
func Open(key, iv, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, ErrPadding
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("msgcrypt: AES key is not 32 bytes")
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
		return nil, ErrPadding
	}
	return out[:len(out)-int(pad)], nil
}
