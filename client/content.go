package client

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/attachment"
	"github.com/parley-chat/parley/internal/group"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
)

// Content is the plaintext inside every end-to-end encrypted envelope
// (spec/client.md §2). It uses the canonical encoding of protocol §7.1
// with a leading content version, and is padded before encryption
// (padContent). The server never sees it.
type content struct {
	Kind      contentKind
	ID        MessageID // the message's ID; equal to the send's client_id
	Timestamp int64     // sender's clock, unix milliseconds

	Text    string     // kindText, kindSyncSent
	ReplyTo *MessageID // kindText, kindSyncSent: the message answered

	Receipt    ReceiptType // kindReceipt
	ReceiptIDs []MessageID // kindReceipt: 1 … maxReceiptIDs

	Typing bool // kindTyping: started (true) or stopped

	Destination string // kindSyncSent: the conversation's peer

	Attachment *filePointer // kindText, kindSyncSent: a file (spec/client.md §8)

	// kindSyncVerified: Destination's identity key, as the sending device
	// pinned it, and whether it is now verified (spec/client.md §6.1).
	VerifiedKey []byte
	Verified    bool

	Failed *decryptionError // kindDecryptionError (spec/client.md §6.3)

	// Group: the group the content belongs to (spec/client.md §10). For
	// kindText, kindReceipt, kindTyping it is optional (absent: the 1:1
	// chat); kindSyncSent and kindSyncRead name it instead of
	// Destination; the group kinds require it.
	Group *GroupID

	GroupRecords [][]byte // kindGroupRecords: signed group records, oldest first
	Distribution []byte   // kindSenderKey: a sender-key distribution (spec/protocol.md §7.7)
	JoinProof    []byte   // kindJoinRequest: the proof of the invite link (spec/protocol.md §11)
	// GroupSeq numbers the sending device's stored messages in Group
	// (kindText), 1, 2, 3, …, so that a member sees a gap the server made
	// (spec/client.md §10.4). Typing, which the server does not store,
	// carries none.
	GroupSeq uint64

	// The conversation features (spec/client.md §11). Target names the
	// message an edit (Text is its new text), a delete or a reaction
	// acts on, in the same conversation.
	Target    *MessageID
	Emoji     string // kindReaction: the reaction, or "" with Remove
	Remove    bool   // kindReaction: the sender's reaction is withdrawn; kindSyncBlock: unblocked; kindSyncRequest: deleted
	ForMe     bool   // kindDelete: delete on this account's devices only
	Timer     uint32 // kindTimer: the chat's new timer; kindText, kindSyncSent: the timer of this message (seconds, 0 off)
	Forwarded bool   // kindText, kindSyncSent: forwarded from another chat

	// ProfileKey is the sender's profile key (spec/client.md §12):
	// optional on kindText, required on kindProfileKey.
	ProfileKey []byte

	// stored is when the server stored the envelope that carried this
	// content, unix ms (0 if unknown); not on the wire.
	stored int64
}

// decryptionError names an envelope its recipient could not decrypt: a
// request to the device that sent it to send it again.
type decryptionError struct {
	ID     MessageID // the envelope's client_id
	Device uint32    // the device that sent it
	Time   int64     // when the server stored it, unix ms (0 if unknown)
}

// filePointer is what a recipient needs to fetch and decrypt an
// attachment (spec/client.md §8). It is a secret: the key opens the file.
// It is also how a message record keeps it, sealed.
type filePointer struct {
	Blob        []byte `json:"blob"` // SHA-256 of the ciphertext, the blob's name
	Key         []byte `json:"key"`  // attachment.KeySize bytes
	Size        int64  `json:"size"` // of the plaintext
	Name        string `json:"name"`
	ContentType string `json:"type"`
}

type contentKind uint8

