package transport

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/api/jsonbody"
)

// Media (spec/api.md §10): resumable uploads and blob downloads.
//
// An upload: CreateUpload with the blob's size, SHA-256 and content type;
// then UploadChunk from the returned offset until the status is Complete.
// After a failed chunk, UploadStatus gives the offset the server kept, and
// the next chunk starts there. In the browser (js/wasm) a request body is
// read into memory before it is sent, so chunks there should be a few MiB.

// CreateUpload starts an upload. If the server stores the blob already,
// the status is Complete at once (with no ID) and the account owns the
// blob as if it had uploaded it.
func (c *Client) CreateUpload(ctx context.Context, req api.UploadRequest) (api.UploadStatus, error) {
	var out api.UploadStatus
	err := c.do(ctx, http.MethodPost, "/v1/uploads", req, &out)
	return out, err
}

// UploadChunk sends body as the upload's bytes from offset on, streamed,
// and returns the upload's new status; the one that completes it has the
// blob's SHA-256 checked (api.CodeDigestMismatch if it does not match:
// the upload is gone). With api.CodeOffsetMismatch the returned status's
// Offset is the server's offset, to resume from; on other errors the
// status is empty.
func (c *Client) UploadChunk(ctx context.Context, id string, offset int64, body io.Reader) (api.UploadStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, c.base+"/v1/uploads/"+url.PathEscape(id), body)
	if err != nil {
		return api.UploadStatus{}, err
	}
	req.Header.Set(api.HeaderUploadOffset, strconv.FormatInt(offset, 10))
	req.Header.Set("Content-Type", "application/octet-stream")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return api.UploadStatus{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		err := decodeError(resp)
		var st api.UploadStatus
		if ae, ok := err.(*api.Error); ok && ae.Code == api.CodeOffsetMismatch {
			if n, perr := strconv.ParseInt(resp.Header.Get(api.HeaderUploadOffset), 10, 64); perr == nil {
				st = api.UploadStatus{ID: id, Offset: n}
			}
		}
		return st, err
	}
	var out api.UploadStatus
	if err := jsonbody.DecodeResponse(resp.Body, &out); err != nil {
		return api.UploadStatus{}, err
	}
	return out, nil
}

// UploadStatus returns an upload's status: the offset to resume from. A
// completed upload is gone (api.CodeNotFound); CreateUpload with the same
// request then finds its blob stored.
func (c *Client) UploadStatus(ctx context.Context, id string) (api.UploadStatus, error) {
	var out api.UploadStatus
	err := c.do(ctx, http.MethodGet, "/v1/uploads/"+url.PathEscape(id), nil, &out)
	return out, err
}

// BlobURL is the URL a blob is served at, without credentials.
func (c *Client) BlobURL(sha256 string) string {
	return c.base + "/v1/blobs/" + url.PathEscape(sha256)
}

// DownloadBlob reads a blob from offset on (a Range request when offset >
// 0), to resume a download. It returns the body, which the caller closes,
// and the blob's total size (-1 if the server did not say). An offset at
// the end of the blob gives an empty body.
func (c *Client) DownloadBlob(ctx context.Context, sha256 string, offset int64) (io.ReadCloser, int64, error) {
	if offset < 0 {
		return nil, 0, fmt.Errorf("transport: download blob: negative offset %d", offset)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BlobURL(sha256), nil)
	if err != nil {
		return nil, 0, err
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if offset > 0 { // the range was not applied: skip to it
			if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
				resp.Body.Close()
				return nil, 0, fmt.Errorf("transport: download blob: skipping to %d: %w", offset, err)
			}
		}
		return resp.Body, resp.ContentLength, nil
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("transport: download blob: unexpected Content-Range %q for offset %d", resp.Header.Get("Content-Range"), offset)
		}
		return resp.Body, total, nil
	case http.StatusRequestedRangeNotSatisfiable:
		resp.Body.Close()
		_, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if ok && total == offset {
			return io.NopCloser(strings.NewReader("")), total, nil
		}
		return nil, 0, fmt.Errorf("transport: download blob: offset %d is past the end (%d bytes)", offset, total)
	}
	defer resp.Body.Close()
	return nil, 0, decodeError(resp)
}

// parseContentRange reads "bytes START-END/TOTAL" or "bytes */TOTAL"
// (RFC 9110 §14.4); start is -1 in the second form, total -1 for "*".
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, size, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	total = -1
	if size != "*" {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false
		}
		total = n
	}
	if rng == "*" {
		return -1, total, true
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil || n < 0 {
		return 0, 0, false
	}
	return n, total, true
}
