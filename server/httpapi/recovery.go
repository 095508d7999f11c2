package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// Account recovery (spec/api.md §4.3). A client may give its account a
// recovery key at registration: a full-entropy random string it shows the
// user once and of which the server keeps only SHA-256 (a fast hash is
// enough for the same reason as for device secrets: there is nothing to
// brute-force). Whoever presents the key later may replace the account's
// identity key and all of its devices with one new device, as a user who
// lost every device does after reinstalling. Any failure to prove the key
// is the same 401, in the same time whether the account exists, has a key
// or not.

// dummyRecoveryHash stands in for the hash of an account that does not
// exist or has none, so the comparison costs the same.
var dummyRecoveryHash = sha256.Sum256([]byte("parley: no such recovery key"))

// recoveryHash checks an optional recovery-key hash from a request body.
func recoveryHash(b []byte, field string) (*[32]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) != api.RecoveryKeyHashSize {
		return nil, badRequest("%s must be %d bytes, SHA-256 of the recovery key.", field, api.RecoveryKeyHashSize)
	}
	h := [32]byte(b)
	return &h, nil
}

// recoverAccount is POST /v1/accounts/recover. The request is checked
// whole before the key is: the new identity key and the new device's
// prekeys as at registration. Then one store transaction replaces the
// identity key and the devices. Removed devices lose their sockets at
// once, and senders learn of the new device list from stale_devices.
func (h *Handler) recoverAccount(w http.ResponseWriter, r *http.Request) error {
	if !h.limiter.allowIP(r, h.opts.Now()) {
		return errRateLimited
	}
	var req api.RecoverRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	name, err := api.NormalizeUsername(req.Username)
	if err != nil {
		return errUnauthorized // no such account can exist
	}
	if err := checkDeviceName(req.DeviceName); err != nil {
		return err
	}
	newHash, err := recoveryHash(req.NewRecoveryKeyHash, "new_recovery_key_hash")
	if err != nil {
		return err
	}
	if err := checkUpload(req.IdentityKey, &req.PreKeys, true); err != nil {
		return err
	}
	proof := sha256.Sum256([]byte(req.RecoveryKey))
	if err := h.checkRecoveryKey(r, name, proof); err != nil {
		return err
	}
	secret, cred := newSecret()
	acct, dev, removed, err := h.store.RecoverAccount(r.Context(), store.Recovery{
		Username: name, RecoveryHash: proof, IdentityKey: req.IdentityKey, NewRecoveryHash: newHash,
		Device:  store.Device{Name: req.DeviceName, CredentialHash: cred, Created: h.opts.Now()},
		PreKeys: preKeySet(&req.PreKeys),
	})
	h.dir.forget(name) // whatever happened, read the devices again
	switch {
	case errors.Is(err, store.ErrRecoveryInvalid): // the hash changed meanwhile
		return errUnauthorized
	case errors.Is(err, store.ErrTooManyDevices):
		return apiError(http.StatusConflict, api.CodeTooManyDevices, "The account has used every device ID.")
	case err != nil:
		return err
	}
	for _, id := range removed {
		h.hub.kick(deviceKey{acct.ID, id})
	}
	writeJSON(w, http.StatusCreated, api.Credentials{Username: acct.Username, DeviceID: dev.ID, Secret: secret})
	return nil
}

// checkRecoveryKey compares proof, the hash of the presented recovery key,
// with the account's recovery hash in constant time. An unknown account
// and one without a hash are compared against a dummy hash, so that the
// answer and its timing are the same for all three failures.
func (h *Handler) checkRecoveryKey(r *http.Request, name string, proof [32]byte) error {
	acct, err := h.store.AccountByName(r.Context(), name)
	if err != nil && !isNotFound(err) {
		return err
	}
	known := err == nil && acct.RecoveryHash != nil
	want := dummyRecoveryHash
	if known {
		want = *acct.RecoveryHash
	}
	if subtle.ConstantTimeCompare(proof[:], want[:]) != 1 || !known {
		return errUnauthorized
	}
	return nil
}
