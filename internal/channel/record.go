// Package channel signs and verifies the records of a public channel
// (spec/protocol.md §10): posts, edits, deletions, pins, profile changes
// and changes of who may sign. The records form a hash chain: each names
// its position (1, 2, 3, ...) and the hash of the record before it, and is
// signed either by the channel's owner key (the genesis Ed25519 key, the
// channel's ID) or by the identity key of an admin the owner certified in
// the chain. A follower checks each record against the State it built from
// the genesis key it pinned when it first followed.
//
// What it protects: a server cannot alter, forge, reorder or replay a
// record, nor hide one without leaving a gap; two validly signed records
// at one position (a fork, which needs a signer's help) are detected as
// soon as a follower sees both. Only the owner key changes who may sign.
// What it does not: a server can withhold records or serve them late, and
// can show a follower who has never seen the real chain one branch of a
// fork until the follower sees the other.
//
// The package does no I/O and builds for js/wasm.
package channel

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

// Kind is what a record does.
type Kind uint8

// Record kinds (spec/protocol.md §10.2). Kind 6 was the handover of
// format version 1; it is not used any more.
const (
	KindPost        Kind = 1 // a new post: text and media
	KindEdit        Kind = 2 // replaces Target's text and media; the old version stays visible
	KindDelete      Kind = 3 // removes Target for good
	KindPin         Kind = 4 // pins Target
	KindUnpin       Kind = 5 // unpins Target
	KindProfile     Kind = 7 // sets the title, description and avatar
	KindAddAdmin    Kind = 8 // owner only: Admin's identity key may sign from the next record on
	KindRemoveAdmin Kind = 9 // owner only: Admin's identity key signs nothing from the next record on
	maxKind              = KindRemoveAdmin
)

const (
	// Version is the record format's version byte (spec/protocol.md §10.2).
	Version = 3
	// recordType is the record's type byte (spec/protocol.md §7.2).
	recordType = 6
	// SignatureContext is prepended to what the signature covers, so a
	// channel signature can never be mistaken for another protocol's.
	SignatureContext = "Parley_Channel_Record_v3"
	// ContentLabel is prepended to the encoding of a record's content
	// fields to hash them: the content digest the signature covers in
	// their place (spec/protocol.md §10.2).
	ContentLabel = "Parley_Channel_Record_Content_v3"
	// HashLabel is prepended to a record's stub (what the signature covers,
	// then the signature) to hash it: the prev field of the next record
	// (spec/protocol.md §10.2).
	HashLabel = "Parley_Channel_Record_Hash_v3"

	IDSize       = 16
	HashSize     = sha256.Size
	MaxText      = 64 << 10
	MaxMedia     = 10
	MaxTitle     = 128
	MaxAbout     = 1024
	MaxAdminName = 32
	mediaMaxLen  = 1024
	// maxPosition bounds the position field, far above any real channel.
	maxPosition = 1 << 62

	fChannel   protowire.Number = 1
	fPosition  protowire.Number = 2
	fPrev      protowire.Number = 3
	fSigner    protowire.Number = 4
	fID        protowire.Number = 5
	fTime      protowire.Number = 6
	fKind      protowire.Number = 7
	fTarget    protowire.Number = 8
	fText      protowire.Number = 9
	fMedia     protowire.Number = 10
	fAdmin     protowire.Number = 11
	fAdminName protowire.Number = 12
	fTitle     protowire.Number = 13
	fAbout     protowire.Number = 14
	fAvatar    protowire.Number = 15
)

