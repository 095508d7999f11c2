package client

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/internal/attachment"
	"github.com/parley-chat/parley/internal/termtext"
	"github.com/parley-chat/parley/internal/wire"
)

// Profiles (spec/client.md §12): a display name, an about line and an
// avatar, encrypted under the account's profile key, which travels only
// to the account's own devices and to the peers it writes to. The server
// stores the ciphertext (spec/api.md §14). This file is the encryption and
// the plaintext's encoding; profileshare.go shares and fetches them.

// Labels and sizes of a profile (spec/client.md §12.3).
const (
	// profileKeyLabel is the HKDF info that derives a profile's
	// encryption key from the profile key.
	profileKeyLabel = "Parley_Profile_Key_v1"
	// profileADLabel begins a profile ciphertext's associated data.
	profileADLabel = "Parley_Profile_v1"

	profileKeySize    = 32
	profileFormat     = 1    // the ciphertext's first byte
	profilePlainSize  = 1024 // every plaintext is padded to this
	profileHead       = 1 + chacha20poly1305.NonceSizeX
	profileCipherSize = profileHead + profilePlainSize + chacha20poly1305.Overhead

	// MaxProfileName and MaxProfileAbout bound a display name and an
	// about line, in bytes of UTF-8.
	MaxProfileName  = 128
	MaxProfileAbout = 512

	// Fields of the plaintext, in this order (spec/protocol.md §7.1's
	// canonical encoding).
	pVersion    protowire.Number = 1
	pName       protowire.Number = 2
	pAbout      protowire.Number = 3
	pAvatarBlob protowire.Number = 4 // SHA-256 of the encrypted avatar: all four or none
	pAvatarKey  protowire.Number = 5
	pAvatarSize protowire.Number = 6
	pAvatarType protowire.Number = 7
)

// Errors of profiles.
var (
	// ErrProfileNameTooLong means a display name over MaxProfileName bytes.
	ErrProfileNameTooLong = fmt.Errorf("client: a display name is at most %d bytes", MaxProfileName)
	// ErrProfileAboutTooLong means an about line over MaxProfileAbout bytes.
	ErrProfileAboutTooLong = fmt.Errorf("client: an about line is at most %d bytes", MaxProfileAbout)
	// ErrProfileText means a display name or about line that is not
	// UTF-8 or holds a control character, a bidirectional control or a
	// line separator.
	ErrProfileText = errors.New("client: a display name or about line is one line of UTF-8 without control characters")
	// ErrNoProfile means the account has not set a profile.
	ErrNoProfile = errors.New("client: this account has not set a profile")
	// ErrNoProfileKey means the account has not shared its profile key
	// with this one: it has sent no message here yet.
	ErrNoProfileKey = errors.New("client: this account has not shared its profile with you")
	// ErrProfileRefused means the server served a profile that does not
	// open with the account's profile key (altered, another account's,
	// or sealed under a key this account no longer has), or one older
	// than a version seen before. What was known stays.
	ErrProfileRefused = errors.New("client: the server's copy of this profile does not open or is older than one seen; it was refused")
)

// errProfile is a plaintext that does not decode: every such failure of
// the opened plaintext, reported as ErrProfileRefused.
var errProfile = errors.New("client: malformed profile")

// profileKey is an account's profile key. It is a secret: whoever holds
// it reads the profile.
type profileKey [profileKeySize]byte

func profileKeyFrom(b []byte) (profileKey, bool) {
	var k profileKey
	if len(b) != profileKeySize {
		return k, false
	}
	copy(k[:], b)
	return k, true
}

// sameProfileKey compares two encoded profile keys in constant time.
func sameProfileKey(a, b []byte) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1
}

// profilePlain is a profile as its owner wrote it: what the ciphertext
// holds.
type profilePlain struct {
	Version uint64
	Name    string
	About   string
	Avatar  *filePointer // Blob, Key, Size, ContentType; nil: none
}

// marshal encodes p canonically, unpadded.
func (p *profilePlain) marshal() []byte {
	var e wire.Encoder
	e.Uint(pVersion, p.Version)
	if p.Name != "" {
		e.Bytes(pName, []byte(p.Name))
	}
	if p.About != "" {
		e.Bytes(pAbout, []byte(p.About))
	}
	if a := p.Avatar; a != nil {
		e.Bytes(pAvatarBlob, a.Blob)
		e.Bytes(pAvatarKey, a.Key)
		e.Uint(pAvatarSize, uint64(a.Size))
		e.Bytes(pAvatarType, []byte(a.ContentType))
	}
	return e.B
}

