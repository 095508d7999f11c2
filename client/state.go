package client

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Buckets of the store. Every value is sealed (vault.go) and, unless said
// otherwise, a JSON record.
const (
	bucketAccount  = "account"  // keySelf → accountRecord
	bucketSigned   = "spk"      // id → signedPreKeyRecord
	bucketKEM      = "kem"      // id → kemPreKeyRecord
	bucketOneTime  = "opk"      // id → the 32-byte private key (raw)
	bucketSession  = "session"  // user/device → sessionRecord
	bucketArchive  = "archive"  // user/device → archiveRecord: receive-only sessions
	bucketContact  = "contact"  // user → contactRecord
	bucketConv     = "conv"     // conversation → convRecord
	bucketMessage  = "msg"      // conversation/timestamp/id → messageRecord
	bucketMsgIndex = "msgid"    // conversation/id → the message's key in bucketMessage (raw)
	bucketSeen     = "seen"     // sender/device/clientID → unix ms (raw), for dedup
	bucketEarly    = "early"    // user/id → earlyReceipt: a receipt that came before its message
	bucketOutbox   = "outbox"   // "m/"time/user/id → outboxRecord; "size" → outboxMeta (retry.go)
	bucketOutboxID = "outboxid" // user/id → the message's key in bucketOutbox (raw)
	bucketFailed   = "failed"   // sender/device/clientID → failedRecord: envelopes that did not decrypt
	bucketPending  = "pending"  // conversation/target/id → pendingAction: an action that came before its message
	bucketExpire   = "expire"   // time/message key → nothing: when a disappearing message goes (actions.go)
	bucketProfile  = "profile"  // user → profileRecord: a profile as last fetched, this account's too (profile.go)
	keySelf        = "self"
)

// accountRecord is this device's account.
type accountRecord struct {
	Server      string `json:"server"`
	Username    string `json:"username"`
	DeviceID    uint32 `json:"device_id"`
	DeviceName  string `json:"device_name"`
	Secret      string `json:"secret"`
	Identity    []byte `json:"identity"` // X25519 private key
	RecoveryKey string `json:"recovery_key,omitempty"`
	Created     int64  `json:"created"`

	NextPreKeyID    uint32 `json:"next_prekey_id"`
	NextKEMID       uint32 `json:"next_kem_id"`
	NextSignedID    uint32 `json:"next_signed_id"`
	SignedPreKeyID  uint32 `json:"signed_prekey_id"`
	LastResortID    uint32 `json:"last_resort_id"`
	SignedRotatedAt int64  `json:"signed_rotated_at"` // unix ms

	// ProfileKey is the account's profile key, the same on every device
	// (spec/client.md §12); nil until a profile is first set. ProfileKeyAt
	// is when it was made (unix ms, the making device's clock): an older
	// key from another device (a resent notice) does not replace it.
	ProfileKey   []byte `json:"profile_key,omitempty"`
	ProfileKeyAt int64  `json:"profile_key_at,omitempty"`
}

type signedPreKeyRecord struct {
	Private   []byte `json:"private"`
	Signature []byte `json:"signature"`
	Created   int64  `json:"created"`
	Replaced  int64  `json:"replaced,omitempty"` // when a newer one took over
}

type kemPreKeyRecord struct {
	Seed       []byte `json:"seed"`
	Signature  []byte `json:"signature"`
	LastResort bool   `json:"last_resort"`
	Created    int64  `json:"created"`
	Replaced   int64  `json:"replaced,omitempty"` // last-resort keys: when a newer one took over
}

// sessionRecord holds the sessions with one device of a peer (Sesame
// §3: one active session and a few inactive ones kept for messages still
// in flight on them).
type sessionRecord struct {
	Active   []byte   `json:"active"`
	Inactive [][]byte `json:"inactive,omitempty"`
}

const maxInactiveSessions = 4

// archiveRecord holds the receive-only sessions with one device of a
// peer (spec/client.md §4.1), newest first.
type archiveRecord struct {
	// Gone: the server said the device no longer exists, so a new
	// session from it (a prekey message still queued) is receive-only too.
	Gone     bool              `json:"gone,omitempty"`
	Sessions []archivedSession `json:"sessions,omitempty"`
}

type archivedSession struct {
	State []byte `json:"state"`
	At    int64  `json:"at"` // when it was archived, unix ms
}

const (
	// maxArchivedSessions bounds the receive-only sessions per peer device.
	maxArchivedSessions = 8
	// archiveKeep is how long an archived session is kept at least; it
	// goes at the first drained queue after that (spec/client.md §4.1).
	archiveKeep = 7 * 24 * time.Hour
)