// Errors. Apply's sentinels say why a record does not extend the chain;
// callers branch on them.
var (
	ErrMalformed = errors.New("channel: malformed record")
	// ErrSignature means a record's signature does not verify with the key
	// it names: it was forged or altered.
	ErrSignature = errors.New("channel: bad signature")
	// ErrWrongChannel means a record names another channel.
	ErrWrongChannel = errors.New("channel: record of another channel")
	// ErrGap means a record's position is beyond the next one: records
	// between were withheld or are still to come.
	ErrGap = errors.New("channel: records missing before this one")
	// ErrReplay means a record already in the chain was served again.
	ErrReplay = errors.New("channel: record already in the chain (replayed)")
	// ErrReorder means a record is for a position the chain has already
	// filled with another record (see State.Conflict: a fork or a forgery).
	ErrReorder = errors.New("channel: record for a position already taken")
	// ErrPrev means a record at the next position does not name the hash of
	// the chain's head: it continues another branch.
	ErrPrev = errors.New("channel: record does not continue the chain")
	// ErrUnauthorized means a record's signer may not sign records of
	// this channel (not the owner key, not a current admin).
	ErrUnauthorized = errors.New("channel: signer is not the owner or a current admin")
	// ErrAuthority means the signer may sign, but not this kind: only the
	// owner key adds or removes admins.
	ErrAuthority = errors.New("channel: only the owner key may change who signs")
	// ErrTarget means an edit, deletion, pin or unpin names no earlier
	// post of the channel, or a record ID is used twice.
	ErrTarget = errors.New("channel: target is not an earlier post")
	// ErrFork means two different, validly signed records claim one
	// position (the error is a *ForkError).
	ErrFork = errors.New("channel: two signed records at one position (fork)")
)

// Record is one signed channel record.
type Record struct {
	Channel  ed25519.PublicKey // the genesis key: the channel's permanent ID
	Position uint64            // 1 for the genesis profile, then +1 per record
	Prev     *[HashSize]byte   // Hash of the record at Position-1; nil at position 1
	// Signer is nil for a record signed by the owner key, else the raw
	// X25519 identity key of the admin who signed it (XEdDSA).
	Signer *keys.PublicKey
	ID     [IDSize]byte
	Time   int64 // publisher's clock, unix milliseconds; informative only
	Kind   Kind

	Target    *[IDSize]byte   // Edit, Delete, Pin, Unpin
	Text      string          // Post, Edit
	Media     [][]byte        // Post, Edit: encoded Media descriptors, at most MaxMedia
	Admin     *keys.PublicKey // AddAdmin, RemoveAdmin: the admin's identity key
	AdminName string          // AddAdmin: the admin's username, for display
	Title     string          // Profile
	About     string          // Profile
	Avatar    []byte          // Profile: an encoded Media descriptor of an image, optional

	// Stub is set on a record parsed from a stub (ParseStub): the
	// operator took it down, and its content fields are empty; Digest
	// still names them.
	Stub bool
	// Digest is SHA-256(ContentLabel ‖ encoded content fields).
	Digest [HashSize]byte

	// Signed is what the signature covers (without the context): header ‖
	// authority fields ‖ Digest. Signature is the signature; Parse,
	// ParseStub and Sign set both.
	Signed    []byte
	Signature []byte
	// encoded is the whole record on the wire; nil for a stub.
	encoded []byte
}

// Encoded returns the record as it goes on the wire: header ‖ authority
// fields ‖ content fields ‖ signature; for a stub, the stub.
func (r *Record) Encoded() []byte {
	if r.encoded == nil {
		return r.StubEncoded()
	}
	return bytes.Clone(r.encoded)
}

// StubEncoded returns the record's stub: Signed ‖ Signature, everything
// but the content (spec/protocol.md §10.2). A server serves it in place of
// a record the operator took down.
func (r *Record) StubEncoded() []byte {
	return append(append(make([]byte, 0, len(r.Signed)+len(r.Signature)), r.Signed...), r.Signature...)
}

