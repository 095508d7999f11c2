package transport

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/coder/websocket"

	"github.com/parley-chat/parley/api"
)

// Socket is a device's WebSocket to the server (spec/api.md §7). Recv must
// be called by one goroutine at a time; Write may be called concurrently.
type Socket struct {
	c *websocket.Conn
}

// Connect opens the device's WebSocket. The server first delivers what is
// queued, then a FrameQueueEmpty, then new envelopes as they arrive.
func (c *Client) Connect(ctx context.Context) (*Socket, error) {
	return c.connect(ctx, c.dial)
}

// ConnectWithTicket is Connect authenticated by a WebSocket ticket
// (spec/api.md §7.1) instead of the Authorization header: the way a
// browser must, which Connect takes under js/wasm.
func (c *Client) ConnectWithTicket(ctx context.Context) (*Socket, error) {
	return c.connect(ctx, c.dialTicket)
}

// WSTicket asks for a ticket that opens one WebSocket within 30 s.
func (c *Client) WSTicket(ctx context.Context) (api.WSTicket, error) {
	var out api.WSTicket
	err := c.do(ctx, http.MethodPost, "/v1/ws-tickets", nil, &out)
	return out, err
}

// dialTicket dials u with a fresh ticket in its query and no credentials
// in the request: what a log of the URL keeps is spent within 30 s.
func (c *Client) dialTicket(ctx context.Context, u string) (*websocket.Conn, *http.Response, error) {
	t, err := c.WSTicket(ctx)
	if err != nil {
		return nil, nil, err
	}
	return c.dialBare(ctx, u+"?ticket="+url.QueryEscape(t.Ticket))
}

func (c *Client) connect(ctx context.Context, dial func(context.Context, string) (*websocket.Conn, *http.Response, error)) (*Socket, error) {
	if c.creds == nil {
		return nil, fmt.Errorf("transport: connect needs device credentials")
	}
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/v1/ws"
	ws, resp, err := dial(ctx, u)
	if err != nil {
		if resp != nil && resp.StatusCode >= 300 {
			code := api.CodeUnavailable
			switch resp.StatusCode {
			case 401:
				code = api.CodeUnauthorized
			case 403:
				code = api.CodeForbidden
			}
			return nil, &api.Error{Status: resp.StatusCode, Code: code, Message: "WebSocket refused: HTTP " + strconv.Itoa(resp.StatusCode)}
		}
		return nil, err
	}
	ws.SetReadLimit(api.MaxFrame)
	return &Socket{c: ws}, nil
}

// Write sends one frame.
func (s *Socket) Write(ctx context.Context, f *api.Frame) error {
	return s.c.Write(ctx, websocket.MessageBinary, api.AppendFrame(nil, f))
}

// WriteRaw sends bytes as one binary message (tests use it for bad frames).
func (s *Socket) WriteRaw(ctx context.Context, typ websocket.MessageType, b []byte) error {
	return s.c.Write(ctx, typ, b)
}

// Recv returns the next frame from the server. A FrameDeliver with Seq 0
// is an ephemeral envelope (spec/api.md §6.5): not stored, not to be acked.
func (s *Socket) Recv(ctx context.Context) (*api.Frame, error) {
	_, b, err := s.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	return api.ParseFrame(b)
}

// Ack deletes delivered envelopes from the device's queue. Seq 0, an
// ephemeral delivery, was never queued and needs no ack: Ack leaves it
// out, and sends nothing if nothing else is left.
func (s *Socket) Ack(ctx context.Context, seqs ...uint64) error {
	acks := make([]uint64, 0, len(seqs))
	for _, q := range seqs {
		if q != 0 {
			acks = append(acks, q)
		}
	}
	if len(acks) == 0 {
		return nil
	}
	return s.Write(ctx, &api.Frame{Type: api.FrameAck, Acks: acks})
}

// Close closes the socket.
func (s *Socket) Close() error { return s.c.Close(websocket.StatusNormalClosure, "") }

// CloseStatus reports the WebSocket close code in err, or -1.
func CloseStatus(err error) websocket.StatusCode { return websocket.CloseStatus(err) }
