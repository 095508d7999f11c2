package api

// Sending to many (spec/api.md §6.6) and group links (spec/api.md §13).

// Limits of group sends and group links.
const (
	// DefaultMaxGroupMembers is how many accounts, the sender's own
	// aside, one PUT /v1/messages may name unless the server sets another
	// bound (ServerInfo.MaxGroupMembers).
	DefaultMaxGroupMembers = 1000
	// GroupLinkIDSize is the size of a group link's ID, written in paths
	// as base64url without padding (22 characters).
	GroupLinkIDSize = 16
	// MaxGroupLinkSnapshot is the largest snapshot of one group link.
	MaxGroupLinkSnapshot = 1 << 20
	// MaxGroupLinks is how many group links one account may hold.
	MaxGroupLinks = 100
)

// MultiSendRequest is the body of PUT /v1/messages (spec/api.md §6.6).
// Either one content for every listed device of every listed account,
// stored once: for content the client encrypted once for many readers,
// such as a sender-key message; or, when the recipients list envelopes
// instead of devices, an envelope of its own for each device: many 1:1
// sends of one message in one request, such as a sender key given to
// every member of a group.
type MultiSendRequest struct {
	ClientID []byte `json:"client_id"`
	Type     uint8  `json:"type"`
	Content  []byte `json:"content"`
	// Ephemeral sends are checked the same and passed only to the listed
	// devices connected at that moment, never stored (spec/api.md §6.5).
	Ephemeral  bool             `json:"ephemeral,omitempty"`
	Recipients []MultiRecipient `json:"recipients"`
}

// MultiRecipient is one account of a MultiSendRequest with every one of
// its current devices (for the sender's own account: every one but the
// sending device): listed in Devices, for the request's shared content,
// or as the devices of Envelopes, each with its own.
type MultiRecipient struct {
	Username  string             `json:"username"`
	Devices   []uint32           `json:"devices"`
	Envelopes []OutgoingEnvelope `json:"envelopes,omitempty"`
}

// StaleAccount is one account a MultiSendRequest named wrongly, in the
// Accounts of a stale_devices error: the devices it lacked and the ones it
// named that do not exist, or Unknown when there is no such account.
// Username is spelt as the request spelt it.
type StaleAccount struct {
	Username string   `json:"username"`
	Missing  []uint32 `json:"missing,omitempty"`
	Extra    []uint32 `json:"extra,omitempty"`
	Unknown  bool     `json:"unknown,omitempty"`
}

// GroupLink is the body of PUT /v1/group-links/{id} and the answer of
// GET: an opaque sealed snapshot of a group, which the server stores and
// hands out without reading it (spec/api.md §13).
type GroupLink struct {
	Snapshot []byte `json:"snapshot"`
}
