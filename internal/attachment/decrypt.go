package attachment

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Reader decrypts a ciphertext read in order from src. It finds the last
// chunk by reading one byte ahead, as age does: a chunk followed by more
// bytes must not be the last, and the chunk that ends the input must be.
// So a ciphertext cut at a chunk boundary fails (its final chunk lacks the
// flag) and one with bytes added fails (the real last chunk is no longer
// at the end). Every failure of authentication is ErrDecrypt; an error of
// src is returned as it is.
type Reader struct {
	src  io.Reader
	aead cipher.AEAD
	buf  []byte // one encrypted chunk and one byte of look-ahead
	have int    // bytes in buf
	pt   []byte // decrypted and not yet read; aliases buf
	i    int64  // index of the next chunk
	last bool   // the last chunk has been decrypted
	err  error
}

// NewReader returns a Reader of the plaintext of the ciphertext in src.
func NewReader(src io.Reader, key *Key) *Reader {
	return &Reader{src: src, aead: key.aead(), buf: make([]byte, encChunkSize+1)}
}

// Read returns plaintext only from chunks that authenticated. It returns
// io.EOF after the last chunk, and ErrDecrypt if the input ends anywhere
// else, goes on after the last chunk, or was changed.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.pt) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.last {
			r.err = io.EOF
			continue
		}
		r.err = r.next()
	}
	n := copy(p, r.pt)
	r.pt = r.pt[n:]
	return n, nil
}

// next reads and decrypts the next chunk.
func (r *Reader) next() error {
	if r.have > encChunkSize { // the look-ahead byte starts this chunk
		r.buf[0] = r.buf[encChunkSize]
		r.have = 1
	}
	n, err := io.ReadFull(r.src, r.buf[r.have:])
	r.have += n
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("attachment: reading the ciphertext: %w", err)
	}
	last := r.have <= encChunkSize
	size := min(r.have, encChunkSize)
	if size < Overhead || last && size == Overhead && r.i > 0 || r.i >= maxChunks {
		return ErrDecrypt // no chunk has this size here
	}
	var nc [nonceSize]byte
	nonce(&nc, r.i, last)
	pt, err := r.aead.Open(r.buf[:0], nc[:], r.buf[:size], nil)
	if err != nil {
		return ErrDecrypt
	}
	r.pt, r.last = pt, last
	r.i++
	return nil
}

// Decrypt writes the plaintext of the ciphertext in src to dst. On
// ErrDecrypt, dst may have received the chunks before the bad one, each
// authentic but not known to be the whole file: discard them.
func Decrypt(dst io.Writer, src io.Reader, key *Key) (int64, error) {
	return io.Copy(dst, NewReader(src, key))
}

// RandomReader decrypts any part of a ciphertext it reads through an
// io.ReaderAt, decrypting only the chunks it needs (the last one it used
// is kept). It is an io.ReaderAt, and an io.ReadSeeker with its own
// offset. ReadAt may be called concurrently; Read and Seek may not.
type RandomReader struct {
	src    io.ReaderAt
	aead   cipher.AEAD
	ctSize int64
	size   int64 // of the plaintext
	chunks int64
	off    int64 // Read and Seek's offset

	mu     sync.Mutex // guards what follows
	cached int64      // index of the chunk in pt, or -1
	buf    []byte     // ciphertext of a chunk, then its plaintext
	pt     []byte     // aliases buf
}

// NewRandomReader returns a reader of the plaintext of the size-byte
// ciphertext that src holds. It authenticates the last chunk at once, so
// a truncated or extended ciphertext fails here (ErrDecrypt), and Size is
// then the genuine plaintext size. Any other chunk is authenticated when
// first read; a changed one fails that read with ErrDecrypt.
func NewRandomReader(src io.ReaderAt, size int64, key *Key) (*RandomReader, error) {
	pts, err := PlaintextSize(size)
	if err != nil {
		return nil, err
	}
	r := &RandomReader{src: src, aead: key.aead(), ctSize: size, size: pts, chunks: chunks(pts),
		cached: -1, buf: make([]byte, encChunkSize)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.chunk(r.chunks - 1); err != nil {
		return nil, err
	}
	return r, nil
}

// Size is the plaintext's size.
func (r *RandomReader) Size() int64 { return r.size }

// chunk returns the plaintext of chunk i. r.mu is held.
func (r *RandomReader) chunk(i int64) ([]byte, error) {
	if i == r.cached {
		return r.pt, nil
	}
	r.cached = -1
	off := i * encChunkSize
	ct := r.buf[:min(encChunkSize, r.ctSize-off)]
	n, err := r.src.ReadAt(ct, off)
	if n < len(ct) {
		if err == nil || err == io.EOF {
			return nil, ErrDecrypt // the source is shorter than its size
		}
		return nil, fmt.Errorf("attachment: reading the ciphertext: %w", err)
	}
	var nc [nonceSize]byte
	nonce(&nc, i, i == r.chunks-1)
	pt, err := r.aead.Open(ct[:0], nc[:], ct, nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	r.pt, r.cached = pt, i
	return pt, nil
}

var errOffset = errors.New("attachment: negative offset")

// ReadAt reads plaintext at off, decrypting the chunks it covers.
func (r *RandomReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errOffset
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(p) && off < r.size {
		i := off / ChunkSize
		pt, err := r.chunk(i)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], pt[off-i*ChunkSize:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read reads plaintext from the reader's offset.
func (r *RandomReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the offset of the next Read (io.Seeker).
func (r *RandomReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("attachment: bad whence")
	}
	if offset < 0 {
		return 0, errOffset
	}
	r.off = offset
	return offset, nil
}
