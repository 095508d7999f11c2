package transport

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/parley-chat/parley/api"
)

// Groups (spec/api.md §6.6, §13).

// SendMulti stores req.Content once for every device listed in
// req.Recipients (with req.Ephemeral: passes it to the connected ones and
// stores nothing). If the list is stale the error is an *api.Error with
// code api.CodeStaleDevices whose Accounts name every account to mend.
func (c *Client) SendMulti(ctx context.Context, req api.MultiSendRequest) (api.SendResponse, error) {
	var out api.SendResponse
	err := c.do(ctx, http.MethodPut, "/v1/messages", req, &out)
	return out, err
}

func groupLinkPath(id [api.GroupLinkIDSize]byte) string {
	return "/v1/group-links/" + base64.RawURLEncoding.EncodeToString(id[:])
}

// PutGroupLink stores or replaces the snapshot of group link id. Only
// the account that stored it first may replace it (api.CodeForbidden).
func (c *Client) PutGroupLink(ctx context.Context, id [api.GroupLinkIDSize]byte, snapshot []byte) error {
	return c.do(ctx, http.MethodPut, groupLinkPath(id), api.GroupLink{Snapshot: snapshot}, nil)
}

// GroupLink reads the snapshot of group link id; a link unknown or
// deleted is api.CodeNotFound.
func (c *Client) GroupLink(ctx context.Context, id [api.GroupLinkIDSize]byte) ([]byte, error) {
	var out api.GroupLink
	err := c.do(ctx, http.MethodGet, groupLinkPath(id), nil, &out)
	return out.Snapshot, err
}

// DeleteGroupLink deletes group link id of the account, so that it joins
// no one any more.
func (c *Client) DeleteGroupLink(ctx context.Context, id [api.GroupLinkIDSize]byte) error {
	return c.do(ctx, http.MethodDelete, groupLinkPath(id), nil, nil)
}
