package traffic

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"os"
	"sync"

	"github.com/parley-chat/parley/api"
)

// idCodec makes ClientIDs that look random to the server (so its dedup
// index sees realistic, scattered keys) yet let a receiver recover who
// sent an envelope and its sequence number: a ClientID is the AES-128
// encryption, under a key fresh for each run, of magic ‖ sender ‖ seq.
type idCodec struct {
	block cipher.Block
}

const idMagic = 0x50424e31 // "PBN1"

func newIDCodec() *idCodec {
	var key [16]byte
	rand.Read(key[:])
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	return &idCodec{block: b}
}

func (c *idCodec) encode(sender int, seq uint64) []byte {
	var p [api.ClientIDSize]byte
	binary.BigEndian.PutUint32(p[0:], idMagic)
	binary.BigEndian.PutUint32(p[4:], uint32(sender))
	binary.BigEndian.PutUint64(p[8:], seq)
	out := make([]byte, api.ClientIDSize)
	c.block.Encrypt(out, p[:])
	return out
}

// decode reports ok=false for an ID this run did not make.
func (c *idCodec) decode(id []byte) (sender int, seq uint64, ok bool) {
	if len(id) != api.ClientIDSize {
		return 0, 0, false
	}
	var p [api.ClientIDSize]byte
	c.block.Decrypt(p[:], id)
	if binary.BigEndian.Uint32(p[0:]) != idMagic {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint32(p[4:])), binary.BigEndian.Uint64(p[8:]), true
}

// bitmap is a growable set of sequence numbers. It is not safe for
// concurrent use; each has one owning goroutine while the run lasts.
type bitmap []uint64

func (b *bitmap) set(i uint64) {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b))...)
	}
	(*b)[w] |= 1 << (i % 64)
}

func (b bitmap) has(i uint64) bool {
	w := int(i / 64)
	return w < len(b) && b[w]&(1<<(i%64)) != 0
}

// count is |{i in [lo, hi) : i in b and (not in minus)}|; minus may be nil.
func (b bitmap) count(lo, hi uint64, minus bitmap) uint64 {
	var n uint64
	for i := lo; i < hi; i++ { // simple and fast enough for millions
		if i%64 == 0 && i+64 <= hi {
			w := int(i / 64)
			var x uint64
			if w < len(b) {
				x = b[w]
			}
			if minus != nil && w < len(minus) {
				x &^= minus[w]
			}
			n += uint64(bits.OnesCount64(x))
			i += 63
			continue
		}
		if b.has(i) && (minus == nil || !minus.has(i)) {
			n++
		}
	}
	return n
}

// IDLog appends ClientIDs, in hex, one per line, to a file, flushing each
// line so that a crash test can read it at any moment.
type IDLog struct {
	mu sync.Mutex // guards f and w
	f  *os.File
	w  *bufio.Writer
}

// OpenIDLog opens path for appending, creating it if need be.
func OpenIDLog(path string) (*IDLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the ClientID log: %w", err)
	}
	return &IDLog{f: f, w: bufio.NewWriterSize(f, 64)}, nil
}

// Write appends one ClientID; a nil log does nothing.
func (l *IDLog) Write(id []byte) error {
	if l == nil {
		return nil
	}
	var line [2*api.ClientIDSize + 1]byte
	hex.Encode(line[:], id)
	line[len(line)-1] = '\n'
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(line[:])
	return l.w.Flush()
}

// Close flushes and closes the file; a nil log does nothing.
func (l *IDLog) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.w.Flush(); err != nil {
		l.f.Close()
		return err
	}
	return l.f.Close()
}
