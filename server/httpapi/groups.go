package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/groups"
	"github.com/parley-chat/parley/server/store"
)

// Routes of package groups: sends to many (spec/api.md §6.6) and group
// links (§13). The logic is in groups.Service; this file only decodes
// requests, hands them over, and gives the Service the handler's
// directory, send bucket and sockets.

// newGroups builds the Service over h's store, directory, send bucket and
// hub.
func (h *Handler) newGroups() *groups.Service {
	return groups.New(groups.Options{
		Store: h.store,
		Lookup: func(ctx context.Context, name string) (store.Account, []store.Device, error) {
			e, err := h.dir.lookup(ctx, name)
			if err != nil {
				return store.Account{}, nil, err
			}
			return e.account, e.devices, nil
		},
		Spend: func(account int64, now time.Time, cost int) bool {
			return h.sends.allowN(strconv.FormatInt(account, 10), now, cost)
		},
		Wake: func(account int64, device uint32) { h.hub.notify(deviceKey{account, device}) },
		Offer: func(account int64, device uint32, frame []byte) {
			if c := h.hub.conn(deviceKey{account, device}); c != nil && !c.offerEphemeral(frame) {
				h.metrics.ephemeral.WithLabelValues(ephemeralDropped).Inc()
			}
		},
		Stored:     func(n int) { h.metrics.envelopesIn.Add(float64(n)) },
		Limits:     h.queueLimits(),
		QueueTTL:   h.opts.QueueTTL,
		MaxMembers: h.opts.MaxGroupMembers,
		Now:        h.opts.Now,
	})
}

func senderOf(r *http.Request) groups.Sender {
	p := callerOf(r)
	return groups.Sender{Account: p.account, Device: p.device.ID}
}

// sendManyHTTP is PUT /v1/messages.
func (h *Handler) sendManyHTTP(w http.ResponseWriter, r *http.Request) error {
	var req api.MultiSendRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	res, err := h.groups.Send(r.Context(), senderOf(r), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// putGroupLink is PUT /v1/group-links/{id}.
func (h *Handler) putGroupLink(w http.ResponseWriter, r *http.Request) error {
	var req api.GroupLink
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if err := h.groups.PutLink(r.Context(), senderOf(r), r.PathValue("id"), req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getGroupLink is GET /v1/group-links/{id}.
func (h *Handler) getGroupLink(w http.ResponseWriter, r *http.Request) error {
	link, err := h.groups.Link(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, link)
	return nil
}

// deleteGroupLink is DELETE /v1/group-links/{id}.
func (h *Handler) deleteGroupLink(w http.ResponseWriter, r *http.Request) error {
	if err := h.groups.DeleteLink(r.Context(), senderOf(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
