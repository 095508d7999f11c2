package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

const maxDeviceName = 64

var errRateLimited = apiError(http.StatusTooManyRequests, api.CodeRateLimited, "Too many requests from this address; wait a minute and retry.")

func checkDeviceName(n string) error {
	if n == "" || len(n) > maxDeviceName || !utf8.ValidString(n) {
		return badRequest("device_name must be 1-%d bytes of UTF-8.", maxDeviceName)
	}
	return nil
}

// register is POST /v1/accounts (spec/api.md §4). The account (with its
// recovery hash, if the client sets one), its first device and its prekeys
// are created in one store transaction, so a failure leaves no username
// taken without keys.
func (h *Handler) register(w http.ResponseWriter, r *http.Request) error {
	if !h.limiter.allowIP(r, h.opts.Now()) {
		return errRateLimited
	}
	var req api.RegisterRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	name, err := api.NormalizeUsername(req.Username)
	switch {
	case errors.Is(err, api.ErrUsernameReserved):
		return apiError(http.StatusBadRequest, api.CodeUsernameReserved, "That username is reserved; choose another.")
	case err != nil:
		return apiError(http.StatusBadRequest, api.CodeUsernameInvalid, "Usernames are 3-32 letters, digits or '_', starting with a letter.")
	}
	if err := checkDeviceName(req.DeviceName); err != nil {
		return err
	}
	recovery, err := recoveryHash(req.RecoveryKeyHash, "recovery_key_hash")
	if err != nil {
		return err
	}
	if err := checkUpload(req.IdentityKey, &req.PreKeys, true); err != nil {
		return err
	}
	var invite *[32]byte
	if h.opts.InviteOnly {
		if req.InviteCode == "" {
			return apiError(http.StatusForbidden, api.CodeInviteRequired, "This server is invite-only; ask its operator for an invite code.")
		}
		sum := sha256.Sum256([]byte(req.InviteCode))
		invite = &sum
	}
	secret, hash := newSecret()
	now := h.opts.Now()
	acct, dev, err := h.store.CreateAccount(r.Context(),
		store.Account{Username: name, IdentityKey: req.IdentityKey, Created: now, RecoveryHash: recovery},
		store.Device{Name: req.DeviceName, CredentialHash: hash, Created: now}, invite, preKeySet(&req.PreKeys))
	switch {
	case errors.Is(err, store.ErrUsernameTaken):
		return apiError(http.StatusConflict, api.CodeUsernameTaken, "That username is taken; choose another.")
	case errors.Is(err, store.ErrInviteRequired):
		return apiError(http.StatusForbidden, api.CodeInviteRequired, "The invite code is unknown or already used.")
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusCreated, api.Credentials{Username: acct.Username, DeviceID: dev.ID, Secret: secret})
	return nil
}

// listDevices is GET /v1/devices.
func (h *Handler) listDevices(w http.ResponseWriter, r *http.Request) error {
	devs, err := h.store.Devices(r.Context(), callerOf(r).account.ID)
	if err != nil {
		return err
	}
	out := make([]api.DeviceInfo, len(devs))
	for i, d := range devs {
		out[i] = api.DeviceInfo{ID: d.ID, Name: d.Name, Created: d.Created.UnixMilli()}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

const linkTokenTTL = 10 * time.Minute

// createLinkToken is POST /v1/devices/link-tokens: an existing device lets
// one new device join its account within ten minutes.
func (h *Handler) createLinkToken(w http.ResponseWriter, r *http.Request) error {
	var b [32]byte
	rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	exp := h.opts.Now().Add(linkTokenTTL)
	if err := h.store.CreateLinkToken(r.Context(), callerOf(r).account.ID, sha256.Sum256([]byte(token)), exp); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.LinkToken{Token: token, Expires: exp.UnixMilli()})
	return nil
}

// linkDevice is POST /v1/devices: a new device joins with a link token.
// The prekeys are checked against the identity key of the token's account
// before anything is written; the token is then used up, the device added
// and its prekeys stored in one store transaction. A request that fails
// leaves the token usable.
func (h *Handler) linkDevice(w http.ResponseWriter, r *http.Request) error {
	var req api.LinkRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if err := checkDeviceName(req.DeviceName); err != nil {
		return err
	}
	now := h.opts.Now()
	token := sha256.Sum256([]byte(req.LinkToken))
	acct, err := h.store.LinkTokenAccount(r.Context(), token, now)
	if err != nil {
		return linkError(err)
	}
	if err := checkUpload(acct.IdentityKey, &req.PreKeys, true); err != nil {
		return err
	}
	secret, hash := newSecret()
	// The token cannot move to another account, so the keys checked above
	// are checked against the account the device joins.
	acct, dev, err := h.store.AddDeviceWithToken(r.Context(), token,
		store.Device{Name: req.DeviceName, CredentialHash: hash, Created: now}, h.opts.MaxDevices, now, preKeySet(&req.PreKeys))
	if err != nil {
		return linkError(err)
	}
	h.dir.forget(acct.Username)
	writeJSON(w, http.StatusCreated, api.Credentials{Username: acct.Username, DeviceID: dev.ID, Secret: secret})
	return nil
}

// linkError maps the store's link-token errors to API errors.
func linkError(err error) error {
	switch {
	case errors.Is(err, store.ErrTokenInvalid):
		return apiError(http.StatusForbidden, api.CodeTokenInvalid, "The link token is unknown, used or expired; make a new one on your other device.")
	case errors.Is(err, store.ErrTooManyDevices):
		return apiError(http.StatusConflict, api.CodeTooManyDevices, "The account has the most devices allowed; remove one first.")
	}
	return err
}

// removeDevice is DELETE /v1/devices/{id}: any device of the account may
// remove any of its devices, itself included. Its credentials stop working
// and its WebSocket closes at once.
func (h *Handler) removeDevice(w http.ResponseWriter, r *http.Request) error {
	p := callerOf(r)
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
	if err != nil {
		return errNotFound
	}
	devs, err := h.store.Devices(r.Context(), p.account.ID)
	if err != nil {
		return err
	}
	found := false
	for _, d := range devs {
		found = found || uint64(d.ID) == id
	}
	if !found {
		return errNotFound
	}
	err = h.store.RemoveDevice(r.Context(), p.account.ID, uint32(id))
	h.dir.forget(p.account.Username)
	if err != nil {
		return err
	}
	h.hub.kick(deviceKey{p.account.ID, uint32(id)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
