package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/store"
)

// The provisioning mailbox (spec/api.md §5.3) carries one encrypted
// message from an existing device to a new one while linking. Its 128-bit
// random ID is the capability to read it; only an authenticated device may
// write it; it lives ten minutes and is deleted when read.
const provisioningTTL = 10 * time.Minute

// createProvisioning is POST /v1/provisioning (rate-limited per IP).
func (h *Handler) createProvisioning(w http.ResponseWriter, r *http.Request) error {
	if !h.limiter.allowIP(r, h.opts.Now()) {
		return errRateLimited
	}
	var b [16]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	exp := h.opts.Now().Add(provisioningTTL)
	if err := h.store.CreateProvisioning(r.Context(), id, exp); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.Provisioning{ID: id, Expires: exp.UnixMilli()})
	return nil
}

// putProvisioning is PUT /v1/provisioning/{id}.
func (h *Handler) putProvisioning(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxProvisioning))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errTooLarge
	}
	if err != nil {
		return badRequest("The request body could not be read.")
	}
	err = h.store.PutProvisioning(r.Context(), r.PathValue("id"), body, h.opts.Now())
	if errors.Is(err, store.ErrProvisionExists) {
		return apiError(http.StatusConflict, api.CodeAlreadyWritten, "That provisioning mailbox already holds a message.")
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// takeProvisioning is GET /v1/provisioning/{id}: 200 with the message
// (then gone), 204 while empty, 404 when unknown or expired.
func (h *Handler) takeProvisioning(w http.ResponseWriter, r *http.Request) error {
	body, err := h.store.TakeProvisioning(r.Context(), r.PathValue("id"), h.opts.Now())
	if err != nil {
		return err
	}
	if body == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, err = w.Write(body)
	return err
}