// Content kinds. Numbers 6–15 are for the conversation features of
// spec/client.md §11 (edits, deletes, reactions, timers, profiles); those
// not defined yet are reserved.
const (
	kindText     contentKind = 1 // a message from the sender
	kindReceipt  contentKind = 2 // delivery or read receipts
	kindTyping   contentKind = 3 // typing started or stopped (ephemeral)
	kindSyncSent contentKind = 4 // to one's own devices: "I sent this to Destination"
	kindReset    contentKind = 5 // an empty message that starts a fresh session
	// 6 edit, 7 delete for everyone, 8 reaction, 9 disappearing timer
	// (spec/client.md §11); 10 profile key (§12); 11 block sync, 12
	// message-request sync (§11); 13–15 reserved.
	kindProfileKey contentKind = 10 // "my profile changed; here is its key": fetch it again
	// 16 was kindChannelKey, a channel key for an admin; not reused.
	kindSyncRead contentKind = 17 // to one's own devices: "I read these messages from Destination"
	// to one's own devices: "I verified (or unverified) Destination's key VerifiedKey"
	kindSyncVerified    contentKind = 18
	kindDecryptionError contentKind = 19 // "I could not decrypt your envelope Failed.ID": please resend it
	kindGroupRecords    contentKind = 20 // signed state changes of Group (spec/client.md §10.2)
	kindSenderKey       contentKind = 21 // the sender's sender-key chain for Group (§10.3)
	kindJoinRequest     contentKind = 22 // "let me join Group": to its admins, with a link proof (§10.5)

	kindEdit     contentKind = 6 // "Target now reads Text"
	kindDelete   contentKind = 7 // "Target is deleted for everyone" (or, ForMe, on my devices)
	kindReaction contentKind = 8 // "my reaction to Target is Emoji"
	kindTimer    contentKind = 9 // "the chat's disappearing timer is now Timer"
	// to one's own devices: "I blocked Destination" (Remove: unblocked)
	kindSyncBlock contentKind = 11
	// to one's own devices: "I accepted the request of Destination or
	// Group" (Remove: deleted it)
	kindSyncRequest contentKind = 12
)

// action reports whether k acts on the conversation or a message in it
// (spec/client.md §11): the kinds sent like a message, to the peer and to
// this account's other devices, which name the peer as Destination.
func (k contentKind) action() bool {
	return k == kindEdit || k == kindDelete || k == kindReaction || k == kindTimer
}

// groupKind reports whether k may carry a group; groupOnly, whether it must.
func (k contentKind) groupKind() bool {
	switch k {
	case kindText, kindSyncSent, kindReceipt, kindSyncRead, kindTyping, kindGroupRecords, kindSenderKey, kindJoinRequest,
		kindEdit, kindDelete, kindReaction, kindTimer, kindSyncRequest:
		return true
	}
	return false
}

func (k contentKind) groupOnly() bool {
	return k == kindGroupRecords || k == kindSenderKey || k == kindJoinRequest
}

// ReceiptType says what a receipt acknowledges.
type ReceiptType uint8

// Receipt types.
const (
	ReceiptDelivered ReceiptType = 1
	ReceiptRead      ReceiptType = 2
)

const (
	contentVersion = 1
	maxText        = 64 << 10
	maxReceiptIDs  = 500
	paddingBlock   = 160 // Signal pads message bodies to multiples of 160 bytes

	cVersion     protowire.Number = 1
	cKind        protowire.Number = 2
	cID          protowire.Number = 3
	cTimestamp   protowire.Number = 4
	cText        protowire.Number = 5
	cReplyTo     protowire.Number = 6
	cReceipt     protowire.Number = 7
	cReceiptID   protowire.Number = 8
	cTyping      protowire.Number = 9
	cDestination protowire.Number = 10
	// 11–18: the conversation features (spec/client.md §11); 16 is
	// reserved, 17 is a profile key (§12), 19–20 are reserved.
	cTarget     protowire.Number = 11 // edit, delete, reaction: the message acted on
	cEmoji      protowire.Number = 12 // reaction
	cRemove     protowire.Number = 13 // reaction withdrawn: 1
	cTimer      protowire.Number = 14 // timer; text: the message's own timer
	cForwarded  protowire.Number = 15 // text: 1
	cProfileKey protowire.Number = 17 // text (optional), profile key (required): the sender's profile key
	cForMe      protowire.Number = 18 // delete on the sender's devices only: 1
	cAttachBlob protowire.Number = 21 // the attachment: all five fields or none
	cAttachKey  protowire.Number = 22
	cAttachSize protowire.Number = 23
	cAttachName protowire.Number = 24
	cAttachType protowire.Number = 25

	// Fields 26-29 carried the channel-key grant of kind 16, which
	// admins no longer need (they sign with their identity keys,
	// spec/protocol.md §10.1); they are not reused.

	cVerifiedKey   protowire.Number = 30 // kindSyncVerified: the contact's encoded identity key
	cVerifiedState protowire.Number = 31 // kindSyncVerified: 1 verified, 0 not

	// 32 is free.
	cFailedID     protowire.Number = 33 // kindDecryptionError: the failed envelope's client_id
	cFailedDevice protowire.Number = 34 // the device that sent it
	cFailedTime   protowire.Number = 35 // when the server stored it

	cGroup        protowire.Number = 36 // the group (32 bytes)
	cGroupRecord  protowire.Number = 37 // kindGroupRecords: one signed record, repeated
	cDistribution protowire.Number = 38 // kindSenderKey
	cJoinProof    protowire.Number = 39 // kindJoinRequest
	cGroupSeq     protowire.Number = 40 // kindText in a group: the sending device's message number
	maxRecordsPer                  = 64 // group records in one content
	maxGroupRec                    = group.MaxRecord

	maxAttachName = 255 // bytes, for the name and the content type
)

