package groups

import (
	"context"
	"encoding/base64"
	"errors"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// Group links (spec/api.md §13). A link is a random 16-byte ID chosen by
// the client and an opaque snapshot sealed by it: whoever knows the ID (it
// travels in the link, with the key that opens the snapshot) can read the
// snapshot, and only the account that stored it first can replace or
// delete it. The server learns nothing from the snapshot.

// linkIDLen is the length of a link ID in a path: 16 bytes of unpadded
// base64url.
const linkIDLen = 22

// ParseLinkID reads a group link ID from a path: exactly 22 characters of
// base64url without padding, in its one canonical spelling (the unused low
// bits of the last character zero), for 16 bytes.
func ParseLinkID(s string) ([api.GroupLinkIDSize]byte, error) {
	var id [api.GroupLinkIDSize]byte
	if len(s) != linkIDLen {
		return id, errBadLinkID
	}
	// Strict refuses non-zero padding bits. The decoder skips CR and LF,
	// but with one of them 22 characters hold too few for 16 bytes.
	n, err := base64.RawURLEncoding.Strict().Decode(id[:], []byte(s))
	if err != nil || n != len(id) {
		return [api.GroupLinkIDSize]byte{}, errBadLinkID
	}
	return id, nil
}

// FormatLinkID writes a group link ID as ParseLinkID reads it.
func FormatLinkID(id [api.GroupLinkIDSize]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// PutLink stores or replaces the snapshot of link id for the sender's
// account.
func (s *Service) PutLink(ctx context.Context, from Sender, id string, link api.GroupLink) error {
	key, err := ParseLinkID(id)
	if err != nil {
		return err
	}
	if len(link.Snapshot) > api.MaxGroupLinkSnapshot {
		return errSnapshotTooLarge
	}
	return linkError(s.o.Store.PutGroupLink(ctx, key, from.Account.ID, link.Snapshot, s.o.MaxLinks))
}

// Link returns the snapshot of link id.
func (s *Service) Link(ctx context.Context, id string) (api.GroupLink, error) {
	key, err := ParseLinkID(id)
	if err != nil {
		return api.GroupLink{}, err
	}
	snap, err := s.o.Store.GroupLink(ctx, key)
	if err != nil {
		return api.GroupLink{}, linkError(err)
	}
	return api.GroupLink{Snapshot: snap}, nil
}

// DeleteLink deletes link id of the sender's account: a revoked link
// joins no one.
func (s *Service) DeleteLink(ctx context.Context, from Sender, id string) error {
	key, err := ParseLinkID(id)
	if err != nil {
		return err
	}
	return linkError(s.o.Store.DeleteGroupLink(ctx, key, from.Account.ID))
}

// linkError turns the store's group-link errors into the API's.
func linkError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errLinkNotFound
	case errors.Is(err, store.ErrNotOwner):
		return errNotOwner
	case errors.Is(err, store.ErrTooManyLinks):
		return errTooManyLinks
	}
	return err
}
