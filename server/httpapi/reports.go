package httpapi

import (
	"net/http"

	"github.com/parley-chat/parley/api"
)

// The report routes (spec/api.md §12.1); the logic is in reports.Service.

// report is POST /v1/reports: a user reports a channel, one of its
// records, or an account; reports queue for the operator.
func (h *Handler) report(w http.ResponseWriter, r *http.Request) error {
	var req api.ReportRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	if err := h.reportq.Report(r.Context(), callerOf(r).account.ID, req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// reports is GET /v1/admin/reports: the newest 200.
func (h *Handler) reports(w http.ResponseWriter, r *http.Request) error {
	out, err := h.reportq.List(r.Context(), 200)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
