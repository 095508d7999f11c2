// Package channel signs and verifies the records of a public channel
// (spec/protocol.md §10): posts, edits, deletions, pins, profile changes
// and key handovers. Every record is signed with the channel's Ed25519 key
// of its epoch, and a follower checks each one against the chain of keys
// that starts at the channel's genesis key, which it pinned when it first
// followed. So a server that alters, forges or misattributes a record is
// caught; a server can still withhold records, or serve them late.
//
// The package does no I/O and builds for js/wasm.
package channel

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/internal/wire"
)

// Kind is what a record does.
type Kind uint8

// Record kinds (spec/protocol.md §10.2).
const (
	KindPost     Kind = 1 // a new post: text and media
	KindEdit     Kind = 2 // replaces Target's text and media; the old version stays visible
	KindDelete   Kind = 3 // removes Target
	KindPin      Kind = 4 // pins Target
	KindUnpin    Kind = 5 // unpins Target
	KindHandover Kind = 6 // from the next record on, NewKey signs (epoch+1)
	KindProfile  Kind = 7 // sets the title, description and avatar
	maxKind           = KindProfile
)

const (
	// Version is the record format's version byte.
	Version = 1
	// recordType is the record's type byte (spec/protocol.md §7.2).
	recordType = 6
	// SignatureContext is prepended to what the signature covers, so a
	// channel key's signature can never be mistaken for another protocol's.
	SignatureContext = "Parley_Channel_Record_v1"

	IDSize      = 16
	MaxText     = 64 << 10
	MaxMedia    = 10
	MaxTitle    = 128
	MaxAbout    = 1024
	mediaMaxLen = 1024

	fChannel  protowire.Number = 1
	fEpoch    protowire.Number = 2
	fID       protowire.Number = 3
	fTime     protowire.Number = 4
	fKind     protowire.Number = 5
	fTarget   protowire.Number = 6
	fText     protowire.Number = 7
	fMedia    protowire.Number = 8
	fNewKey   protowire.Number = 9
	fTitle    protowire.Number = 10
	fAbout    protowire.Number = 11
	fAvatar   protowire.Number = 12
	maxFields                  = fAvatar
)

// Errors.
var (
	ErrMalformed = errors.New("channel: malformed record")
	// ErrSignature means a record is not signed by its channel's key of
	// its epoch: it was forged or altered.
	ErrSignature = errors.New("channel: bad signature")
	// ErrWrongChannel means a record names another channel.
	ErrWrongChannel = errors.New("channel: record of another channel")
	// ErrEpoch means a record is signed with a key the chain does not
	// have yet, or with a retired key after its retirement.
	ErrEpoch = errors.New("channel: record signed with a key not valid for it")
)

// Record is one signed channel record.
type Record struct {
	Channel ed25519.PublicKey // the genesis key: the channel's permanent ID
	Epoch   uint32            // which key signed it: 0 is the genesis key
	ID      [IDSize]byte
	Time    int64 // publisher's clock, unix milliseconds
	Kind    Kind

	Target *[IDSize]byte // Edit, Delete, Pin, Unpin
	Text   string        // Post, Edit
	Media  [][]byte      // Post, Edit: encoded Media descriptors, at most MaxMedia
	NewKey ed25519.PublicKey
	Title  string // Profile
	About  string // Profile
	Avatar []byte // Profile: an encoded Media descriptor of an image, optional

	// Signed is what the signature covers (without the context), and
	// Signature the signature; Parse and Sign set both.
	Signed    []byte
	Signature []byte
}

