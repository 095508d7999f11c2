package client

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"unicode"

	"golang.org/x/crypto/chacha20poly1305"
)

// The sealed container of an encrypted backup (spec/client.md §13.2): a
// header, then the backup's plaintext (backuprecords.go) in STREAM chunks
// (Hoang, Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption
// and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015, §7), the
// construction age's payload uses, under ChaCha20-Poly1305 (RFC 8439).
//
// The backup key is 30 decimal digits from crypto/rand: log2(10^30) ≈ 99.7
// bits, too many to guess, so it goes through HKDF (RFC 5869) with a
// random salt and no slow password hash (§13.2 says why that suffices).

const (
	backupMagic    = "PARLEYBK"
	backupVersion  = 1
	backupSaltSize = 32
	backupMACSize  = sha256.Size
	backupSumSize  = sha256.Size
	// backupHeaderSize: magic ‖ version ‖ salt ‖ MAC ‖ checksum.
	backupHeaderSize = len(backupMagic) + 1 + backupSaltSize + backupMACSize + backupSumSize

	// backupKeyDigits is the backup key's length, shown in groups of
	// backupKeyGroup digits.
	backupKeyDigits = 30
	backupKeyGroup  = 5

	// HKDF info strings (spec/client.md §13.2).
	infoBackupMAC     = "parley-backup-v1 header mac"
	infoBackupPayload = "parley-backup-v1 payload"

	// backupChunk is the plaintext size of every STREAM chunk but the
	// last, which holds 1 to backupChunk bytes.
	backupChunk = 64 << 10
	// The STREAM nonce (HRRV15 §7): an 11-byte big-endian chunk counter
	// and a byte that is 1 for the last chunk, 0 before.
	streamCounterSize = chacha20poly1305.NonceSize - 1
)

// Errors of backups a caller may branch on.
var (
	// ErrBackupKey means the backup key does not open the backup.
	ErrBackupKey = errors.New("client: the backup key does not open this backup")
	// ErrBackupKeyFormat means the text given as a backup key is not 30
	// digits (spaces and dashes between them are allowed).
	ErrBackupKeyFormat = errors.New("client: a backup key is 30 digits")
	// ErrBackupCorrupt means the backup was changed, cut short or
	// extended after it was written: nothing of it is restored.
	ErrBackupCorrupt = errors.New("client: the backup is damaged, cut short or altered; nothing was restored")
	// ErrNotBackup means the file is not a Parley backup.
	ErrNotBackup = errors.New("client: not a Parley backup file")
	// ErrBackupVersion means the backup was made by a newer version of
	// Parley, in a format or with records this version does not know.
	ErrBackupVersion = errors.New("client: the backup is from a newer version of Parley")
)

// newBackupKey returns 30 uniformly random decimal digits.
func newBackupKey(rnd io.Reader) (string, error) {
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(backupKeyDigits), nil)
	n, err := rand.Int(rnd, max)
	if err != nil {
		return "", fmt.Errorf("client: a backup key: %w", err)
	}
	return fmt.Sprintf("%0*s", backupKeyDigits, n.String()), nil
}

// FormatBackupKey groups a backup key's digits in fives for display:
// "12345 67890 ...". ParseBackupKey reads it back.
func FormatBackupKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i += backupKeyGroup {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key[i:min(i+backupKeyGroup, len(key))])
	}
	return b.String()
}

// ParseBackupKey reads a backup key as typed: 30 digits, with any spaces
// or dashes between them. Anything else is ErrBackupKeyFormat.
func ParseBackupKey(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || unicode.IsSpace(r):
		default:
			return "", ErrBackupKeyFormat
		}
	}
	if b.Len() != backupKeyDigits {
		return "", ErrBackupKeyFormat
	}
	return b.String(), nil
}

// backupKeys are the keys HKDF derives from the backup key and the salt.
type backupKeys struct {
	mac     []byte // HMAC-SHA256 key of the header
	payload cipher.AEAD
}

