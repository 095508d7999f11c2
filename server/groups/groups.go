// Package groups is the server's part of group chats: sending one
// ciphertext to many devices, stored once (PUT /v1/messages, spec/api.md
// §6.6), and group links, opaque snapshots that let a newcomer join a group
// (/v1/group-links/{id}, spec/api.md §13). The HTTP routes in
// server/httpapi only decode requests and call a Service; what the Service
// needs of the rest of the server (the directory of devices, the send
// bucket, the sockets) it gets as functions in Options, so it does not
// depend on the HTTP layer.
//
// Like the rest of the server it moves ciphertext: the content of a send
// and the snapshot of a link are opaque bytes, never parsed or logged.
package groups

import (
	"context"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// Send-rate costs (spec/api.md §2.3, §6.6). A send to many is charged its
// content once, as one envelope of a 1:1 send, plus DeviceCost for each
// device it reaches: the row that refers to the content.
const (
	// SendOverhead is what the content costs beyond its length; the same
	// as one envelope of a 1:1 send (httpapi.SendOverhead).
	SendOverhead = 256
	// DeviceCost is what each recipient device costs: a queue row without
	// content of its own.
	DeviceCost = 64
)

// Cost is what a send to many of size content bytes for devices devices
// costs in the sender's send bucket.
func Cost(size, devices int) int { return size + SendOverhead + devices*DeviceCost }

// Options is what a Service needs of the server.
type Options struct {
	Store store.Store
	// Lookup returns the account and devices of a normalised username,
	// or an error wrapping store.ErrNotFound if there is none.
	Lookup func(ctx context.Context, username string) (store.Account, []store.Device, error)
	// Spend charges cost to the account's send bucket and reports
	// whether it fitted; a send that does not fit is refused whole.
	Spend func(account int64, now time.Time, cost int) bool
	// Wake tells a device's socket, if it has one, that envelopes were
	// stored for it. It must not block.
	Wake func(account int64, device uint32)
	// Offer passes an encoded ephemeral Deliver frame to a device's
	// socket if the device is connected, best effort; it must not block
	// nor change frame, which is shared by every device of the send.
	Offer func(account int64, device uint32, frame []byte)
	// Stored, if set, is told how many envelopes each stored send held,
	// duplicates included (for parley_envelopes_in_total).
	Stored func(n int)

	Limits   store.QueueLimits // the bounds of each device's queue (spec/api.md §6.4)
	QueueTTL time.Duration     // how long a stored envelope waits; 0 means 30 days
	// MaxMembers bounds the accounts one send may name besides the
	// sender's own; 0 means api.DefaultMaxGroupMembers.
	MaxMembers int
	// MaxLinks bounds the group links of one account; 0 means
	// api.MaxGroupLinks.
	MaxLinks int
	Now      func() time.Time // nil means time.Now
}

// Service serves sends to many and group links.
type Service struct {
	o Options
}

// New returns a Service.
func New(o Options) *Service {
	if o.QueueTTL == 0 {
		o.QueueTTL = 30 * 24 * time.Hour
	}
	if o.MaxMembers == 0 {
		o.MaxMembers = api.DefaultMaxGroupMembers
	}
	if o.MaxLinks == 0 {
		o.MaxLinks = api.MaxGroupLinks
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{o: o}
}

// MaxMembers is how many accounts besides the sender's own one send may
// name (api.ServerInfo.MaxGroupMembers).
func (s *Service) MaxMembers() int { return s.o.MaxMembers }

// Sender is the authenticated device a request comes from.
type Sender struct {
	Account store.Account
	Device  uint32
}
