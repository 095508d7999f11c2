//go:build !js

package transport

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
)

// dial opens the WebSocket with the device's credentials in the
// Authorization header.
func (c *Client) dial(ctx context.Context, u string) (*websocket.Conn, *http.Response, error) {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	c.authorize(r)
	h := http.Header{"Authorization": r.Header["Authorization"]}
	return websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.http, HTTPHeader: h})
}

// dialBare dials u with no credentials.
func (c *Client) dialBare(ctx context.Context, u string) (*websocket.Conn, *http.Response, error) {
	return websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.http})
}