var errContent = errors.New("client: malformed message content")

func (c *content) marshal() []byte {
	var e wire.Encoder
	e.Uint(cVersion, contentVersion)
	e.Uint(cKind, uint64(c.Kind))
	e.Bytes(cID, c.ID[:])
	e.Uint(cTimestamp, uint64(c.Timestamp))
	switch c.Kind {
	case kindText, kindSyncSent:
		e.Bytes(cText, []byte(c.Text))
		if c.ReplyTo != nil {
			e.Bytes(cReplyTo, c.ReplyTo[:])
		}
	case kindReceipt, kindSyncRead:
		if c.Kind == kindReceipt {
			e.Uint(cReceipt, uint64(c.Receipt))
		}
		for _, id := range c.ReceiptIDs {
			e.Bytes(cReceiptID, id[:])
		}
	case kindTyping:
		var v uint64
		if c.Typing {
			v = 1
		}
		e.Uint(cTyping, v)
	case kindEdit:
		e.Bytes(cText, []byte(c.Text))
	}
	if c.Kind == kindSyncVerified || c.Kind == kindSyncBlock ||
		(c.Kind == kindSyncSent || c.Kind == kindSyncRead || c.Kind == kindSyncRequest) && c.Group == nil ||
		c.Kind.action() && c.Group == nil && c.Destination != "" {
		e.Bytes(cDestination, []byte(c.Destination))
	}
	c.marshalAction(&e)
	if c.ProfileKey != nil && (c.Kind == kindText || c.Kind == kindProfileKey) {
		e.Bytes(cProfileKey, c.ProfileKey)
	}
	if c.Kind == kindSyncVerified {
		e.Bytes(cVerifiedKey, c.VerifiedKey)
		var v uint64
		if c.Verified {
			v = 1
		}
		e.Uint(cVerifiedState, v)
	}
	if f := c.Failed; f != nil && c.Kind == kindDecryptionError {
		e.Bytes(cFailedID, f.ID[:])
		e.Uint(cFailedDevice, uint64(f.Device))
		e.Uint(cFailedTime, uint64(f.Time))
	}
	if a := c.Attachment; a != nil && (c.Kind == kindText || c.Kind == kindSyncSent) {
		e.Bytes(cAttachBlob, a.Blob)
		e.Bytes(cAttachKey, a.Key)
		e.Uint(cAttachSize, uint64(a.Size))
		e.Bytes(cAttachName, []byte(a.Name))
		e.Bytes(cAttachType, []byte(a.ContentType))
	}
	if c.Kind.groupKind() && c.Group != nil {
		e.Bytes(cGroup, c.Group[:])
	}
	switch c.Kind {
	case kindGroupRecords:
		for _, r := range c.GroupRecords {
			e.Bytes(cGroupRecord, r)
		}
	case kindSenderKey:
		e.Bytes(cDistribution, c.Distribution)
		e.Uint(cGroupSeq, c.GroupSeq)
	case kindJoinRequest:
		e.Bytes(cJoinProof, c.JoinProof)
	case kindText, kindEdit, kindDelete, kindReaction, kindTimer:
		if c.Group != nil {
			e.Uint(cGroupSeq, c.GroupSeq)
		}
	}
	return e.B
}

