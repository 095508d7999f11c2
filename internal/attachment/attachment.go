// Package attachment encrypts the files sent in Parley conversations
// (spec/client.md §8). A file is encrypted under a fresh random 256-bit
// key with AES-256-GCM in chunks of 64 KiB of plaintext, using the STREAM
// construction of Hoang, Reyhanitabar, Rogaway and Vizár ("Online
// Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance",
// CRYPTO 2015, §7): the nonce of chunk i is a prefix ‖ i (32 bits, big
// endian) ‖ a last-chunk flag. age's payload format (age-encryption.org/v1)
// is built the same way, with ChaCha20-Poly1305. Since the key is used for
// one file only, the prefix is zero.
//
// The ciphertext is the server's blob; its SHA-256 digest names it. The
// key, the digest and the plaintext size travel to the recipients inside
// an end-to-end encrypted message.
//
// What it protects: the file's contents, and their integrity under the
// key. Every chunk authenticates its position and whether it is the last,
// so a changed, reordered, dropped, truncated or extended ciphertext fails
// to decrypt; and any chunk decrypts on its own, so a reader can start
// anywhere (RandomReader) — a video can be played from the middle.
//
// What it does not protect: the file's size, which the ciphertext's size
// reveals exactly; and AES-GCM is not key-committing, so whoever chooses
// the key (the sender) could make one ciphertext that opens under two
// keys to two different files. A recipient trusts the sender for what the
// file is, as for any message.
//
// The package does no I/O of its own beyond the io interfaces it is given.
package attachment

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// ChunkSize is the plaintext size of every chunk but the last.
	ChunkSize = 64 << 10
	// Overhead is what encryption adds to each chunk (the GCM tag).
	Overhead = 16
	// KeySize is the size of a file key.
	KeySize = 32
	// MaxSize is the largest plaintext: 2^32 chunks, the counter's range.
	MaxSize = maxChunks * ChunkSize

	encChunkSize = ChunkSize + Overhead
	maxChunks    = 1 << 32

	// The nonce is prefix (7 zero bytes) ‖ counter (4, big endian) ‖ flag (1).
	nonceSize   = 12
	counterAt   = 7
	flagAt      = 11
	flagLast    = 0x01
	flagNotLast = 0x00
)

var (
	// ErrDecrypt is the one error for a ciphertext that does not decrypt
	// under its key: tampered, reordered, truncated, extended, of an
	// impossible size, or under another key. It says no more, by design.
	ErrDecrypt = errors.New("attachment: decryption failed")
	// ErrTooLarge means a plaintext is larger than MaxSize.
	ErrTooLarge = errors.New("attachment: file too large")
)

// Key is a file key: 256 random bits, used for one file only.
type Key struct {
	_ [0]func() // not comparable
	b [KeySize]byte
}

// NewKey reads a fresh key from r (crypto/rand when nil).
func NewKey(r io.Reader) (Key, error) {
	if r == nil {
		r = rand.Reader
	}
	var k Key
	if _, err := io.ReadFull(r, k.b[:]); err != nil {
		return Key{}, fmt.Errorf("attachment: generating a key: %w", err)
	}
	return k, nil
}

// KeyFromBytes returns the key b (KeySize bytes).
func KeyFromBytes(b []byte) (Key, error) {
	var k Key
	if len(b) != KeySize {
		return k, fmt.Errorf("attachment: a key is %d bytes, not %d", KeySize, len(b))
	}
	copy(k.b[:], b)
	return k, nil
}

// Bytes returns a copy of the key's bytes, to be stored or sent sealed.
func (k *Key) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

func (k *Key) aead() cipher.AEAD {
	block, err := aes.NewCipher(k.b[:])
	if err != nil {
		panic("attachment: AES-256 refused a 32-byte key")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("attachment: GCM refused an AES block")
	}
	return aead
}

// nonce sets n to the nonce of chunk i (STREAM §7: prefix ‖ i ‖ last).
func nonce(n *[nonceSize]byte, i int64, last bool) {
	*n = [nonceSize]byte{}
	binary.BigEndian.PutUint32(n[counterAt:flagAt], uint32(i))
	n[flagAt] = flagNotLast
	if last {
		n[flagAt] = flagLast
	}
}

// chunks is the number of chunks of an n-byte plaintext: an empty file is
// one empty last chunk, and the last chunk is never empty otherwise.
func chunks(n int64) int64 {
	if n == 0 {
		return 1
	}
	return (n + ChunkSize - 1) / ChunkSize
}

// CiphertextSize is the size of the encryption of n plaintext bytes.
func CiphertextSize(n int64) (int64, error) {
	if n < 0 || n > MaxSize {
		return 0, ErrTooLarge
	}
	return n + chunks(n)*Overhead, nil
}

// PlaintextSize is the plaintext size of a ciphertext of c bytes, or
// ErrDecrypt if no ciphertext has that size.
func PlaintextSize(c int64) (int64, error) {
	if c < Overhead {
		return 0, ErrDecrypt
	}
	k := (c + encChunkSize - 1) / encChunkSize
	last := c - (k-1)*encChunkSize
	if k > maxChunks || last <= Overhead && k > 1 {
		return 0, ErrDecrypt
	}
	return c - k*Overhead, nil
}
