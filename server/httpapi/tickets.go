package httpapi

import (
	"context"
	"net/http"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/tickets"
)

// WebSocket tickets (spec/api.md §7.1); the book is package tickets.

var errTicketsBusy = apiError(http.StatusServiceUnavailable, api.CodeUnavailable,
	"The server holds too many WebSocket tickets; retry in a few seconds.")

// createTicket is POST /v1/ws-tickets.
func (h *Handler) createTicket(w http.ResponseWriter, r *http.Request) error {
	p := callerOf(r)
	t, exp, ok := h.tickets.Issue(tickets.Holder{Username: p.account.Username, Account: p.account.ID, Device: p.device.ID}, h.opts.Now())
	if !ok {
		return errTicketsBusy
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, api.WSTicket{Ticket: t, Expires: exp.UnixMilli()})
	return nil
}

// wsAuth authenticates a WebSocket upgrade by its ticket, if the URL
// has one, else by the Authorization header as auth does. A ticket of a
// device removed since it was issued opens nothing.
func (h *Handler) wsAuth(next handlerFunc) handlerFunc {
	basic := h.auth(next)
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		if !q.Has("ticket") {
			return basic(w, r)
		}
		holder, ok := h.tickets.Redeem(q.Get("ticket"), h.opts.Now())
		if !ok {
			return errUnauthorized
		}
		acct, d, err := h.store.DeviceByName(r.Context(), holder.Username, holder.Device)
		if isNotFound(err) || err == nil && acct.ID != holder.Account {
			return errUnauthorized
		} else if err != nil {
			return err
		}
		return next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, &principal{account: acct, device: d})))
	}
}