func parseContent(b []byte) (*content, error) {
	d := wire.NewDecoder(b)
	if v := d.Uint(cVersion, 255); d.Err() == nil && v != contentVersion {
		return nil, fmt.Errorf("%w: content version %d", errContent, v)
	}
	c := &content{Kind: contentKind(d.Uint(cKind, 255))}
	copy(c.ID[:], d.Bytes(cID, len(c.ID), len(c.ID)))
	c.Timestamp = int64(d.Uint(cTimestamp, 1<<62))
	switch c.Kind {
	case kindText, kindSyncSent:
		c.Text = string(d.Bytes(cText, 0, maxText))
		if r, ok := d.OptBytes(cReplyTo, len(MessageID{}), len(MessageID{})); ok {
			var id MessageID
			copy(id[:], r)
			c.ReplyTo = &id
		}
	case kindReceipt:
		c.Receipt = ReceiptType(d.Uint(cReceipt, uint64(ReceiptRead)))
		if c.Receipt == 0 {
			return nil, fmt.Errorf("%w: receipt type 0", errContent)
		}
		if c.ReceiptIDs = parseIDs(&d); len(c.ReceiptIDs) == 0 {
			return nil, fmt.Errorf("%w: receipt without IDs", errContent)
		}
	case kindSyncRead:
		if c.ReceiptIDs = parseIDs(&d); len(c.ReceiptIDs) == 0 {
			return nil, fmt.Errorf("%w: read sync without IDs", errContent)
		}
	case kindTyping:
		c.Typing = d.Uint(cTyping, 1) == 1
	case kindEdit:
		c.Text = string(d.Bytes(cText, 0, maxText))
	case kindDelete, kindReaction, kindTimer: // fields follow
	case kindReset, kindSyncVerified, kindGroupRecords, kindSenderKey, kindJoinRequest, kindProfileKey: // fields follow
	case kindSyncBlock, kindSyncRequest: // fields follow
	case kindDecryptionError:
		f := &decryptionError{}
		copy(f.ID[:], d.Bytes(cFailedID, len(f.ID), len(f.ID)))
		f.Device = uint32(d.Uint(cFailedDevice, 1<<32-1))
		f.Time = int64(d.Uint(cFailedTime, 1<<62))
		if d.Err() == nil && f.Device == 0 {
			return nil, fmt.Errorf("%w: decryption error names device 0", errContent)
		}
		c.Failed = f
	default:
		return nil, fmt.Errorf("%w: unknown kind %d", errContent, c.Kind)
	}
	if c.Kind == kindSyncVerified || c.Kind == kindSyncSent || c.Kind == kindSyncRead || c.Kind.action() ||
		c.Kind == kindSyncBlock || c.Kind == kindSyncRequest {
		// Required, except that a sync of a group names the group instead
		// (checked with the group below); an action names it only when
		// it goes to the sender's own devices.
		raw, ok := d.OptBytes(cDestination, 1, api.MaxUsername)
		required := c.Kind == kindSyncVerified || c.Kind == kindSyncBlock
		if !ok && required {
			raw = d.Bytes(cDestination, 1, api.MaxUsername)
		}
		if ok || required {
			dest, err := api.NormalizeUsername(string(raw))
			if d.Err() == nil && (err != nil || dest != string(raw)) { // senders write it normalised: one encoding
				return nil, fmt.Errorf("%w: destination", errContent)
			}
			c.Destination = dest
		}
	}
	if err := c.parseAction(&d); err != nil {
		return nil, err
	}
	switch c.Kind {
	case kindText:
		if k, ok := d.OptBytes(cProfileKey, profileKeySize, profileKeySize); ok {
			c.ProfileKey = bytes.Clone(k)
		}
	case kindProfileKey:
		c.ProfileKey = bytes.Clone(d.Bytes(cProfileKey, profileKeySize, profileKeySize))
	}
	if c.Kind == kindSyncVerified {
		c.VerifiedKey = bytes.Clone(d.Bytes(cVerifiedKey, keys.EncodedPublicKeySize, keys.EncodedPublicKeySize))
		c.Verified = d.Uint(cVerifiedState, 1) == 1
		if _, err := keys.DecodePublicKey(c.VerifiedKey); d.Err() == nil && err != nil {
			return nil, fmt.Errorf("%w: verified identity key", errContent)
		}
	}
	if c.Kind == kindText || c.Kind == kindSyncSent {
		if blob, ok := d.OptBytes(cAttachBlob, sha256.Size, sha256.Size); ok {
			a := &filePointer{Blob: bytes.Clone(blob)}
			a.Key = bytes.Clone(d.Bytes(cAttachKey, attachment.KeySize, attachment.KeySize))
			a.Size = int64(d.Uint(cAttachSize, attachment.MaxSize))
			a.Name = string(d.Bytes(cAttachName, 1, maxAttachName))
			a.ContentType = string(d.Bytes(cAttachType, 1, maxAttachName))
			if d.Err() == nil && (!utf8.ValidString(a.Name) || !utf8.ValidString(a.ContentType)) {
				return nil, fmt.Errorf("%w: attachment name or type is not UTF-8", errContent)
			}
			c.Attachment = a
		}
	}
	if c.Kind.groupKind() {
		if g, ok := d.OptBytes(cGroup, len(GroupID{}), len(GroupID{})); ok {
			if c.Destination != "" {
				return nil, fmt.Errorf("%w: a sync names both a peer and a group", errContent)
			}
			c.Group = new(GroupID)
			copy(c.Group[:], g)
		} else if d.Err() == nil && (c.Kind.groupOnly() || (c.Kind == kindSyncSent || c.Kind == kindSyncRead || c.Kind == kindSyncRequest) && c.Destination == "" ||
			c.Kind == kindDelete && c.ForMe && c.Destination == "") {
			return nil, fmt.Errorf("%w: kind %d without a group", errContent, c.Kind)
		}
	}
	switch c.Kind {
	case kindGroupRecords:
		for d.More(cGroupRecord) && len(c.GroupRecords) < maxRecordsPer {
			c.GroupRecords = append(c.GroupRecords, bytes.Clone(d.Bytes(cGroupRecord, 1, maxGroupRec)))
		}
		if d.Err() == nil && len(c.GroupRecords) == 0 {
			return nil, fmt.Errorf("%w: group records without a record", errContent)
		}
	case kindSenderKey:
		c.Distribution = bytes.Clone(d.Bytes(cDistribution, 1, 1024))
		c.GroupSeq = d.Uint(cGroupSeq, 1<<62)
	case kindJoinRequest:
		c.JoinProof = bytes.Clone(d.Bytes(cJoinProof, 1, 1024))
	case kindText, kindEdit, kindDelete, kindReaction, kindTimer:
		if c.Group != nil {
			c.GroupSeq = d.Uint(cGroupSeq, 1<<62)
		}
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", errContent, err)
	}
	return c, nil
}

