package store

import (
	"context"
	"errors"
	"time"
)

// ErrHandleTaken is returned by CreateChannel for a handle in use.
var ErrHandleTaken = errors.New("store: channel handle taken")

// ErrStaleHead is returned by AppendChannelRecord for a record whose
// position is not the one after the channel's last stored record.
var ErrStaleHead = errors.New("store: record position is not the channel's next")

// Channel is a public broadcast channel (spec/api.md §11). The server
// keeps its records, signed by the channel's keys (spec/protocol.md §10),
// and a few fields derived from them.
type Channel struct {
	ID         int64
	Handle     string // normalised like a username
	OwnerID    int64  // the account that created it
	GenesisKey []byte // Ed25519, 32 bytes: the channel's permanent ID and owner key
	Title      string
	About      string
	Avatar     []byte // media descriptor, or nil
	Created    time.Time
	// SuspendReason is set while an operator has the channel suspended.
	SuspendReason string
	Followers     int64
}

// Suspended reports whether an operator suspended the channel.
func (c *Channel) Suspended() bool { return c.SuspendReason != "" }

// ChannelRecord is one stored record. Data is the signed record as the
// publisher sent it; the other fields are parsed from it by the server.
type ChannelRecord struct {
	Seq       uint64 // assigned on append: increasing across the server, never reused
	ChannelID int64
	RecordID  [16]byte
	Kind      uint8
	Target    *[16]byte
	Position  uint64 // the record's signed position in the channel's chain
	Hash      []byte // channel.Hash of Data, 32 bytes
	Time      int64  // the publisher's clock, unix ms
	Data      []byte
	Created   time.Time
	Views     int64
	// TakedownReason is set when an operator took the record down, and
	// TakedownNotice is then the operator's signed notice.
	TakedownReason string
	TakedownNotice []byte

	// For a profile record: the channel's new title, about and avatar.
	Title, About string
	Avatar       []byte
}

// RecordQuery selects records of one channel: Seq > After (if not 0) and
// Seq < Before (if not 0), of Kind (if not 0), at most Limit, ascending or
// descending by Seq.
type RecordQuery struct {
	After, Before uint64
	Kind          uint8
	Limit         int
	Desc          bool
}

// Moderation actions (AuditEntry.Action).
const (
	ActionSuspend     = "suspend"
	ActionRestore     = "restore"
	ActionTakedown    = "takedown"
	ActionRestorePost = "restore_post"
)

// AuditEntry is one operator action, kept in an append-only log.
type AuditEntry struct {
	ID        int64
	Time      time.Time
	Admin     string // who acted (an operator name)
	Action    string
	ChannelID int64
	RecordID  *[16]byte // for takedown and restore_post
	Reason    string
	// Notice is the operator's signed takedown notice, stored with the
	// record for a takedown (not kept in the log).
	Notice []byte
}

// Report is a user's report of a channel or one of its records, or of
// an account: exactly one of ChannelID and AccountID is set.
type Report struct {
	ID         int64
	ChannelID  int64
	AccountID  int64     // a reported account
	RecordID   *[16]byte // with ChannelID only
	ReporterID int64
	Category   string
	Note       string
	Created    time.Time

	// Filled by Reports: the usernames of the reported account and of
	// the reporter ("" if the account is gone).
	AccountName, ReporterName string
}

// ChannelStore holds channels, their records, followers, admins, views,
// reports and the moderation audit log.
type ChannelStore interface {
	// CreateChannel creates c with its first record, a signed profile.
	CreateChannel(ctx context.Context, c Channel, profile ChannelRecord) (Channel, ChannelRecord, error)
	ChannelByHandle(ctx context.Context, handle string) (Channel, error)
	ChannelByID(ctx context.Context, id int64) (Channel, error)
	// AppendChannelRecord stores r and applies it: a profile replaces the
	// channel's title, about and avatar. A record ID already stored for
	// the channel is ErrExists and the stored record is returned (a retry
	// is idempotent); otherwise r.Position must be the last stored
	// record's + 1, checked in the same transaction, else ErrStaleHead.
	AppendChannelRecord(ctx context.Context, r ChannelRecord) (ChannelRecord, error)
	ChannelRecords(ctx context.Context, channelID int64, q RecordQuery) ([]ChannelRecord, error)
	ChannelRecordByID(ctx context.Context, channelID int64, recordID [16]byte) (ChannelRecord, error)

	Follow(ctx context.Context, channelID, accountID int64, now time.Time) error
	Unfollow(ctx context.Context, channelID, accountID int64) error
	ChannelFollowers(ctx context.Context, channelID int64) ([]int64, error)
	FollowedChannels(ctx context.Context, accountID int64) ([]Channel, error)
	// SearchChannels finds unsuspended channels whose handle starts with,
	// or whose title contains, query (case-insensitive), by followers.
	SearchChannels(ctx context.Context, query string, limit int) ([]Channel, error)

	SetChannelAdmin(ctx context.Context, channelID, accountID int64, admin bool) error
	IsChannelAdmin(ctx context.Context, channelID, accountID int64) (bool, error)
	// ChannelAdmins lists the admins' usernames, in order.
	ChannelAdmins(ctx context.Context, channelID int64) ([]string, error)

	// AddViews adds one view to each record; unknown IDs are ignored.
	AddViews(ctx context.Context, channelID int64, recordIDs [][16]byte) error

	// Moderate applies a moderation action and appends it to the audit
	// log, in one transaction.
	Moderate(ctx context.Context, a AuditEntry) (AuditEntry, error)
	AuditLog(ctx context.Context, limit int) ([]AuditEntry, error)
	AddReport(ctx context.Context, r Report) (Report, error)
	Reports(ctx context.Context, limit int) ([]Report, error)

	// OperatorKey returns the server's operator key (an Ed25519 seed,
	// spec/protocol.md §10.7), storing fresh as the key if there is none
	// yet: the first call makes it, every later call returns it.
	OperatorKey(ctx context.Context, fresh []byte) ([]byte, error)
}
