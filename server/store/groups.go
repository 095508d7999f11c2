package store

import (
	"context"
	"errors"
)

// Errors of GroupStore.
var (
	// ErrNotOwner: the group link belongs to another account.
	ErrNotOwner = errors.New("store: group link belongs to another account")
	// ErrTooManyLinks: the account holds as many group links as it may.
	ErrTooManyLinks = errors.New("store: too many group links")
)

// GroupStore is the part of Store that group chats need: envelopes for
// many devices that share one content (spec/api.md §6.6), and group links,
// opaque snapshots stored under a random ID (spec/api.md §13).
type GroupStore interface {
	// EnqueueShared is Enqueue for envelopes that all carry content: the
	// content is stored once, however many envelopes refer to it, and
	// every envelope stored reads back with it (Pending). envs[i].Content
	// is ignored, and set to content (the same slice) once the call has
	// succeeded, beside envs[i].Seq. Everything else is as Enqueue:
	// all or none, durable before it returns, the same duplicates (a
	// duplicate of an envelope stored by Enqueue or EnqueueShared is one
	// and keeps the first one's content), the same queue bounds, each
	// envelope counting len(content) bytes for its device and sender, and
	// the same errors.
	//
	// The content is deleted with the last envelope that refers to it,
	// however that goes: Ack, DeleteExpired, RemoveDevice or
	// RecoverAccount. A call whose envelopes are all duplicates stores no
	// content.
	EnqueueShared(ctx context.Context, content []byte, envs []Envelope, lim QueueLimits) (dup []bool, err error)

	// PutGroupLink stores snapshot under id for account accountID,
	// replacing the snapshot if the account already holds id. It fails
	// with ErrNotOwner if another account holds id, with ErrTooManyLinks
	// if the account would hold more than max links (below 1, no bound),
	// and with ErrNotFound for an unknown account. Links are deleted with
	// their account.
	PutGroupLink(ctx context.Context, id [16]byte, accountID int64, snapshot []byte, max int) error
	// GroupLink returns the snapshot stored under id (ErrNotFound if none
	// is). A stored empty snapshot is a non-nil empty slice.
	GroupLink(ctx context.Context, id [16]byte) ([]byte, error)
	// DeleteGroupLink deletes the link id of account accountID:
	// ErrNotFound if no link has id, ErrNotOwner if another account's
	// has (it stays).
	DeleteGroupLink(ctx context.Context, id [16]byte, accountID int64) error
}
