// Package group signs, verifies and orders the records that make a private
// group's state (spec/protocol.md §11): who is a member, who is an admin,
// the group's title, description and avatar, its settings and its invite
// link. Every member's client runs the same rules on the same records, so
// all of them agree on which state is true.
//
// A record names the version it makes and the hash of its parent, and is
// signed (XEdDSA) with the identity key of its signer, as the parent state
// lists it (the create record lists its own). The records travel end to
// end between members; the server never sees them. Two admins may sign
// children of one version at once: a Log keeps the tree and picks, at
// every fork, the same child for everyone (§11.5).
//
// What it protects: nobody who is not a member (or, for a join, who does
// not hold a direct invite link) signs a change; only admins add, remove,
// promote and demote, and an admin never removes or demotes one who
// outranks him; a server, which signs nothing, cannot add a member, alter,
// forge or misorder a change; every member who holds the same records
// computes the same state. What it does not: a server (or a member) can
// withhold records, so a member can be shown a stale state until they
// arrive; the identity key a signer lists for a new member is the signer's
// claim, which clients compare with the keys they trust; a member who
// learns a direct link's secret can join with any username not in the
// group.
//
// The package does no I/O and builds for js/wasm.
package group

import (
	"errors"
	"fmt"

	"github.com/parley-chat/parley/internal/keys"
)

// ID is a group's permanent name: 32 random bytes chosen by its creator.
type ID [32]byte

// Kind is what a record does.
type Kind uint8

// Record kinds (spec/protocol.md §11.2).
const (
	KindCreate   Kind = 1  // the first record: creator, Info, Settings, initial members
	KindAdd      Kind = 2  // admins: adds one or more members
	KindRemove   Kind = 3  // admins: removes Target
	KindLeave    Kind = 4  // the signer leaves
	KindPromote  Kind = 5  // admins: Target becomes an admin
	KindDemote   Kind = 6  // admins: Target stops being an admin
	KindInfo     Kind = 7  // sets Info
	KindSettings Kind = 8  // admins: sets Settings
	KindLink     Kind = 9  // admins: sets Link, or revokes it (nil)
	KindJoin     Kind = 10 // the signer joins with a direct link's proof
	maxKind           = KindJoin
)

var kindNames = [...]string{"", "create", "add", "remove", "leave", "promote", "demote", "info", "settings", "link", "join"}

func (k Kind) String() string {
	if k == 0 || k > maxKind {
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
	return kindNames[k]
}

// Member is an account in the group. A record's Members (create, add,
// join) carry Username and Identity only; the State fills in the rest.
type Member struct {
	Username   string
	Identity   keys.PublicKey
	Admin      bool
	AdminSince uint64 // the version at which the member became an admin (the creator: 1)
	Since      uint64 // the version at which the member joined
}

// Info is what the group shows of itself.
type Info struct {
	Title       string // 1 … MaxTitle bytes of UTF-8, not only spaces
	Description string // 0 … MaxDescription bytes of UTF-8
	Avatar      []byte // opaque to this package (an attachment pointer), 0 … MaxAvatar bytes
}

// Settings are the admins' switches.
type Settings struct {
	SendAdminsOnly bool // only admins send messages (the client enforces it)
	InfoAdminsOnly bool // only admins sign Info records
}

// Link is the group's invite link as the state holds it: the key that
// proves a joiner holds the link's secret (DeriveLink), and whether a
// holder joins without an admin's approval.
type Link struct {
	ProofKey [32]byte
	Direct   bool
}

// Limits (spec/protocol.md §11.2).
const (
	MaxRecord      = 96 << 10 // bytes of an encoded record
	MaxRecordUsers = 1000     // members in one create or add record
	MaxTitle       = 128
	MaxDescription = 1024
	MaxAvatar      = 2048
	// DefaultMaxMembers is Options.MaxMembers when it is zero.
	DefaultMaxMembers = 1000
	// DefaultMaxRecords is Options.MaxRecords when it is zero.
	DefaultMaxRecords = 100_000
	// MaxPending bounds the records a Log keeps whose parent it lacks.
	MaxPending = 256
	// MaxChildren bounds the children a Log keeps of one record.
	MaxChildren = 16
	// maxVersion bounds the version field, far above any real group.
	maxVersion = 1 << 62
)

// Options are a group's local limits. Every member must use the same ones
// to compute the same state.
type Options struct {
	MaxMembers int // members in the group at once; 0 means DefaultMaxMembers
	MaxRecords int // records a Log keeps, canonical or not; 0 means DefaultMaxRecords
}

func (o Options) maxMembers() int {
	if o.MaxMembers <= 0 {
		return DefaultMaxMembers
	}
	return o.MaxMembers
}

func (o Options) maxRecords() int {
	if o.MaxRecords <= 0 {
		return DefaultMaxRecords
	}
	return o.MaxRecords
}

// Errors. Each is returned wrapped with the reason; callers branch on them
// with errors.Is.
var (
	// ErrMalformed means the bytes are not the canonical encoding of a
	// record (or snapshot) of this format, or break a structural limit.
	ErrMalformed = errors.New("group: malformed record")
	// ErrSignature means the signature does not verify under the signer's
	// identity key: forged, altered, or signed by another key.
	ErrSignature = errors.New("group: bad signature")
	// ErrNotAllowed means the signer may not make this change in the
	// parent state (not a member, not an admin, outranked, ...).
	ErrNotAllowed = errors.New("group: change not allowed")
	// ErrStale means the record is for a version the state has passed.
	ErrStale = errors.New("group: record for an earlier version")
	// ErrUnknownParent means the record does not continue this state: its
	// prev is another record's hash, or its version skips.
	ErrUnknownParent = errors.New("group: record does not continue this state")
	// ErrLimit means a bound was reached: members, records, children or
	// pending records, or a snapshot's size.
	ErrLimit = errors.New("group: limit reached")
	// ErrDecrypt means a snapshot does not open with the link's keys: the
	// only error OpenSnapshot gives for a wrong key or altered bytes.
	ErrDecrypt = errors.New("group: snapshot does not open")
)