// parseIDs reads the repeated message IDs of a receipt or a read sync,
// at most maxReceiptIDs (more fail the decoder's Finish).
func parseIDs(d *wire.Decoder) []MessageID {
	var ids []MessageID
	for d.More(cReceiptID) && len(ids) < maxReceiptIDs {
		var id MessageID
		copy(id[:], d.Bytes(cReceiptID, len(id), len(id)))
		ids = append(ids, id)
	}
	return ids
}

// padContent appends 0x80 and zeros up to a multiple of paddingBlock, so
// that ciphertext sizes reveal only the length class of a message.
func padContent(b []byte) []byte {
	n := (len(b)/paddingBlock + 1) * paddingBlock
	out := make([]byte, n)
	copy(out, b)
	out[len(b)] = 0x80
	return out
}

func unpadContent(b []byte) ([]byte, error) {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case 0:
			continue
		case 0x80:
			return b[:i], nil
		}
		break
	}
	return nil, fmt.Errorf("%w: bad padding", errContent)
}

// setConversation files c under conv: a group's ID, or for the sync kinds
// the peer as Destination.
func (c *content) setConversation(conv ConversationID) {
	if id, ok := conv.Group(); ok {
		c.Group = &id
		c.Destination = ""
		return
	}
	if c.Kind == kindSyncSent || c.Kind == kindSyncRead || c.Kind == kindSyncRequest {
		c.Destination = conv.Peer()
	}
}

// conversation is where a content from sender belongs: its group, the
// peer a sync names, or the 1:1 chat with sender.
func (c *content) conversation(sender string) ConversationID {
	switch {
	case c.Group != nil:
		return GroupConversation(*c.Group)
	case c.Kind == kindSyncSent || c.Kind == kindSyncRead || c.Kind == kindSyncRequest:
		return Direct(c.Destination)
	case c.Kind.action() && c.Destination != "":
		return Direct(c.Destination) // from another of this account's devices (apply checks)
	}
	return Direct(sender)
}