// Hash is SHA-256(HashLabel ‖ stub), the value the next record names as
// prev (spec/protocol.md §10.2). A record and its stub hash alike.
func (r *Record) Hash() [HashSize]byte {
	h := sha256.New()
	h.Write([]byte(HashLabel))
	h.Write(r.Signed)
	h.Write(r.Signature)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// Hash returns the hash of an encoded record (Record.Hash); the zero hash
// if b is no well-formed record.
func Hash(encoded []byte) [HashSize]byte {
	r, err := Parse(encoded)
	if err != nil {
		return [HashSize]byte{}
	}
	return r.Hash()
}

// appendAuthority appends the header and the canonical encoding of the
// authority fields: what the chain's rules depend on. For every kind they
// come before the content fields in field order, so a record's body is
// the authority encoding followed by the content encoding.
func (r *Record) appendAuthority(b []byte) []byte {
	e := wire.Encoder{B: append(b, Version, recordType)}
	e.Bytes(fChannel, r.Channel)
	e.Uint(fPosition, r.Position)
	if r.Prev != nil {
		e.Bytes(fPrev, r.Prev[:])
	}
	if r.Signer != nil {
		e.Bytes(fSigner, r.Signer[:])
	}
	e.Bytes(fID, r.ID[:])
	e.Uint(fTime, uint64(r.Time))
	e.Uint(fKind, uint64(r.Kind))
	if r.Target != nil {
		e.Bytes(fTarget, r.Target[:])
	}
	if r.Kind == KindAddAdmin || r.Kind == KindRemoveAdmin {
		e.Bytes(fAdmin, r.Admin[:])
		if r.Kind == KindAddAdmin {
			e.Bytes(fAdminName, []byte(r.AdminName))
		}
	}
	return e.B
}

// appendContent appends the canonical encoding of the content fields.
func (r *Record) appendContent(b []byte) []byte {
	e := wire.Encoder{B: b}
	switch r.Kind {
	case KindPost, KindEdit:
		e.Bytes(fText, []byte(r.Text))
		for _, m := range r.Media {
			e.Bytes(fMedia, m)
		}
	case KindProfile:
		e.Bytes(fTitle, []byte(r.Title))
		e.Bytes(fAbout, []byte(r.About))
		if r.Avatar != nil {
			e.Bytes(fAvatar, r.Avatar)
		}
	}
	return e.B
}

// contentDigest is SHA-256(ContentLabel ‖ content encoding).
func contentDigest(content []byte) [HashSize]byte {
	h := sha256.New()
	h.Write([]byte(ContentLabel))
	h.Write(content)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// seal sets Digest and Signed from the fields (spec/protocol.md §10.2):
// Signed = header ‖ authority encoding ‖ SHA-256(ContentLabel ‖ content
// encoding). It returns the wire body: header ‖ authority ‖ content.
func (r *Record) seal() []byte {
	auth := r.appendAuthority(nil)
	content := r.appendContent(nil)
	r.Digest = contentDigest(content)
	r.Signed = append(append(make([]byte, 0, len(auth)+HashSize), auth...), r.Digest[:]...)
	return append(auth, content...)
}

// Sign signs r with the channel's owner key (r.Signer must be nil),
// filling in Signed and Signature, and returns the encoded record.
func (r *Record) Sign(owner ed25519.PrivateKey) ([]byte, error) {
	if r.Signer != nil {
		return nil, fmt.Errorf("%w: an owner record names no signer", ErrMalformed)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	body := r.seal()
	r.Signature = ed25519.Sign(owner, signedMessage(r.Signed))
	r.encoded, r.Stub = append(body, r.Signature...), false
	return r.Encoded(), nil
}

// SignAdmin signs r with an admin's identity key (XEdDSA, spec/protocol.md
// §2.3), setting r.Signer to its public key, and returns the encoded record.
// rand supplies the signature's 64 random bytes (crypto/rand when nil).
func (r *Record) SignAdmin(identity keys.PrivateKey, rand io.Reader) ([]byte, error) {
	pub := identity.Public()
	r.Signer = &pub
	if err := r.check(); err != nil {
		return nil, err
	}
	body := r.seal()
	sig, err := identity.Sign(signedMessage(r.Signed), rand)
	if err != nil {
		return nil, err
	}
	r.Signature = sig
	r.encoded, r.Stub = append(body, sig...), false
	return r.Encoded(), nil
}

func signedMessage(body []byte) []byte {
	return append([]byte(SignatureContext), body...)
}

// verifySignature checks the signature against the key the record names:
// the owner key, or the admin identity key in Signer.
func (r *Record) verifySignature(owner ed25519.PublicKey) bool {
	if r.Signer == nil {
		return ed25519.Verify(owner, signedMessage(r.Signed), r.Signature)
	}
	return r.Signer.Verify(signedMessage(r.Signed), r.Signature)
}

// Parse decodes an encoded record without checking its signature or its
// place in the chain (State does that). Only the canonical encoding of
// format version 3 is accepted.
func Parse(b []byte) (*Record, error) {
	if len(b) < 2+ed25519.SignatureSize || b[0] != Version || b[1] != recordType {
		return nil, fmt.Errorf("%w: header or length", ErrMalformed)
	}
	body, sig := b[:len(b)-ed25519.SignatureSize], b[len(b)-ed25519.SignatureSize:]
	d := wire.NewDecoder(body[2:])
	r := &Record{Signature: bytes.Clone(sig)}
	r.decodeAuthority(&d)
	switch r.Kind {
	case KindPost, KindEdit:
		r.Text = string(d.Bytes(fText, 0, MaxText))
		for d.More(fMedia) && len(r.Media) < MaxMedia {
			r.Media = append(r.Media, d.Bytes(fMedia, 1, mediaMaxLen))
		}
	case KindProfile:
		r.Title = string(d.Bytes(fTitle, 1, MaxTitle))
		r.About = string(d.Bytes(fAbout, 0, MaxAbout))
		if a, ok := d.OptBytes(fAvatar, 1, mediaMaxLen); ok {
			r.Avatar = a
		}
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	// The decoding is canonical, so encoding the fields again gives the
	// very bytes: the body is authority ‖ content (see appendAuthority).
	if !bytes.Equal(r.seal(), body) {
		return nil, fmt.Errorf("%w: not canonical", ErrMalformed)
	}
	r.encoded = bytes.Clone(b)
	return r, nil
}

// ParseStub decodes a stub (spec/protocol.md §10.2): header ‖ authority
// fields ‖ content digest ‖ signature, without checking the signature or
// its place in the chain (State.ApplyStub does that). The record it
// returns has Stub set and no content.
func ParseStub(b []byte) (*Record, error) {
	if len(b) < 2+HashSize+ed25519.SignatureSize || b[0] != Version || b[1] != recordType {
		return nil, fmt.Errorf("%w: stub header or length", ErrMalformed)
	}
	signed, sig := b[:len(b)-ed25519.SignatureSize], b[len(b)-ed25519.SignatureSize:]
	auth := signed[:len(signed)-HashSize]
	d := wire.NewDecoder(auth[2:])
	r := &Record{Stub: true, Signed: bytes.Clone(signed), Signature: bytes.Clone(sig)}
	copy(r.Digest[:], signed[len(auth):])
	r.decodeAuthority(&d)
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: stub: %w", ErrMalformed, err)
	}
	if err := r.checkAuthority(); err != nil {
		return nil, err
	}
	if !bytes.Equal(r.appendAuthority(nil), auth) {
		return nil, fmt.Errorf("%w: stub not canonical", ErrMalformed)
	}
	return r, nil
}

// decodeAuthority decodes the authority fields (channel to admin name).
func (r *Record) decodeAuthority(d *wire.Decoder) {
	r.Channel = d.Bytes(fChannel, ed25519.PublicKeySize, ed25519.PublicKeySize)
	r.Position = d.Uint(fPosition, maxPosition)
	if p, ok := d.OptBytes(fPrev, HashSize, HashSize); ok {
		r.Prev = (*[HashSize]byte)(p)
	}
	if s, ok := d.OptBytes(fSigner, keys.PublicKeySize, keys.PublicKeySize); ok {
		r.Signer = (*keys.PublicKey)(s)
	}
	copy(r.ID[:], d.Bytes(fID, IDSize, IDSize))
	r.Time = int64(d.Uint(fTime, 1<<62))
	r.Kind = Kind(d.Uint(fKind, uint64(maxKind)))
	if t, ok := d.OptBytes(fTarget, IDSize, IDSize); ok {
		r.Target = (*[IDSize]byte)(t)
	}
	if r.Kind == KindAddAdmin || r.Kind == KindRemoveAdmin {
		if a := d.Bytes(fAdmin, keys.PublicKeySize, keys.PublicKeySize); len(a) == keys.PublicKeySize {
			r.Admin = (*keys.PublicKey)(a)
		}
		if r.Kind == KindAddAdmin {
			r.AdminName = string(d.Bytes(fAdminName, 1, MaxAdminName))
		}
	}
}

// check enforces which fields each kind has.
func (r *Record) check() error {
	if err := r.checkAuthority(); err != nil {
		return err
	}
	return r.checkContent()
}

// checkAuthority enforces which authority fields each kind has.
func (r *Record) checkAuthority() error {
	if len(r.Channel) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: channel key", ErrMalformed)
	}
	needsTarget := r.Kind == KindEdit || r.Kind == KindDelete || r.Kind == KindPin || r.Kind == KindUnpin
	adminKind := r.Kind == KindAddAdmin || r.Kind == KindRemoveAdmin
	switch {
	case r.Kind == 0 || r.Kind == 6 || r.Kind > maxKind:
		return fmt.Errorf("%w: kind %d", ErrMalformed, r.Kind)
	case r.Position == 0 || r.Position > maxPosition:
		return fmt.Errorf("%w: position", ErrMalformed)
	case (r.Position == 1) != (r.Prev == nil):
		return fmt.Errorf("%w: prev is absent exactly at position 1", ErrMalformed)
	case r.Position == 1 && (r.Kind != KindProfile || r.Signer != nil):
		return fmt.Errorf("%w: position 1 is the owner's profile", ErrMalformed)
	case needsTarget != (r.Target != nil):
		return fmt.Errorf("%w: target", ErrMalformed)
	case adminKind != (r.Admin != nil):
		return fmt.Errorf("%w: admin key", ErrMalformed)
	case r.Kind == KindAddAdmin && (r.AdminName == "" || len(r.AdminName) > MaxAdminName):
		return fmt.Errorf("%w: admin name", ErrMalformed)
	case r.Kind != KindAddAdmin && r.AdminName != "":
		return fmt.Errorf("%w: admin name", ErrMalformed)
	case r.Time < 0:
		return fmt.Errorf("%w: time", ErrMalformed)
	}
	return nil
}

// checkContent enforces which content fields each kind has.
func (r *Record) checkContent() error {
	switch {
	case len(r.Media) > MaxMedia || len(r.Text) > MaxText:
		return fmt.Errorf("%w: too large", ErrMalformed)
	case r.Kind == KindProfile && (r.Title == "" || len(r.Title) > MaxTitle || len(r.About) > MaxAbout):
		return fmt.Errorf("%w: profile", ErrMalformed)
	case r.Avatar != nil && (len(r.Avatar) == 0 || len(r.Avatar) > mediaMaxLen):
		return fmt.Errorf("%w: avatar", ErrMalformed)
	}
	for _, m := range r.Media {
		if len(m) == 0 || len(m) > mediaMaxLen {
			return fmt.Errorf("%w: media descriptor size", ErrMalformed)
		}
		if _, err := ParseMedia(m); err != nil {
			return err
		}
	}
	if r.Avatar != nil {
		if m, err := ParseMedia(r.Avatar); err != nil || !m.IsImage() {
			return fmt.Errorf("%w: avatar", ErrMalformed)
		}
	}
	return nil
}