// appendBody appends the header and the canonical protobuf body.
func (r *Record) appendBody(b []byte) []byte {
	e := wire.Encoder{B: append(b, Version, recordType)}
	e.Bytes(fChannel, r.Channel)
	e.Uint(fEpoch, uint64(r.Epoch))
	e.Bytes(fID, r.ID[:])
	e.Uint(fTime, uint64(r.Time))
	e.Uint(fKind, uint64(r.Kind))
	if r.Target != nil {
		e.Bytes(fTarget, r.Target[:])
	}
	switch r.Kind {
	case KindPost, KindEdit:
		e.Bytes(fText, []byte(r.Text))
		for _, m := range r.Media {
			e.Bytes(fMedia, m)
		}
	case KindHandover:
		e.Bytes(fNewKey, r.NewKey)
	case KindProfile:
		e.Bytes(fTitle, []byte(r.Title))
		e.Bytes(fAbout, []byte(r.About))
		if r.Avatar != nil {
			e.Bytes(fAvatar, r.Avatar)
		}
	}
	return e.B
}

// Sign fills in Signed and Signature with key, which must be the channel's
// key of r.Epoch, and returns the encoded record.
func (r *Record) Sign(key ed25519.PrivateKey) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	r.Signed = r.appendBody(nil)
	r.Signature = ed25519.Sign(key, signedMessage(r.Signed))
	return append(append([]byte{}, r.Signed...), r.Signature...), nil
}

func signedMessage(body []byte) []byte {
	return append([]byte(SignatureContext), body...)
}

// Parse decodes an encoded record without checking its signature (Chain
// does that). Only the canonical encoding is accepted.
func Parse(b []byte) (*Record, error) {
	if len(b) < 2+ed25519.SignatureSize || b[0] != Version || b[1] != recordType {
		return nil, fmt.Errorf("%w: header or length", ErrMalformed)
	}
	body, sig := b[:len(b)-ed25519.SignatureSize], b[len(b)-ed25519.SignatureSize:]
	d := wire.NewDecoder(body[2:])
	r := &Record{Signed: body, Signature: sig}
	r.Channel = d.Bytes(fChannel, ed25519.PublicKeySize, ed25519.PublicKeySize)
	r.Epoch = uint32(d.Uint(fEpoch, 1<<32-1))
	copy(r.ID[:], d.Bytes(fID, IDSize, IDSize))
	r.Time = int64(d.Uint(fTime, 1<<62))
	r.Kind = Kind(d.Uint(fKind, uint64(maxKind)))
	if t, ok := d.OptBytes(fTarget, IDSize, IDSize); ok {
		r.Target = new([IDSize]byte)
		copy(r.Target[:], t)
	}
	switch r.Kind {
	case KindPost, KindEdit:
		r.Text = string(d.Bytes(fText, 0, MaxText))
		for d.More(fMedia) && len(r.Media) < MaxMedia {
			r.Media = append(r.Media, d.Bytes(fMedia, 1, mediaMaxLen))
		}
	case KindHandover:
		r.NewKey = d.Bytes(fNewKey, ed25519.PublicKeySize, ed25519.PublicKeySize)
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
	return r, nil
}

// check enforces which fields each kind has.
func (r *Record) check() error {
	if len(r.Channel) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: channel key", ErrMalformed)
	}
	needsTarget := r.Kind == KindEdit || r.Kind == KindDelete || r.Kind == KindPin || r.Kind == KindUnpin
	switch {
	case r.Kind == 0 || r.Kind > maxKind:
		return fmt.Errorf("%w: kind %d", ErrMalformed, r.Kind)
	case needsTarget != (r.Target != nil):
		return fmt.Errorf("%w: target", ErrMalformed)
	case len(r.Media) > MaxMedia || len(r.Text) > MaxText:
		return fmt.Errorf("%w: too large", ErrMalformed)
	case r.Kind == KindHandover && len(r.NewKey) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: new key", ErrMalformed)
	case r.Kind == KindProfile && (r.Title == "" || len(r.Title) > MaxTitle || len(r.About) > MaxAbout):
		return fmt.Errorf("%w: profile", ErrMalformed)
	case r.Time < 0:
		return fmt.Errorf("%w: time", ErrMalformed)
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