func deriveBackupKeys(key string, salt []byte) (*backupKeys, error) {
	// RFC 5869 §2: extract with the header's random salt, expand once
	// per role with its own info string.
	mac, err := hkdf.Key(sha256.New, []byte(key), salt, infoBackupMAC, sha256.Size)
	if err != nil {
		return nil, err
	}
	pk, err := hkdf.Key(sha256.New, []byte(key), salt, infoBackupPayload, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(pk)
	aead, err := chacha20poly1305.New(pk)
	if err != nil {
		return nil, err
	}
	return &backupKeys{mac: mac, payload: aead}, nil
}

// headerMAC is HMAC-SHA256 over magic ‖ version ‖ salt: it proves the
// key (a wrong one is ErrBackupKey) and authenticates the header, as
// age's header MAC does.
func (k *backupKeys) headerMAC(prefix []byte) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write(prefix)
	return m.Sum(nil)
}

// sealBackupHeader writes the header and returns the keys of the body.
func sealBackupHeader(w io.Writer, key string, rnd io.Reader) (*backupKeys, error) {
	h := make([]byte, 0, backupHeaderSize)
	h = append(h, backupMagic...)
	h = append(h, backupVersion)
	salt := make([]byte, backupSaltSize)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return nil, fmt.Errorf("client: a backup salt: %w", err)
	}
	h = append(h, salt...)
	k, err := deriveBackupKeys(key, salt)
	if err != nil {
		return nil, err
	}
	h = append(h, k.headerMAC(h)...)
	sum := sha256.Sum256(h)
	h = append(h, sum[:]...)
	if _, err := w.Write(h); err != nil {
		return nil, fmt.Errorf("client: writing the backup: %w", err)
	}
	return k, nil
}

// openBackupHeader reads and checks the header. The checksum, a plain
// SHA-256 of what precedes it, tells a damaged header (ErrBackupCorrupt)
// from a wrong key (ErrBackupKey); it is no security check, the MAC is.
func openBackupHeader(r io.Reader, key string) (*backupKeys, error) {
	h := make([]byte, backupHeaderSize)
	n, err := io.ReadFull(r, h)
	if n < len(backupMagic) || !bytes.Equal(h[:len(backupMagic)], []byte(backupMagic)) {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("client: reading the backup: %w", err)
		}
		return nil, ErrNotBackup
	}
	if err != nil {
		return nil, backupReadErr(err)
	}
	body, sum := h[:backupHeaderSize-backupSumSize], h[backupHeaderSize-backupSumSize:]
	if want := sha256.Sum256(body); !hmac.Equal(sum, want[:]) {
		return nil, ErrBackupCorrupt
	}
	if h[len(backupMagic)] != backupVersion {
		return nil, ErrBackupVersion
	}
	prefix := body[:len(body)-backupMACSize]
	salt := prefix[len(backupMagic)+1:]
	k, err := deriveBackupKeys(key, salt)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(k.headerMAC(prefix), body[len(prefix):]) {
		return nil, ErrBackupKey
	}
	return k, nil
}

// backupReadErr is a read error of the backup: the end of the input
// where more was due is ErrBackupCorrupt, any other error the reader's.
func backupReadErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrBackupCorrupt
	}
	if errors.Is(err, ErrBackupCorrupt) {
		return err
	}
	return fmt.Errorf("client: reading the backup: %w", err)
}

// streamNonce is the nonce of chunk i (HRRV15 §7, the nonce-based STREAM:
// counter ‖ last-block flag).
func streamNonce(dst []byte, i uint64, last bool) []byte {
	dst = dst[:chacha20poly1305.NonceSize]
	clear(dst)
	binary.BigEndian.PutUint64(dst[streamCounterSize-8:streamCounterSize], i)
	if last {
		dst[streamCounterSize] = 1
	}
	return dst
}

