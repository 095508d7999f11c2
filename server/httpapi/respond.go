package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/api/jsonbody"
	"github.com/parley-chat/parley/server/store"
)

// apiError builds the error a handler returns.
func apiError(status int, code api.Code, msg string) *api.Error {
	return &api.Error{Status: status, Code: code, Message: msg}
}

var (
	errUnauthorized = apiError(http.StatusUnauthorized, api.CodeUnauthorized, "Missing or invalid device credentials.")
	errNotFound     = apiError(http.StatusNotFound, api.CodeNotFound, "No such resource.")
	errTooLarge     = apiError(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "The request body is too large.")
	errBadJSON      = apiError(http.StatusBadRequest, api.CodeBadRequest, "The request body is not valid JSON for this endpoint.")
)

// handlerFunc is an HTTP handler that returns an error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// toAPIError turns err into the api.Error a client sees. Store sentinels
// map to their codes; anything else is logged and becomes an opaque
// internal error, so no SQL or stack ever reaches a client.
func (h *Handler) toAPIError(ctx context.Context, route string, err error) *api.Error {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	case errors.Is(err, store.ErrClosed), ctx.Err() != nil:
		return apiError(http.StatusServiceUnavailable, api.CodeUnavailable, "The server is shutting down; retry shortly.")
	}
	h.log.LogAttrs(ctx, slog.LevelError, "request failed", slog.String(logKeyRoute, route), slog.String(logKeyError, err.Error()))
	return apiError(http.StatusInternalServerError, api.CodeInternal, "Internal error; it has been logged.")
}

// writeError answers with err as an api.Error.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := h.toAPIError(r.Context(), r.Pattern, err)
	writeJSON(w, ae.Status, ae)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON decodes a size-limited body exactly (spec/api.md §2.1, through
// jsonbody.DecodeRequest): case-sensitive names, no duplicate or unknown names,
// nothing after the value. A refusal is bad_request with a sentence saying
// what is wrong.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, api.MaxBody)
	err := jsonbody.DecodeRequest(body, v)
	var (
		tooLarge *http.MaxBytesError
		bad      *jsonbody.Error
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return errTooLarge
	case errors.As(err, &bad):
		return apiError(http.StatusBadRequest, api.CodeBadRequest, bad.Reason)
	}
	return errBadJSON
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