// contactRecord is what we know of a peer.
type contactRecord struct {
	Identity []byte `json:"identity"` // encoded public identity key
	Verified bool   `json:"verified"`
	// Held is set when a verified contact's identity key changed:
	// nothing is sent to them until the user verifies again.
	Held  bool  `json:"blocked"` // the name predates blocking (§11.7)
	Added int64 `json:"added"`
	// ProfileKey is the peer's profile key, as the peer last sent it
	// over its own sessions (spec/client.md §12), in a content of the
	// peer's time ProfileKeyAt (unix ms): one that is older, such as a
	// resent message, changes it no more.
	ProfileKey   []byte `json:"profile_key,omitempty"`
	ProfileKeyAt int64  `json:"profile_key_at,omitempty"`
}

// convRecord is a conversation's summary.
type convRecord struct {
	Unread int   `json:"unread"`
	Last   int64 `json:"last"` // timestamp of the newest message
	// Timer is the disappearing-message timer in seconds (0 off), set at
	// TimerAt (the sender's clock) by TimerID (spec/client.md §11.5).
	Timer   uint32    `json:"timer,omitempty"`
	TimerAt int64     `json:"timer_at,omitempty"`
	TimerID MessageID `json:"timer_id,omitzero"`
}

// messageRecord is a stored message.
type messageRecord struct {
	ID         MessageID      `json:"id"`
	Conv       ConversationID `json:"peer"` // the conversation (the JSON name predates groups)
	Outgoing   bool           `json:"outgoing"`
	From       string         `json:"from"`
	FromDevice uint32         `json:"from_device"`
	Kind       MessageKind    `json:"kind"`
	Text       string         `json:"text,omitempty"`
	ReplyTo    *MessageID     `json:"reply_to,omitempty"`
	Attachment *filePointer   `json:"attachment,omitempty"` // with its key: sealed like the text
	Timestamp  int64          `json:"timestamp"`
	Status     MessageStatus  `json:"status"`

	// An outgoing group message: the member accounts it went to, and
	// the best receipt from each (spec/client.md §10.4).
	Recipients []string                 `json:"recipients,omitempty"`
	Receipts   map[string]MessageStatus `json:"receipts,omitempty"`
	// Mentions: the members a group message names as @username.
	Mentions   []string `json:"mentions,omitempty"`
	MentionsMe bool     `json:"mentions_me,omitempty"`

	// The conversation features (spec/client.md §11).
	Stored    int64                     `json:"stored,omitempty"`    // when the server stored it, unix ms (0: unknown, or sent here)
	Forwarded bool                      `json:"forwarded,omitempty"` // marked as forwarded by its sender
	EditedAt  int64                     `json:"edited_at,omitempty"` // the sender's clock at the edit now shown
	EditID    *MessageID                `json:"edit_id,omitempty"`   // the edit now shown
	Edits     []editRecord              `json:"edits,omitempty"`     // earlier texts, oldest first
	Reactions map[string]reactionRecord `json:"reactions,omitempty"` // account → its reaction
	Timer     uint32                    `json:"timer,omitempty"`     // disappearing timer, seconds
	ExpireAt  int64                     `json:"expire_at,omitempty"` // unix ms; 0 until its timer starts
}

// editRecord is a text a message had before an edit.
type editRecord struct {
	Text string    `json:"text"`
	At   int64     `json:"at"` // when it was written (the message, or the edit that wrote it)
	ID   MessageID `json:"id"` // the edit that wrote it; the message's own ID for the first text
}

// reactionRecord is one account's reaction to a message; Emoji "" is a
// withdrawn reaction, kept so that an older one cannot come back.
type reactionRecord struct {
	Emoji string    `json:"emoji,omitempty"`
	At    int64     `json:"at"`
	ID    MessageID `json:"id"`
}

func idKey(id uint32) string { return fmt.Sprintf("%010d", id) }

func sessionKey(user string, device uint32) string { return user + "/" + idKey(device) }

func parseSessionKey(k string) (user string, device uint32, err error) {
	user, d, ok := strings.Cut(k, "/")
	if !ok {
		return "", 0, errors.New("client: bad session key")
	}
	n, err := strconv.ParseUint(d, 10, 32)
	return user, uint32(n), err
}

func messageKey(conv ConversationID, ts int64, id MessageID) string {
	return fmt.Sprintf("%s/%016x/%s", conv, uint64(ts), hex.EncodeToString(id[:]))
}

func msgIndexKey(conv ConversationID, id MessageID) string {
	return string(conv) + "/" + hex.EncodeToString(id[:])
}

func seenKey(sender string, device uint32, clientID []byte) string {
	return sender + "/" + idKey(device) + "/" + hex.EncodeToString(clientID)
}
