// Package transport is the Go client of parleyd's API (spec/api.md): typed
// calls for every HTTP endpoint and a WebSocket for envelopes. It moves
// opaque bytes; the end-to-end encryption happens above it, in client/.
// It builds for js/wasm as well.
package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/api/jsonbody"
)

// Client calls one server, optionally as one device.
type Client struct {
	base  string
	http  *http.Client
	creds *api.Credentials
	// bearer, if set, is the operator's token (Admin) and replaces the
	// device credentials.
	bearer string
}

// New returns a client of the server at baseURL (e.g. http://127.0.0.1:8080).
// httpClient may be nil.
func New(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), http: httpClient}
}

// As returns a copy of c that authenticates as the device of creds.
func (c *Client) As(creds api.Credentials) *Client {
	cc := *c
	cc.creds = &creds
	return &cc
}

func (c *Client) authorize(req *http.Request) {
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
		return
	}
	if c.creds != nil {
		req.SetBasicAuth(c.creds.Username+"."+strconv.FormatUint(uint64(c.creds.DeviceID), 10), c.creds.Secret)
	}
}

// roundTrip sends one request, with the device's credentials if auth,
// and turns a non-2xx answer into an *api.Error. The caller closes the
// body of a successful response.
func (c *Client) roundTrip(ctx context.Context, method, path string, body io.Reader, contentType string, auth bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		c.authorize(req)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// do sends a request with an optional JSON body and the device's
// credentials, and decodes a JSON answer into out (if not nil). A non-2xx
// answer becomes an *api.Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.call(ctx, method, path, in, out, true)
}

// call is do, with the credentials only if auth.
func (c *Client) call(ctx context.Context, method, path string, in, out any, auth bool) error {
	var (
		body        io.Reader
		contentType string
	)
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	resp, err := c.roundTrip(ctx, method, path, body, contentType, auth)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return jsonbody.DecodeResponse(resp.Body, out)
}

func decodeError(resp *http.Response) error {
	e := &api.Error{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if jsonbody.DecodeResponse(bytes.NewReader(b), e) != nil || e.Code == "" {
		e.Code, e.Message = api.CodeInternal, fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return e
}

// Register creates an account and its first device.
func (c *Client) Register(ctx context.Context, req api.RegisterRequest) (api.Credentials, error) {
	var out api.Credentials
	err := c.do(ctx, http.MethodPost, "/v1/accounts", req, &out)
	return out, err
}

// Recover gives the account req.Username a new identity key and a new
// first device with the account's recovery key; every old device of the
// account is removed (spec/api.md §4.3). The recovery key is the
// credential: no device credentials are sent.
func (c *Client) Recover(ctx context.Context, req api.RecoverRequest) (api.Credentials, error) {
	var out api.Credentials
	err := c.call(ctx, http.MethodPost, "/v1/accounts/recover", req, &out, false)
	return out, err
}

// UploadKeys adds or replaces the device's prekeys.
func (c *Client) UploadKeys(ctx context.Context, u api.PreKeyUpload) error {
	return c.do(ctx, http.MethodPut, "/v1/keys", u, nil)
}

// KeyCounts reports the device's remaining one-time prekeys.
func (c *Client) KeyCounts(ctx context.Context) (api.PreKeyCounts, error) {
	var out api.PreKeyCounts
	err := c.do(ctx, http.MethodGet, "/v1/keys/count", nil, &out)
	return out, err
}

// Bundles fetches one prekey bundle per device of username (or only
// device, if not 0), consuming one-time prekeys.
func (c *Client) Bundles(ctx context.Context, username string, device uint32) (api.Bundles, error) {
	var out api.Bundles
	p := "/v1/keys/" + url.PathEscape(username)
	if device != 0 {
		p += "?device=" + strconv.FormatUint(uint64(device), 10)
	}
	err := c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// Send stores one envelope per device of username. With req.Ephemeral
// it stores nothing: the server passes the envelopes to the devices
// connected at that moment, as Seq-0 deliveries, best effort.
func (c *Client) Send(ctx context.Context, username string, req api.SendRequest) (api.SendResponse, error) {
	var out api.SendResponse
	err := c.do(ctx, http.MethodPut, "/v1/messages/"+url.PathEscape(username), req, &out)
	return out, err
}

// Devices lists the account's devices.
func (c *Client) Devices(ctx context.Context) ([]api.DeviceInfo, error) {
	var out []api.DeviceInfo
	err := c.do(ctx, http.MethodGet, "/v1/devices", nil, &out)
	return out, err
}

// LinkToken makes a token with which one new device may join the account.
func (c *Client) LinkToken(ctx context.Context) (api.LinkToken, error) {
	var out api.LinkToken
	err := c.do(ctx, http.MethodPost, "/v1/devices/link-tokens", nil, &out)
	return out, err
}

// Link adds a new device with a link token.
func (c *Client) Link(ctx context.Context, req api.LinkRequest) (api.Credentials, error) {
	var out api.Credentials
	err := c.do(ctx, http.MethodPost, "/v1/devices", req, &out)
	return out, err
}

// RemoveDevice removes a device of the account.
func (c *Client) RemoveDevice(ctx context.Context, id uint32) error {
	return c.do(ctx, http.MethodDelete, "/v1/devices/"+strconv.FormatUint(uint64(id), 10), nil, nil)
}

// CreateProvisioning opens a provisioning mailbox.
func (c *Client) CreateProvisioning(ctx context.Context) (api.Provisioning, error) {
	var out api.Provisioning
	err := c.do(ctx, http.MethodPost, "/v1/provisioning", nil, &out)
	return out, err
}

// PutProvisioning writes the mailbox's one message.
func (c *Client) PutProvisioning(ctx context.Context, id string, body []byte) error {
	resp, err := c.roundTrip(ctx, http.MethodPut, "/v1/provisioning/"+url.PathEscape(id), bytes.NewReader(body), "", true)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// TakeProvisioning reads and deletes the mailbox's message; nil while
// empty. The mailbox ID is the capability, so no credentials are sent.
func (c *Client) TakeProvisioning(ctx context.Context, id string) ([]byte, error) {
	resp, err := c.roundTrip(ctx, http.MethodGet, "/v1/provisioning/"+url.PathEscape(id), nil, "", false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, api.MaxProvisioning))
}
