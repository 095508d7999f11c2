package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/internal/channel"
	"github.com/parley-chat/parley/server/store"
)

// The operator's API (spec/api.md §12): suspend and restore channels,
// take records down and put them back, read the reports and the audit
// log. It is enabled by Options.AdminToken and authenticated with
// "Authorization: Bearer <token>"; without a token it does not exist
// (404). Every action names the operator and a reason, and goes into the
// append-only audit log with the time.

// adminAuth checks the bearer token in constant time.
func (h *Handler) adminAuth(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if h.opts.AdminToken == "" {
			return errNotFound
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		want := sha256.Sum256([]byte(h.opts.AdminToken))
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
			return apiError(http.StatusUnauthorized, api.CodeUnauthorized, "Missing or wrong operator token.")
		}
		return next(w, r)
	}
}

// moderate is POST /v1/admin/channels/{handle}/{action} and
// /v1/admin/channels/{handle}/records/{id}/{action}.
func (h *Handler) moderate(action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req api.ModerationRequest
		if err := readJSON(w, r, &req); err != nil {
			return err
		}
		if req.Admin == "" || len(req.Admin) > 64 || req.Reason == "" || len(req.Reason) > 1024 {
			return badRequest("admin (1-64 bytes) and reason (1-1024 bytes) are required.")
		}
		c, err := h.channelNamed(r, true)
		if err != nil {
			return err
		}
		e := store.AuditEntry{Time: h.opts.Now(), Admin: req.Admin, Action: action, ChannelID: c.ID, Reason: req.Reason}
		if action == store.ActionTakedown || action == store.ActionRestorePost {
			id, err := hex.DecodeString(r.PathValue("id"))
			if err != nil || len(id) != 16 {
				return errNotFound
			}
			e.RecordID = (*[16]byte)(id)
		}
		if action == store.ActionTakedown {
			if e.Notice, err = h.takedownNotice(r, c, *e.RecordID, req.Reason); err != nil {
				return err
			}
		}
		if _, err := h.store.Moderate(r.Context(), e); err != nil {
			return err
		}
		h.log.Info("moderation", "action", action, "channel", c.Handle, "admin", req.Admin)
		// Followers online learn of every action at once (§11.6).
		f := &api.Frame{Type: api.FrameChannel, Channel: c.Handle, Message: req.Reason}
		switch action {
		case store.ActionSuspend:
			f.Code = api.CodeChannelSuspended
		case store.ActionRestore:
			f.Code = api.CodeChannelRestored
		case store.ActionTakedown, store.ActionRestorePost:
			rec, err := h.store.ChannelRecordByID(r.Context(), c.ID, *e.RecordID)
			if err != nil {
				return err
			}
			// A takedown frame carries the operator's signed notice in
			// Record (spec/api.md §11.6); a restoration, the record.
			f.Seq, f.Code, f.Record = rec.Seq, api.CodeRecordTakenDown, e.Notice
			if action == store.ActionRestorePost {
				f.Code, f.Record = api.CodeRecordRestored, rec.Data
			}
		}
		if f.Code != "" {
			h.fanout(r.Context(), c, f)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// takedownNotice signs the operator's notice for taking a record down
// (spec/protocol.md §10.7). Records that change who signs the channel
// cannot be taken down: followers need them to verify the records after.
func (h *Handler) takedownNotice(r *http.Request, c store.Channel, id [16]byte, reason string) ([]byte, error) {
	rec, err := h.store.ChannelRecordByID(r.Context(), c.ID, id)
	if err != nil {
		return nil, err
	}
	if k := channel.Kind(rec.Kind); k == channel.KindAddAdmin || k == channel.KindRemoveAdmin || rec.Position == 0 {
		return nil, badRequest("A record that changes the channel's admins cannot be taken down; suspend the channel instead.")
	}
	key, err := h.operatorKey(r.Context())
	if err != nil {
		return nil, err
	}
	n := &channel.Notice{Channel: c.GenesisKey, Position: rec.Position, RecordID: rec.RecordID, Reason: reason, Time: h.opts.Now().UnixMilli()}
	copy(n.Hash[:], rec.Hash)
	return n.Sign(key)
}

// audit is GET /v1/admin/audit: the newest 200 entries.
func (h *Handler) audit(w http.ResponseWriter, r *http.Request) error {
	es, err := h.store.AuditLog(r.Context(), 200)
	if err != nil {
		return err
	}
	out := make([]api.AuditInfo, 0, len(es))
	for _, e := range es {
		c, err := h.store.ChannelByID(r.Context(), e.ChannelID)
		if err != nil {
			return err
		}
		ai := api.AuditInfo{ID: e.ID, Time: e.Time.UnixMilli(), Admin: e.Admin, Action: e.Action, Channel: c.Handle, Reason: e.Reason}
		if e.RecordID != nil {
			ai.RecordID = hex.EncodeToString(e.RecordID[:])
		}
		out = append(out, ai)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
