package store

import (
	"context"
	"errors"
	"time"
)

// ErrStaleVersion: a profile's version is not above the stored one.
var ErrStaleVersion = errors.New("store: profile version is not above the stored one")

// Profile is an account's end-to-end encrypted profile (spec/api.md §14):
// opaque bytes, and the version its owner gave it.
type Profile struct {
	Version    uint64
	Ciphertext []byte
	Updated    time.Time
}

// ProfileStore is the part of Store that holds profiles, one per account.
type ProfileStore interface {
	// PutProfile stores p as the profile of account accountID if
	// p.Version is above the version stored (0 when none is, so version 0
	// is never stored); otherwise it fails with ErrStaleVersion and the
	// stored profile stays. ErrNotFound for an unknown account. Profiles are deleted
	// with their account and survive RecoverAccount.
	PutProfile(ctx context.Context, accountID int64, p Profile) error
	// Profile returns the profile of account accountID (ErrNotFound if
	// it has none, or there is no such account). A stored empty
	// ciphertext is a non-nil empty slice.
	Profile(ctx context.Context, accountID int64) (Profile, error)
}