// parseProfilePlain decodes an unpadded plaintext. Text must be UTF-8
// within its bound; whatever else it holds is the sanitiser's business
// (sanitizeProfileText), so that a rule added later does not make older
// profiles unreadable.
func parseProfilePlain(b []byte) (*profilePlain, error) {
	d := wire.NewDecoder(b)
	p := &profilePlain{Version: d.Uint(pVersion, maxProfileVersion)}
	if n, ok := d.OptBytes(pName, 1, MaxProfileName); ok {
		p.Name = string(n)
	}
	if a, ok := d.OptBytes(pAbout, 1, MaxProfileAbout); ok {
		p.About = string(a)
	}
	if blob, ok := d.OptBytes(pAvatarBlob, sha256.Size, sha256.Size); ok {
		a := &filePointer{Blob: bytes.Clone(blob), Name: avatarName}
		a.Key = bytes.Clone(d.Bytes(pAvatarKey, attachment.KeySize, attachment.KeySize))
		a.Size = int64(d.Uint(pAvatarSize, maxAvatar))
		a.ContentType = string(d.Bytes(pAvatarType, 1, maxAttachName))
		if d.Err() == nil && (!strings.HasPrefix(a.ContentType, "image/") || !utf8.ValidString(a.ContentType)) {
			return nil, fmt.Errorf("%w: the avatar is not an image", errProfile)
		}
		p.Avatar = a
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", errProfile, err)
	}
	switch {
	case p.Version == 0:
		return nil, fmt.Errorf("%w: version 0", errProfile)
	case !utf8.ValidString(p.Name) || !utf8.ValidString(p.About):
		return nil, fmt.Errorf("%w: text that is not UTF-8", errProfile)
	}
	return p, nil
}

// maxProfileVersion is api.MaxProfileVersion: the server takes no higher.
const maxProfileVersion = 1<<53 - 1

// avatarName is the file name an avatar's pointer carries.
const avatarName = "avatar"

// profileAEAD derives the profile's encryption key from k with
// HKDF-SHA256 (RFC 5869 §2: no salt, info profileKeyLabel), for
// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03 §2, over RFC 8439's
// ChaCha20-Poly1305), whose 24-byte nonces may be random.
func profileAEAD(k profileKey) (cipher.AEAD, error) {
	ek, err := hkdf.Key(sha256.New, k[:], nil, profileKeyLabel, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.NewX(ek)
}

// profileAD is the associated data of username's profile version:
// profileADLabel ‖ len(username) (1 byte) ‖ username ‖ version (8 bytes,
// big-endian). It binds the ciphertext to the account and the version, so
// the server can serve neither another account's profile (even to someone
// who has both keys) nor an older version under a newer number.
func profileAD(username string, version uint64) []byte {
	ad := make([]byte, 0, len(profileADLabel)+1+len(username)+8)
	ad = append(ad, profileADLabel...)
	ad = append(ad, byte(len(username)))
	ad = append(ad, username...)
	return binary.BigEndian.AppendUint64(ad, version)
}

// sealProfile encrypts p as username's profile under k: profileFormat ‖
// nonce (24 random bytes) ‖ XChaCha20-Poly1305 of the plaintext padded
// to profilePlainSize (one 0x80, then zeros, as padContent does), so
// that every ciphertext has one size whatever the name and about line.
func sealProfile(k profileKey, username string, p *profilePlain, rand io.Reader) ([]byte, error) {
	plain := p.marshal()
	if len(plain) >= profilePlainSize {
		return nil, fmt.Errorf("client: a profile of %d bytes does not fit", len(plain))
	}
	padded := make([]byte, profilePlainSize)
	copy(padded, plain)
	padded[len(plain)] = 0x80
	aead, err := profileAEAD(k)
	if err != nil {
		return nil, err
	}
	out := make([]byte, profileHead, profileCipherSize)
	out[0] = profileFormat
	if _, err := io.ReadFull(rand, out[1:profileHead]); err != nil {
		return nil, fmt.Errorf("client: sealing the profile: %w", err)
	}
	return aead.Seal(out, out[1:profileHead], padded, profileAD(username, p.Version)), nil
}

// openProfile decrypts username's profile of the given version (the one
// the server names) with k. Anything wrong, from the size to the
// padding, the plaintext's encoding or a version inside that is not the
// one outside, is ErrProfileRefused and nothing else.
func openProfile(k profileKey, username string, version uint64, b []byte) (*profilePlain, error) {
	if len(b) != profileCipherSize || b[0] != profileFormat {
		return nil, ErrProfileRefused
	}
	aead, err := profileAEAD(k)
	if err != nil {
		return nil, ErrProfileRefused
	}
	padded, err := aead.Open(nil, b[1:profileHead], b[profileHead:], profileAD(username, version))
	if err != nil {
		return nil, ErrProfileRefused
	}
	plain, err := unpadContent(padded)
	if err != nil {
		return nil, ErrProfileRefused
	}
	p, err := parseProfilePlain(plain)
	if err != nil || p.Version != version {
		return nil, ErrProfileRefused
	}
	return p, nil
}

// checkProfileText checks a display name or about line that this
// account's user typed: UTF-8, one line, nothing termtext would mark.
// Leading and trailing spaces are trimmed.
func checkProfileText(s string, max int, tooLong error) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || strings.ContainsFunc(s, termtext.Unsafe) {
		return "", ErrProfileText
	}
	if len(s) > max {
		return "", tooLong
	}
	return s, nil
}

// sanitizeProfileText is a display name or about line that someone else
// wrote, made safe to show (spec/client.md §6.2): each character termtext
// would mark (controls, bidirectional controls, line separators) and each
// byte that is not UTF-8 is dropped, every run of spaces (tabs, line
// breaks, other Unicode spaces) becomes one space, the ends are trimmed, and the result
// is cut to max bytes on a character boundary. It is idempotent.
func sanitizeProfileText(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r): // tabs, line breaks and separators too
			space = b.Len() > 0
			continue
		case r == utf8.RuneError || termtext.Unsafe(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(cutUTF8(b.String(), max))
}
