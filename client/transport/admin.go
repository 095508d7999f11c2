package transport

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"

	"github.com/parley-chat/parley/api"
)

// Admin calls the operator's API (spec/api.md §12) with a bearer token.
type Admin struct {
	c    *Client
	name string // the operator, for the audit log
}

// Admin returns an operator client; name goes into the audit log.
func (c *Client) Admin(token, name string) *Admin {
	cc := *c
	cc.creds, cc.bearer = nil, token
	return &Admin{c: &cc, name: name}
}

func (a *Admin) act(ctx context.Context, path, reason string) error {
	return a.c.do(ctx, http.MethodPost, path, api.ModerationRequest{Admin: a.name, Reason: reason}, nil)
}

// Suspend suspends a channel; Restore lifts the suspension.
func (a *Admin) Suspend(ctx context.Context, handle, reason string) error {
	return a.act(ctx, "/v1/admin/channels/"+url.PathEscape(handle)+"/suspend", reason)
}

// Restore lifts a channel's suspension.
func (a *Admin) Restore(ctx context.Context, handle, reason string) error {
	return a.act(ctx, "/v1/admin/channels/"+url.PathEscape(handle)+"/restore", reason)
}

// TakeDown hides one record of a channel; RestoreRecord shows it again.
func (a *Admin) TakeDown(ctx context.Context, handle string, recordID []byte, reason string) error {
	return a.act(ctx, "/v1/admin/channels/"+url.PathEscape(handle)+"/records/"+hex.EncodeToString(recordID)+"/takedown", reason)
}

// RestoreRecord undoes TakeDown.
func (a *Admin) RestoreRecord(ctx context.Context, handle string, recordID []byte, reason string) error {
	return a.act(ctx, "/v1/admin/channels/"+url.PathEscape(handle)+"/records/"+hex.EncodeToString(recordID)+"/restore", reason)
}

// Reports lists users' reports, newest first.
func (a *Admin) Reports(ctx context.Context) ([]api.ReportInfo, error) {
	var out []api.ReportInfo
	err := a.c.do(ctx, http.MethodGet, "/v1/admin/reports", nil, &out)
	return out, err
}

// Audit lists the moderation audit log, newest first.
func (a *Admin) Audit(ctx context.Context) ([]api.AuditInfo, error) {
	var out []api.AuditInfo
	err := a.c.do(ctx, http.MethodGet, "/v1/admin/audit", nil, &out)
	return out, err
}