// streamWriter seals what is written to it in STREAM chunks. A chunk is
// sealed only once the next byte is known, so that the last chunk, sealed
// by Close, is never empty unless the whole plaintext is.
type streamWriter struct {
	w     io.Writer
	aead  cipher.AEAD
	buf   []byte // plaintext of the chunk being filled
	out   []byte // its ciphertext
	nonce []byte
	n     uint64 // chunks sealed
	err   error
}

func newStreamWriter(w io.Writer, aead cipher.AEAD) *streamWriter {
	return &streamWriter{w: w, aead: aead, buf: make([]byte, 0, backupChunk),
		out: make([]byte, 0, backupChunk+aead.Overhead()), nonce: make([]byte, chacha20poly1305.NonceSize)}
}

func (s *streamWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 && s.err == nil {
		if len(s.buf) == backupChunk {
			s.flush(false)
			continue
		}
		n := copy(s.buf[len(s.buf):backupChunk], p)
		s.buf, p, written = s.buf[:len(s.buf)+n], p[n:], written+n
	}
	return written, s.err
}

// Close seals the last chunk. It does not close the underlying writer.
func (s *streamWriter) Close() error {
	if s.err == nil {
		s.flush(true)
	}
	return s.err
}

func (s *streamWriter) flush(last bool) {
	// STREAM (HRRV15 §7): chunk i is sealed under nonce i ‖ last, so a
	// reordered, dropped or appended chunk fails to open.
	s.out = s.aead.Seal(s.out[:0], streamNonce(s.nonce, s.n, last), s.buf, nil)
	s.n++
	s.buf = s.buf[:0]
	if _, err := s.w.Write(s.out); err != nil {
		s.err = fmt.Errorf("client: writing the backup: %w", err)
	}
}

// streamReader opens STREAM chunks and reads their plaintext. It returns
// io.EOF only after the last chunk opened under its last-chunk nonce and
// nothing follows it; every failure to open is ErrBackupCorrupt.
type streamReader struct {
	r     io.Reader
	aead  cipher.AEAD
	buf   []byte // ciphertext read ahead: one chunk and one more byte
	have  int    // bytes of buf filled
	plain []byte // opened plaintext not yet read
	nonce []byte
	n     uint64
	done  bool
	err   error
}

func newStreamReader(r io.Reader, aead cipher.AEAD) *streamReader {
	return &streamReader{r: r, aead: aead, buf: make([]byte, backupChunk+aead.Overhead()+1),
		plain: make([]byte, 0, backupChunk), nonce: make([]byte, chacha20poly1305.NonceSize)}
}

func (s *streamReader) Read(p []byte) (int, error) {
	for len(s.plain) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.done {
			return 0, io.EOF
		}
		s.err = s.next()
	}
	n := copy(p, s.plain)
	s.plain = s.plain[n:]
	return n, nil
}

// next reads and opens one chunk. A chunk is the last if the input ends
// within one byte after it: so a cut at a chunk boundary leaves a chunk
// sealed as not last, and appended bytes make the last one look not last,
// and either fails to open (HRRV15 §7).
func (s *streamReader) next() error {
	full := backupChunk + s.aead.Overhead()
	m, err := io.ReadFull(s.r, s.buf[s.have:])
	s.have += m
	last := false
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		last = true
	default:
		return fmt.Errorf("client: reading the backup: %w", err)
	}
	size := min(s.have, full)
	if size < s.aead.Overhead() || (last && size == s.aead.Overhead() && s.n > 0) {
		return ErrBackupCorrupt // no chunk, or an empty last chunk after others
	}
	if s.n == 1<<64-1 {
		return ErrBackupCorrupt
	}
	pt, err := s.aead.Open(s.plain[:0], streamNonce(s.nonce, s.n, last), s.buf[:size], nil)
	if err != nil {
		return ErrBackupCorrupt
	}
	s.n++
	s.plain = pt
	s.have = copy(s.buf, s.buf[size:s.have])
	s.done = last
	return nil
}
