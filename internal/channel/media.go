package channel

import (
	"fmt"
	"mime"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/internal/wire"
)

// Media describes one image or video of a post (a Record's Media entry,
// and a profile's avatar): the blob that holds it, named by its SHA-256,
// and what a reader needs to show it before fetching it (spec/protocol.md
// §10.3). Being inside the signed record, a follower can check the bytes
// it downloads against SHA256.
type Media struct {
	SHA256      [32]byte
	Size        int64
	ContentType string // e.g. image/jpeg, video/mp4
	Width       uint32 // pixels, 0 if unknown
	Height      uint32
	DurationMS  uint32    // videos
	Poster      *[32]byte // videos: the SHA-256 of a still image blob
}

const (
	mSHA256      protowire.Number = 1
	mSize        protowire.Number = 2
	mContentType protowire.Number = 3
	mWidth       protowire.Number = 4
	mHeight      protowire.Number = 5
	mDuration    protowire.Number = 6
	mPoster      protowire.Number = 7

	maxContentType = 128
	// MaxMediaSize is the largest blob a descriptor may name (the
	// server's upload limit may be lower).
	MaxMediaSize = 1 << 40
)

// Marshal encodes m canonically (all fields but Poster always written).
func (m *Media) Marshal() []byte {
	var e wire.Encoder
	e.Bytes(mSHA256, m.SHA256[:])
	e.Uint(mSize, uint64(m.Size))
	e.Bytes(mContentType, []byte(m.ContentType))
	e.Uint(mWidth, uint64(m.Width))
	e.Uint(mHeight, uint64(m.Height))
	e.Uint(mDuration, uint64(m.DurationMS))
	if m.Poster != nil {
		e.Bytes(mPoster, m.Poster[:])
	}
	return e.B
}

// ParseMedia decodes a media descriptor.
func ParseMedia(b []byte) (*Media, error) {
	d := wire.NewDecoder(b)
	m := &Media{}
	copy(m.SHA256[:], d.Bytes(mSHA256, 32, 32))
	m.Size = int64(d.Uint(mSize, MaxMediaSize))
	m.ContentType = string(d.Bytes(mContentType, 1, maxContentType))
	m.Width = uint32(d.Uint(mWidth, 1<<32-1))
	m.Height = uint32(d.Uint(mHeight, 1<<32-1))
	m.DurationMS = uint32(d.Uint(mDuration, 1<<32-1))
	if p, ok := d.OptBytes(mPoster, 32, 32); ok {
		m.Poster = new([32]byte)
		copy(m.Poster[:], p)
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: media: %w", ErrMalformed, err)
	}
	if mt, _, err := mime.ParseMediaType(m.ContentType); err != nil || mt != m.ContentType {
		return nil, fmt.Errorf("%w: media content type", ErrMalformed)
	}
	return m, nil
}

// IsVideo and IsImage classify the media by its content type.
func (m *Media) IsVideo() bool { return len(m.ContentType) > 6 && m.ContentType[:6] == "video/" }

// IsImage reports an image.
func (m *Media) IsImage() bool { return len(m.ContentType) > 6 && m.ContentType[:6] == "image/" }
