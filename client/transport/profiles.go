package transport

import (
	"context"
	"net/http"
	"net/url"

	"github.com/parley-chat/parley/api"
)

// PutProfile stores the account's encrypted profile (spec/api.md §14). A
// version not above the stored one is api.CodeStaleVersion, whose error
// names the stored version.
func (c *Client) PutProfile(ctx context.Context, p api.Profile) error {
	return c.do(ctx, http.MethodPut, "/v1/profile", p, nil)
}

// Profile reads username's encrypted profile: api.CodeNotFound if there
// is no such user, api.CodeNoProfile if the user stored none.
func (c *Client) Profile(ctx context.Context, username string) (api.Profile, error) {
	var out api.Profile
	err := c.do(ctx, http.MethodGet, "/v1/profile/"+url.PathEscape(username), nil, &out)
	return out, err
}
