// Package profiles is the server's part of profiles (spec/api.md §14):
// each account stores one end-to-end encrypted profile (a display name, an
// about line, an avatar pointer), and any authenticated device may fetch
// any account's. The HTTP routes in server/httpapi only decode requests
// and call a Service.
//
// What the server learns: which account stored a profile, when, its
// version and its size (which clients pad to fixed buckets), and who
// fetches whose. Not the profile: the ciphertext is opaque bytes under a
// key shared only with the owner's contacts, never parsed or logged.
// What it could do: withhold a profile, or serve an older one or another
// account's; clients refuse those (the version and the username are bound
// into the encryption, spec/client.md §12).
package profiles

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// Options is what a Service needs of the server.
type Options struct {
	Store store.Store
	// Lookup returns the account of a normalised username, or an error
	// wrapping store.ErrNotFound if there is none.
	Lookup func(ctx context.Context, username string) (store.Account, error)
	Now    func() time.Time // nil means time.Now
}

// Service stores and serves profiles.
type Service struct {
	o Options
}

// New returns a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Lookup == nil {
		o.Lookup = func(ctx context.Context, name string) (store.Account, error) { return o.Store.AccountByName(ctx, name) }
	}
	return &Service{o: o}
}

func apiError(status int, code api.Code, msg string) *api.Error {
	return &api.Error{Status: status, Code: code, Message: msg}
}

var (
	errTooLarge = apiError(http.StatusRequestEntityTooLarge, api.CodeTooLarge,
		fmt.Sprintf("A profile's ciphertext is larger than %d KiB.", api.MaxProfileCiphertext>>10))
	errBadVersion = apiError(http.StatusBadRequest, api.CodeBadRequest,
		"A profile's version is a whole number from 1 to 2^53 - 1.")
	errNoUser    = apiError(http.StatusNotFound, api.CodeNotFound, "No such user.")
	errNoProfile = apiError(http.StatusNotFound, api.CodeNoProfile, "This user has not set a profile.")
)

// staleVersion is the answer to a put whose version is not above the
// stored one: it names the stored version, so the client can go above it.
func staleVersion(stored uint64) *api.Error {
	e := apiError(http.StatusConflict, api.CodeStaleVersion,
		"A profile with this version or a higher one is stored already; put a higher version.")
	e.Version = stored
	return e
}

// Put stores p as the profile of account, if its version is above the
// stored one's.
func (s *Service) Put(ctx context.Context, account int64, p api.Profile) error {
	if len(p.Ciphertext) > api.MaxProfileCiphertext {
		return errTooLarge
	}
	if p.Version == 0 || p.Version > api.MaxProfileVersion {
		return errBadVersion
	}
	err := s.o.Store.PutProfile(ctx, account, store.Profile{Version: p.Version, Ciphertext: p.Ciphertext, Updated: s.o.Now()})
	if !errors.Is(err, store.ErrStaleVersion) {
		return err
	}
	cur, err := s.o.Store.Profile(ctx, account)
	if err != nil {
		return err
	}
	return staleVersion(cur.Version)
}

// Get returns the profile of username: not_found if there is no such
// user, no_profile if the user stored none.
func (s *Service) Get(ctx context.Context, username string) (api.Profile, error) {
	name, err := api.NormalizeUsername(username)
	if err != nil {
		return api.Profile{}, errNoUser
	}
	acct, err := s.o.Lookup(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return api.Profile{}, errNoUser
	}
	if err != nil {
		return api.Profile{}, err
	}
	p, err := s.o.Store.Profile(ctx, acct.ID)
	if errors.Is(err, store.ErrNotFound) {
		return api.Profile{}, errNoProfile
	}
	if err != nil {
		return api.Profile{}, err
	}
	return api.Profile{Version: p.Version, Ciphertext: p.Ciphertext}, nil
}
