package transport

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/api/jsonbody"
)

// Channels (spec/api.md §11).

// CreateChannel creates a channel with its signed profile record.
func (c *Client) CreateChannel(ctx context.Context, req api.CreateChannelRequest) (api.ChannelInfo, error) {
	var out api.ChannelInfo
	err := c.do(ctx, http.MethodPost, "/v1/channels", req, &out)
	return out, err
}

// Channel describes a channel.
func (c *Client) Channel(ctx context.Context, handle string) (api.ChannelInfo, error) {
	var out api.ChannelInfo
	err := c.do(ctx, http.MethodGet, "/v1/channels/"+url.PathEscape(handle), nil, &out)
	return out, err
}

// SearchChannels finds channels by handle or title.
func (c *Client) SearchChannels(ctx context.Context, query string) ([]api.ChannelInfo, error) {
	var out api.ChannelList
	err := c.do(ctx, http.MethodGet, "/v1/channels?q="+url.QueryEscape(query), nil, &out)
	return out.Channels, err
}

// ServerInfo reads the server's operator key (GET /v1/server).
func (c *Client) ServerInfo(ctx context.Context) (api.ServerInfo, error) {
	var out api.ServerInfo
	err := c.do(ctx, http.MethodGet, "/v1/server", nil, &out)
	return out, err
}

// Following lists the channels the account follows.
func (c *Client) Following(ctx context.Context) ([]api.ChannelInfo, error) {
	var out api.ChannelList
	err := c.do(ctx, http.MethodGet, "/v1/following", nil, &out)
	return out.Channels, err
}

// PostRecord publishes a signed record.
func (c *Client) PostRecord(ctx context.Context, handle string, record []byte) (api.PostResult, error) {
	resp, err := c.roundTrip(ctx, http.MethodPost, "/v1/channels/"+url.PathEscape(handle)+"/records", bytes.NewReader(record), "application/octet-stream", true)
	if err != nil {
		return api.PostResult{}, err
	}
	defer resp.Body.Close()
	var out api.PostResult
	return out, jsonbody.DecodeResponse(resp.Body, &out)
}

// RecordQuery selects a page of records: after a Seq, ascending (After 0
// starts at the beginning); or, with Newest, descending from the newest
// (before Before, if not 0). Kind, if not 0, selects one kind, ascending.
type RecordQuery struct {
	After, Before uint64
	Newest        bool
	Kind          uint8
	Limit         int
}

// Records fetches a page of a channel's records.
func (c *Client) Records(ctx context.Context, handle string, q RecordQuery) (api.ChannelRecords, error) {
	v := url.Values{}
	if !q.Newest {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Newest && q.Before != 0 {
		v.Set("before", strconv.FormatUint(q.Before, 10))
	}
	if q.Kind != 0 {
		v.Set("kind", strconv.Itoa(int(q.Kind)))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out api.ChannelRecords
	err := c.do(ctx, http.MethodGet, "/v1/channels/"+url.PathEscape(handle)+"/records?"+v.Encode(), nil, &out)
	return out, err
}

// Follow follows a channel.
func (c *Client) Follow(ctx context.Context, handle string) error {
	return c.do(ctx, http.MethodPut, "/v1/channels/"+url.PathEscape(handle)+"/follow", nil, nil)
}

// Unfollow stops following a channel.
func (c *Client) Unfollow(ctx context.Context, handle string) error {
	return c.do(ctx, http.MethodDelete, "/v1/channels/"+url.PathEscape(handle)+"/follow", nil, nil)
}

// SetChannelAdmin makes username an admin of the channel, or not.
func (c *Client) SetChannelAdmin(ctx context.Context, handle, username string, admin bool) error {
	m := http.MethodDelete
	if admin {
		m = http.MethodPut
	}
	return c.do(ctx, m, "/v1/channels/"+url.PathEscape(handle)+"/admins/"+url.PathEscape(username), nil, nil)
}

// AddViews counts one view of each record.
func (c *Client) AddViews(ctx context.Context, handle string, ids [][]byte) error {
	return c.do(ctx, http.MethodPost, "/v1/channels/"+url.PathEscape(handle)+"/views", api.ViewsRequest{IDs: ids}, nil)
}

// Report reports a channel or one of its records to the operator.
func (c *Client) Report(ctx context.Context, req api.ReportRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/reports", req, nil)
}

// ChannelAdmins lists a channel's admins (owner only).
func (c *Client) ChannelAdmins(ctx context.Context, handle string) ([]string, error) {
	var out api.ChannelAdmins
	err := c.do(ctx, http.MethodGet, "/v1/channels/"+url.PathEscape(handle)+"/admins", nil, &out)
	return out.Admins, err
}
