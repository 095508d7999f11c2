package attachment

import (
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
)

// Writer encrypts what is written to it into dst, one chunk at a time,
// and hashes the ciphertext as it goes. It holds at most one chunk: a
// full chunk is sealed only when more data follows or on Close, which
// seals the last chunk with the last-chunk flag.
type Writer struct {
	dst  io.Writer
	aead cipher.AEAD
	buf  []byte // pending plaintext, then its ciphertext; cap encChunkSize
	i    int64  // index of the pending chunk
	n    int64  // ciphertext bytes written
	h    hash.Hash
	err  error
	done bool
}

var errClosed = errors.New("attachment: write after Close")

// NewWriter returns a Writer that writes the encryption of its input
// under key to dst. The caller must Close it to write the last chunk.
func NewWriter(dst io.Writer, key *Key) *Writer {
	return &Writer{dst: dst, aead: key.aead(), buf: make([]byte, 0, encChunkSize), h: sha256.New()}
}

// Write encrypts p. A full chunk waits in the buffer until more data
// comes, since only then is it known not to be the last.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, errClosed
	}
	total := len(p)
	for len(p) > 0 {
		if len(w.buf) == ChunkSize {
			if err := w.seal(false); err != nil {
				return total - len(p), err
			}
		}
		k := copy(w.buf[len(w.buf):ChunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
	}
	return total, nil
}

// Close seals and writes the last chunk. It does not close dst.
func (w *Writer) Close() error {
	if w.err != nil || w.done {
		return w.err
	}
	w.done = true
	return w.seal(true)
}

// seal encrypts the pending chunk in place and writes it.
func (w *Writer) seal(last bool) error {
	if w.i >= maxChunks {
		w.err = ErrTooLarge
		return w.err
	}
	var n [nonceSize]byte
	nonce(&n, w.i, last)
	ct := w.aead.Seal(w.buf[:0], n[:], w.buf, nil)
	w.h.Write(ct)
	k, err := w.dst.Write(ct)
	w.n += int64(k)
	if err == nil && k < len(ct) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
		return err
	}
	w.buf = w.buf[:0]
	w.i++
	return nil
}

// Size is the number of ciphertext bytes written so far; after Close, the
// ciphertext's size.
func (w *Writer) Size() int64 { return w.n }

// Digest is the SHA-256 of the ciphertext written so far; after Close, of
// the whole ciphertext, the blob's name on the server.
func (w *Writer) Digest() [sha256.Size]byte {
	var d [sha256.Size]byte
	w.h.Sum(d[:0])
	return d
}

// Encrypt writes the encryption of src under key to dst and returns the
// ciphertext's SHA-256 and size. It holds one chunk in memory.
func Encrypt(dst io.Writer, src io.Reader, key *Key) (digest [sha256.Size]byte, size int64, err error) {
	w := NewWriter(dst, key)
	if _, err := io.Copy(w, src); err != nil {
		return digest, 0, err
	}
	if err := w.Close(); err != nil {
		return digest, 0, err
	}
	return w.Digest(), w.Size(), nil
}
