//go:build js

package transport

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
)

// dial authenticates by a WebSocket ticket in the browser, which cannot
// set the Authorization header on a WebSocket (spec/api.md §7.1).
func (c *Client) dial(ctx context.Context, u string) (*websocket.Conn, *http.Response, error) {
	return c.dialTicket(ctx, u)
}

// dialBare dials u; the browser's WebSocket carries no credentials.
func (c *Client) dialBare(ctx context.Context, u string) (*websocket.Conn, *http.Response, error) {
	return websocket.Dial(ctx, u, nil)
}
