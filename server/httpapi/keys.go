package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/keys"
	"github.com/parley-chat/parley/internal/wire"
	"github.com/parley-chat/parley/server/store"
)

func badRequest(format string, args ...any) *api.Error {
	return apiError(http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf(format, args...))
}

var errBadSignature = apiError(http.StatusBadRequest, api.CodeBadSignature,
	"A prekey's signature does not verify with the account's identity key.")

// checkUpload validates every key of an upload and its signatures by the
// identity key, so the server never hands out a bundle a client would
// refuse. base requires the signed and last-resort prekeys.
func checkUpload(identity []byte, u *api.PreKeyUpload, base bool) error {
	ik, err := keys.DecodePublicKey(identity)
	if err != nil {
		return badRequest("The identity key is not a 33-byte X25519 key.")
	}
	if base && (u.SignedPreKey == nil || u.LastResortKEMPreKey == nil) {
		return badRequest("A new device must upload a signed prekey and a last-resort KEM prekey.")
	}
	if len(u.OneTimePreKeys) > api.MaxPreKeysPerUpload || len(u.KEMPreKeys) > api.MaxPreKeysPerUpload {
		return badRequest("At most %d one-time prekeys of each kind per upload.", api.MaxPreKeysPerUpload)
	}
	if k := u.SignedPreKey; k != nil {
		if _, err := keys.DecodePublicKey(k.PublicKey); err != nil {
			return badRequest("The signed prekey is not a 33-byte X25519 key.")
		}
		if !ik.Verify(k.PublicKey, k.Signature) {
			return errBadSignature
		}
	}
	kems := u.KEMPreKeys
	if u.LastResortKEMPreKey != nil {
		kems = append(kems[:len(kems):len(kems)], *u.LastResortKEMPreKey)
	}
	for _, k := range kems {
		if _, err := keys.DecodeKEMPublicKey(k.PublicKey); err != nil {
			return badRequest("KEM prekey %d is not an ML-KEM-1024 key.", k.ID)
		}
		if !ik.Verify(k.PublicKey, k.Signature) {
			return errBadSignature
		}
	}
	for _, k := range u.OneTimePreKeys {
		if _, err := keys.DecodePublicKey(k.PublicKey); err != nil {
			return badRequest("One-time prekey %d is not a 33-byte X25519 key.", k.ID)
		}
	}
	return nil
}

// preKeySet is a checked upload as the store takes it.
func preKeySet(u *api.PreKeyUpload) store.PreKeySet {
	var k store.PreKeySet
	if p := u.SignedPreKey; p != nil {
		k.SignedPreKey = &store.SignedPreKey{ID: p.ID, PublicKey: p.PublicKey, Signature: p.Signature}
	}
	if p := u.LastResortKEMPreKey; p != nil {
		k.LastResortKEMPreKey = &store.KEMPreKey{ID: p.ID, PublicKey: p.PublicKey, Signature: p.Signature}
	}
	for _, p := range u.OneTimePreKeys {
		k.OneTime = append(k.OneTime, store.PreKey{ID: p.ID, PublicKey: p.PublicKey})
	}
	for _, p := range u.KEMPreKeys {
		k.KEMOneTime = append(k.KEMOneTime, store.KEMPreKey{ID: p.ID, PublicKey: p.PublicKey, Signature: p.Signature})
	}
	return k
}

