package api

// Channel limits (spec/api.md §11).
const (
	// MaxChannelRecord bounds one signed channel record.
	MaxChannelRecord = 128 << 10
	// MaxChannelPage bounds the records of one history page.
	MaxChannelPage = 100
)

// CreateChannelRequest is the body of POST /v1/channels: the handle and
// the channel's first record, a profile signed by its genesis key
// (spec/protocol.md §10), which names the key.
type CreateChannelRequest struct {
	Handle  string `json:"handle"`
	Profile []byte `json:"profile"`
}

// ChannelInfo describes a channel. HeadPosition and HeadHash are the
// position and hash of its last record (spec/protocol.md §10.4): a
// publisher's next record names HeadPosition+1 and HeadHash. OperatorKey
// is the server's operator key, which signs takedown notices.
type ChannelInfo struct {
	Handle       string `json:"handle"`
	GenesisKey   []byte `json:"genesis_key"`
	HeadPosition uint64 `json:"head_position"`
	HeadHash     []byte `json:"head_hash,omitempty"`
	OperatorKey  []byte `json:"operator_key,omitempty"`
	Title        string `json:"title"`
	About        string `json:"about"`
	Avatar       []byte `json:"avatar,omitempty"`
	Followers    int64  `json:"followers"`
	Created      int64  `json:"created"` // unix ms
	LastSeq      uint64 `json:"last_seq"`
}

// ChannelList answers GET /v1/channels?q= and GET /v1/following.
type ChannelList struct {
	Channels []ChannelInfo `json:"channels"`
}

// ChannelRecord is one stored record in a history page. A record an
// operator took down has no Data, a TakenDown reason, the operator's
// signed Notice, which names the record's position, ID and hash, and the
// record's Stub (everything but its content, signature included), so the
// chain and who may sign stay verifiable (spec/protocol.md §10.7).
type ChannelRecord struct {
	Seq       uint64 `json:"seq"`
	Data      []byte `json:"data,omitempty"`
	Views     int64  `json:"views"`
	TakenDown string `json:"taken_down,omitempty"`
	Notice    []byte `json:"notice,omitempty"`
	Stub      []byte `json:"stub,omitempty"`
}

// ServerInfo answers GET /v1/server: the server's public operator key
// (Ed25519), which signs takedown notices, and how many accounts besides
// the sender's own one send to many may name (spec/api.md §6.6).
type ServerInfo struct {
	OperatorKey     []byte `json:"operator_key"`
	MaxGroupMembers int    `json:"max_group_members"`
}

// ChannelRecords answers GET /v1/channels/{handle}/records. Next is the
// cursor for the following page (the after= or before= to pass), 0 when
// there is none.
type ChannelRecords struct {
	Records []ChannelRecord `json:"records"`
	Next    uint64          `json:"next"`
}

// PostResult answers POST /v1/channels/{handle}/records.
type PostResult struct {
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// ViewsRequest is the body of POST /v1/channels/{handle}/views.
type ViewsRequest struct {
	IDs [][]byte `json:"ids"` // record IDs, 16 bytes each, at most 100
}

// ReportRequest is the body of POST /v1/reports: a report of a channel
// (Channel, and RecordID for one of its records) or of an account
// (Account), exactly one of the two.
type ReportRequest struct {
	Channel  string `json:"channel,omitempty"`
	Account  string `json:"account,omitempty"`
	RecordID []byte `json:"record_id,omitempty"`
	Category string `json:"category"` // one of ReportCategories
	Note     string `json:"note,omitempty"`
}

// ReportCategories are the accepted report categories.
var ReportCategories = []string{"spam", "abuse", "violence", "sexual", "illegal", "copyright", "other"}

// ModerationRequest is the body of the operator's actions (spec/api.md §12).
type ModerationRequest struct {
	Admin  string `json:"admin"`  // who acts, for the audit log
	Reason string `json:"reason"` // shown to users for a suspension
}

// ReportInfo is one report, for the operator.
type ReportInfo struct {
	ID       int64  `json:"id"`
	Channel  string `json:"channel,omitempty"`
	Account  string `json:"account,omitempty"` // a reported account
	Reporter string `json:"reporter"`
	RecordID string `json:"record_id,omitempty"` // hex
	Category string `json:"category"`
	Note     string `json:"note,omitempty"`
	Created  int64  `json:"created"`
}

// AuditInfo is one entry of the moderation audit log.
type AuditInfo struct {
	ID       int64  `json:"id"`
	Time     int64  `json:"time"`
	Admin    string `json:"admin"`
	Action   string `json:"action"`
	Channel  string `json:"channel"`
	RecordID string `json:"record_id,omitempty"`
	Reason   string `json:"reason"`
}

// ChannelAdmins answers GET /v1/channels/{handle}/admins.
type ChannelAdmins struct {
	Admins []string `json:"admins"`
}
