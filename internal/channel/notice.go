package channel

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/internal/wire"
)

// Notice is a server operator's signed statement that it took a channel
// record down (spec/protocol.md §10.7). It is signed with the server's
// operator key, not a channel key, so a takedown can never pass for a
// record of the channel, and a server that hides a record under a notice
// has signed its name to it. The record's hash keeps the chain verifiable
// without the record: the next record names it as prev.
type Notice struct {
	Channel  ed25519.PublicKey // the genesis key
	Position uint64
	RecordID [IDSize]byte
	Hash     [HashSize]byte // Hash of the record taken down
	Reason   string
	Time     int64 // the operator's clock, unix ms

	Signed    []byte
	Signature []byte
}

const (
	// NoticeVersion is the notice format's version byte.
	NoticeVersion = 1
	// noticeType is the notice's type byte (spec/protocol.md §7.2).
	noticeType = 7
	// NoticeContext is prepended to what an operator key signs.
	NoticeContext = "Parley_Takedown_Notice_v1"
	// MaxReason bounds a takedown reason (as the operator API does).
	MaxReason = 1024

	nChannel  protowire.Number = 1
	nPosition protowire.Number = 2
	nRecordID protowire.Number = 3
	nHash     protowire.Number = 4
	nReason   protowire.Number = 5
	nTime     protowire.Number = 6
)

func (n *Notice) appendBody(b []byte) []byte {
	e := wire.Encoder{B: append(b, NoticeVersion, noticeType)}
	e.Bytes(nChannel, n.Channel)
	e.Uint(nPosition, n.Position)
	e.Bytes(nRecordID, n.RecordID[:])
	e.Bytes(nHash, n.Hash[:])
	e.Bytes(nReason, []byte(n.Reason))
	e.Uint(nTime, uint64(n.Time))
	return e.B
}

// Sign signs the notice with the operator key and returns it encoded.
func (n *Notice) Sign(operator ed25519.PrivateKey) ([]byte, error) {
	if len(n.Channel) != ed25519.PublicKeySize || n.Position == 0 || n.Position > maxPosition ||
		n.Reason == "" || len(n.Reason) > MaxReason || n.Time < 0 {
		return nil, fmt.Errorf("%w: notice fields", ErrMalformed)
	}
	n.Signed = n.appendBody(nil)
	n.Signature = ed25519.Sign(operator, append([]byte(NoticeContext), n.Signed...))
	return append(bytes.Clone(n.Signed), n.Signature...), nil
}

// ParseNotice decodes a notice without checking its signature.
func ParseNotice(b []byte) (*Notice, error) {
	if len(b) < 2+ed25519.SignatureSize || b[0] != NoticeVersion || b[1] != noticeType {
		return nil, fmt.Errorf("%w: notice header or length", ErrMalformed)
	}
	body, sig := b[:len(b)-ed25519.SignatureSize], b[len(b)-ed25519.SignatureSize:]
	d := wire.NewDecoder(body[2:])
	n := &Notice{Signed: body, Signature: sig}
	n.Channel = d.Bytes(nChannel, ed25519.PublicKeySize, ed25519.PublicKeySize)
	n.Position = d.Uint(nPosition, maxPosition)
	copy(n.RecordID[:], d.Bytes(nRecordID, IDSize, IDSize))
	copy(n.Hash[:], d.Bytes(nHash, HashSize, HashSize))
	n.Reason = string(d.Bytes(nReason, 1, MaxReason))
	n.Time = int64(d.Uint(nTime, 1<<62))
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: notice: %w", ErrMalformed, err)
	}
	if n.Position == 0 {
		return nil, fmt.Errorf("%w: notice position", ErrMalformed)
	}
	return n, nil
}

// VerifyNotice parses a notice and checks that the operator key signed it
// and that it is about the given channel.
func VerifyNotice(operator, genesis ed25519.PublicKey, b []byte) (*Notice, error) {
	n, err := ParseNotice(b)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(n.Channel, genesis) {
		return nil, ErrWrongChannel
	}
	if len(operator) != ed25519.PublicKeySize || !ed25519.Verify(operator, append([]byte(NoticeContext), n.Signed...), n.Signature) {
		return nil, ErrSignature
	}
	return n, nil
}
