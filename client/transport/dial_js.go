//go:build js

package transport

import (
	"context"
	"errors"
	"net/http"

	"github.com/coder/websocket"
)

// dial fails in the browser for now: browsers cannot set the
// Authorization header on a WebSocket, and the server does not yet accept
// another way to authenticate one (the browser client's issue adds it).
func (c *Client) dial(ctx context.Context, u string) (*websocket.Conn, *http.Response, error) {
	return nil, nil, errors.New("transport: WebSocket authentication from a browser is not supported yet")
}
