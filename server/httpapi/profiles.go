package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/profiles"
	"github.com/parley-chat/parley/server/store"
)

// Routes of package profiles (spec/api.md §14). The logic is in
// profiles.Service; this file only decodes requests and hands them over.

// newProfiles builds the Service over h's store and directory.
func (h *Handler) newProfiles() *profiles.Service {
	return profiles.New(profiles.Options{
		Store: h.store,
		Lookup: func(ctx context.Context, name string) (store.Account, error) {
			e, err := h.dir.lookup(ctx, name)
			if err != nil {
				return store.Account{}, err
			}
			return e.account, nil
		},
		Now: h.opts.Now,
	})
}

// putProfile is PUT /v1/profile.
func (h *Handler) putProfile(w http.ResponseWriter, r *http.Request) error {
	var req api.Profile
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if err := h.profiles.Put(r.Context(), callerOf(r).account.ID, req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// An account reads at most profileReadBurst profiles at once (a device
// joining a group of 1,000 fetches each member's), then profileReadRate
// a second: enough for any client, and it bounds how fast one account
// can ask which usernames have profiles (spec/api.md §14).
const (
	profileReadRate  = 1
	profileReadBurst = 1000
)

var errProfileReads = apiError(http.StatusTooManyRequests, api.CodeRateLimited,
	"Too many profile reads; wait a little and retry.")

// getProfile is GET /v1/profile/{username}.
func (h *Handler) getProfile(w http.ResponseWriter, r *http.Request) error {
	if !h.profileReads.allow(strconv.FormatInt(callerOf(r).account.ID, 10), h.opts.Now()) {
		return errProfileReads
	}
	p, err := h.profiles.Get(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}