// uploadKeys is PUT /v1/keys: the whole upload is stored in one
// transaction, or none of it.
func (h *Handler) uploadKeys(w http.ResponseWriter, r *http.Request) error {
	p := callerOf(r)
	var u api.PreKeyUpload
	if err := readJSON(w, r, &u); err != nil {
		return err
	}
	if err := checkUpload(p.account.IdentityKey, &u, false); err != nil {
		return err
	}
	if err := h.store.SetPreKeys(r.Context(), p.account.ID, p.device.ID, preKeySet(&u)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// keyCounts is GET /v1/keys/count.
func (h *Handler) keyCounts(w http.ResponseWriter, r *http.Request) error {
	p := callerOf(r)
	c, err := h.store.PreKeyCounts(r.Context(), p.account.ID, p.device.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.PreKeyCounts{OneTime: c.OneTime, KEMOneTime: c.KEMOneTime})
	return nil
}

// Per-requester shares of one target's one-time prekeys (spec/api.md §6.3).
const (
	// OneTimeBurst is how many fetches of one target account may take
	// one-time prekeys at once for one requesting account.
	OneTimeBurst = 5
	// OneTimeEvery is how often one more such fetch is allowed after that.
	OneTimeEvery = time.Hour
	// oneTimePairs bounds the (requester, target) pairs remembered; when
	// they are all in use, new pairs get base bundles until some expire.
	oneTimePairs = 1 << 20
)

// newOneTimeLimiter is the token bucket per (requester, target) pair for
// fetches that take one-time prekeys. Its buckets are kept until they would
// have refilled anyway, so forgetting one gives nothing back.
func newOneTimeLimiter() *keyLimiter {
	l := newKeyLimiter(1/OneTimeEvery.Seconds(), OneTimeBurst)
	l.idle = OneTimeBurst * OneTimeEvery
	l.maxKeys = oneTimePairs
	return l
}

// fetchBundles is GET /v1/keys/{username}[?device=N]: one bundle per
// device, each consuming one-time prekeys atomically, while the caller is
// within its share of the target's one-time prekeys; past it, base bundles
// (the signed and last-resort prekeys) that consume nothing. A fetch of
// one's own account always takes one-time prekeys.
func (h *Handler) fetchBundles(w http.ResponseWriter, r *http.Request) error {
	caller := callerOf(r).account.ID
	now := h.opts.Now()
	if !h.fetches.allow(strconv.FormatInt(caller, 10), now) {
		return errRateLimited
	}
	name, err := api.NormalizeUsername(r.PathValue("username"))
	if err != nil {
		return errNotFound
	}
	acct, err := h.store.AccountByName(r.Context(), name)
	if err != nil {
		return err
	}
	devs, err := h.store.Devices(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	if q := r.URL.Query().Get("device"); q != "" {
		id, err := strconv.ParseUint(q, 10, 32)
		if err != nil {
			return badRequest("device must be a device ID.")
		}
		var only []store.Device
		for _, d := range devs {
			if uint64(d.ID) == id {
				only = append(only, d)
			}
		}
		if len(only) == 0 {
			return errNotFound
		}
		devs = only
	}
	oneTime := acct.ID == caller ||
		h.oneTime.allow(strconv.FormatInt(caller, 10)+">"+strconv.FormatInt(acct.ID, 10), now)
	take := h.store.TakeBundle
	if !oneTime {
		take = h.store.BaseBundle
	}
	out := api.Bundles{Username: acct.Username}
	for _, d := range devs {
		b, err := take(r.Context(), acct.ID, d.ID)
		if errors.Is(err, store.ErrNoSignedPreKey) || errors.Is(err, store.ErrNoKEMPreKey) {
			continue // a device that never uploaded keys cannot be reached yet
		}
		if err != nil {
			return err
		}
		out.Bundles = append(out.Bundles, encodeBundle(acct.IdentityKey, &b))
	}
	if len(out.Bundles) == 0 {
		return apiError(http.StatusNotFound, api.CodeNoPreKeys, "The user has no device with prekeys.")
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func encodeBundle(identity []byte, b *store.Bundle) []byte {
	w := wire.PreKeyBundle{
		IdentityKey:     identity,
		DeviceID:        b.DeviceID,
		SignedPreKeyID:  b.SignedPreKey.ID,
		SignedPreKey:    b.SignedPreKey.PublicKey,
		SignedPreKeySig: b.SignedPreKey.Signature,
		KEMPreKeyID:     b.KEMPreKey.ID,
		KEMPreKey:       b.KEMPreKey.PublicKey,
		KEMPreKeySig:    b.KEMPreKey.Signature,
	}
	if b.OneTime != nil {
		w.HasOneTimePreKey = true
		w.OneTimePreKeyID = b.OneTime.ID
		w.OneTimePreKey = b.OneTime.PublicKey
	}
	return w.Marshal()
}
