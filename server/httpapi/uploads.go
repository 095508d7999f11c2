package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/api"
	"github.com/parley-chat/parley/server/blob"
	"github.com/parley-chat/parley/server/store"
)

// Resumable uploads (spec/api.md §10.1–10.3). POST names the blob by its
// size and SHA-256 and gets an upload ID; PATCHes send its bytes from the
// offset the server holds; the PATCH that brings the offset to the size
// has the SHA-256 checked and the blob stored. An upload's bytes are
// streamed to its partial file (blob.Store.Append), never held in memory,
// and each PATCH makes what it received durable even if its body breaks
// off, so the client asks for the offset and resumes.

const maxContentType = 255

var (
	errBadOffset = apiError(http.StatusBadRequest, api.CodeBadRequest,
		"The Upload-Offset header must be a non-negative decimal integer.")
	errBodyBroken = apiError(http.StatusBadRequest, api.CodeBadRequest,
		"The body ended early; what arrived is kept: ask for the offset and resume.")
	errBodyPastSize = apiError(http.StatusRequestEntityTooLarge, api.CodeTooLarge,
		"The body is longer than the rest of the upload; nothing of it was kept.")
	errBlobSizeConflict = apiError(http.StatusUnprocessableEntity, api.CodeDigestMismatch,
		"A blob with this SHA-256 is stored with another size.")
)

// createUpload is POST /v1/uploads.
func (h *Handler) createUpload(w http.ResponseWriter, r *http.Request) error {
	if h.opts.Blobs == nil {
		return errNoMedia
	}
	var req api.UploadRequest
	if err := readJSON(w, r, &req); err != nil {
		return err
	}
	ctype, err := h.checkUploadRequest(req)
	if err != nil {
		return err
	}
	ctx, p, now := r.Context(), callerOf(r), h.opts.Now()
	if st, stored, err := h.claimStored(ctx, p, req, now); err != nil {
		return err
	} else if stored {
		writeUploadStatus(w, http.StatusOK, st)
		return nil
	}
	var id [16]byte
	rand.Read(id[:])
	u := store.Upload{ID: base64.RawURLEncoding.EncodeToString(id[:]), AccountID: p.account.ID, DeviceID: p.device.ID,
		SHA256: req.SHA256, Size: req.Size, ContentType: ctype, Created: now, Expires: now.Add(uploadTTL)}
	if err := h.store.CreateUpload(ctx, u, h.storageQuota()); errors.Is(err, store.ErrQuotaExceeded) {
		return errQuota
	} else if err != nil {
		return err
	}
	writeUploadStatus(w, http.StatusCreated, uploadStatus(u))
	return nil
}

// checkUploadRequest checks a POST's body and returns its content type in
// canonical form (lowercase type and parameter names).
func (h *Handler) checkUploadRequest(req api.UploadRequest) (string, error) {
	bad := func(msg string) error { return apiError(http.StatusBadRequest, api.CodeBadRequest, msg) }
	switch {
	case !blob.ValidSum(req.SHA256):
		return "", bad("sha256 must be 64 lowercase hex digits.")
	case req.Size < 1:
		return "", bad("size must be at least 1.")
	case req.Size > h.maxUpload():
		return "", apiError(http.StatusRequestEntityTooLarge, api.CodeTooLarge,
			fmt.Sprintf("The blob is larger than this server's upload limit of %d bytes.", h.maxUpload()))
	case len(req.ContentType) > maxContentType:
		return "", bad("content_type is too long.")
	}
	mt, params, err := mime.ParseMediaType(req.ContentType)
	if err != nil || !strings.Contains(mt, "/") {
		return "", bad("content_type is not a media type.")
	}
	ct := mime.FormatMediaType(mt, params)
	if ct == "" || len(ct) > maxContentType {
		return "", bad("content_type is not a media type.")
	}
	return ct, nil
}

// claimStored makes the caller an owner of the blob req names if it is
// stored already, and reports whether it was.
func (h *Handler) claimStored(ctx context.Context, p *principal, req api.UploadRequest, now time.Time) (api.UploadStatus, bool, error) {
	b, err := h.store.Blob(ctx, req.SHA256)
	switch {
	case isNotFound(err) || err == nil && b.Expired(now):
		return api.UploadStatus{}, false, nil
	case err != nil:
		return api.UploadStatus{}, false, err
	case b.Size != req.Size:
		return api.UploadStatus{}, false, errBlobSizeConflict
	}
	if _, err := h.opts.Blobs.Stat(ctx, req.SHA256); errors.Is(err, blob.ErrNotFound) {
		return api.UploadStatus{}, false, nil // the bytes are lost: an upload puts them back
	} else if err != nil {
		return api.UploadStatus{}, false, err
	}
	b, err = h.store.ClaimBlob(ctx, p.account.ID, req.SHA256, now.Add(blobTTL), h.storageQuota(), now)
	switch {
	case isNotFound(err): // expired meanwhile
		return api.UploadStatus{}, false, nil
	case errors.Is(err, store.ErrQuotaExceeded):
		return api.UploadStatus{}, false, errQuota
	case err != nil:
		return api.UploadStatus{}, false, err
	}
	h.metrics.media.blobsStored.WithLabelValues(storedDeduplicated).Inc()
	return blobStatus("", b), true, nil
}

func writeUploadStatus(w http.ResponseWriter, status int, st api.UploadStatus) {
	w.Header().Set(api.HeaderUploadOffset, strconv.FormatInt(st.Offset, 10))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, st)
}

// offsetMismatch is the 409 for a PATCH at another offset than the
// upload's, which it names in the header and the message.
func offsetMismatch(w http.ResponseWriter, cur int64) error {
	w.Header().Set(api.HeaderUploadOffset, strconv.FormatInt(cur, 10))
	return apiError(http.StatusConflict, api.CodeOffsetMismatch,
		fmt.Sprintf("The upload's offset is %d; send the bytes from there.", cur))
}

// ownUpload returns the caller's upload id, unexpired at now; another
// account's upload is not found, as an unknown one.
func (h *Handler) ownUpload(ctx context.Context, p *principal, id string, now time.Time) (store.Upload, error) {
	if !blob.ValidUploadID(id) {
		return store.Upload{}, errNotFound
	}
	u, err := h.store.Upload(ctx, id)
	if err != nil {
		return store.Upload{}, err
	}
	if u.AccountID != p.account.ID || !u.Expires.After(now) {
		return store.Upload{}, errNotFound
	}
	return u, nil
}

// parseOffset reads a canonical non-negative decimal.
func parseOffset(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0 && strconv.FormatInt(n, 10) == s
}

// getUpload is GET and HEAD /v1/uploads/{id}: the upload's status, its
// offset also in the Upload-Offset header. If a PATCH of the upload is in
// flight, it waits a little for it, so that a client that has just lost a
// connection hears what the server kept of it.
func (h *Handler) getUpload(w http.ResponseWriter, r *http.Request) error {
	if h.opts.Blobs == nil {
		return errNoMedia
	}
	id := r.PathValue("id")
	wctx, cancel := context.WithTimeout(r.Context(), statusWait)
	h.media.uploads.wait(wctx, id)
	cancel()
	u, err := h.ownUpload(r.Context(), callerOf(r), id, h.opts.Now())
	if err != nil {
		return err
	}
	writeUploadStatus(w, http.StatusOK, uploadStatus(u))
	return nil
}

// patchUpload is PATCH /v1/uploads/{id}.
func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request) error {
	if h.opts.Blobs == nil {
		return errNoMedia
	}
	id := r.PathValue("id")
	offset, ok := parseOffset(r.Header.Get(api.HeaderUploadOffset))
	if !ok {
		return errBadOffset
	}
	body := newChunkReader(w, r.Body)
	// A newer PATCH of the same upload takes over from one in flight: its
	// client has most likely given up on that one.
	unlock, err := h.media.uploads.lock(r.Context(), id, body.interrupt, true)
	if err != nil {
		return err
	}
	defer unlock()
	if h.uploadsStopping() { // StopUploads ran before this PATCH held the lock
		return errStopping
	}
	ctx := r.Context()
	u, err := h.ownUpload(ctx, callerOf(r), id, h.opts.Now())
	if err != nil {
		return err
	}
	if offset != u.Offset {
		return offsetMismatch(w, u.Offset)
	}
	rest := u.Size - u.Offset
	if r.ContentLength > rest {
		w.Header().Set(api.HeaderUploadOffset, strconv.FormatInt(u.Offset, 10))
		return errBodyPastSize
	}
	if rest > 0 {
		body.remain = rest
		if u, err = h.receive(w, r, u, body); err != nil {
			return err
		}
	}
	if u.Offset < u.Size {
		writeUploadStatus(w, http.StatusOK, uploadStatus(u))
		return nil
	}
	return h.finishUpload(w, r, u)
}

// receive appends the body to the upload and records how far it got. A
// body that breaks off keeps what arrived; the error says why it stopped.
func (h *Handler) receive(w http.ResponseWriter, r *http.Request, u store.Upload, body *chunkReader) (store.Upload, error) {
	n, aerr := h.opts.Blobs.Append(r.Context(), u.ID, u.Offset, body)
	if errors.Is(aerr, errOverflow) {
		// Not recorded: the next Append cuts the partial back.
		w.Header().Set(api.HeaderUploadOffset, strconv.FormatInt(u.Offset, 10))
		return u, errBodyPastSize
	}
	if n > u.Offset {
		// Record it even if the client is gone: the bytes are durable.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
		exp := h.opts.Now().Add(uploadTTL)
		err := h.store.AdvanceUpload(ctx, u.ID, u.Offset, n, exp)
		cancel()
		if err != nil {
			return u, err
		}
		h.metrics.media.uploadBytes.Add(float64(n - u.Offset))
		u.Offset, u.Expires = n, exp
	}
	if aerr == nil {
		return u, nil
	}
	w.Header().Set(api.HeaderUploadOffset, strconv.FormatInt(u.Offset, 10))
	switch stopped, readErr := body.outcome(); {
	case stopped && h.uploadsStopping():
		return u, errStopping
	case stopped:
		return u, offsetMismatch(w, u.Offset) // a newer PATCH took over
	case readErr != nil, r.Context().Err() != nil:
		return u, errBodyBroken
	}
	return u, aerr // writing failed: internal, logged
}

// finishUpload verifies a fully received upload and stores its blob. It
// goes on if the client leaves meanwhile: the bytes are all there.
func (h *Handler) finishUpload(w http.ResponseWriter, r *http.Request, u store.Upload) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Minute)
	defer cancel()
	unlock, err := h.media.blobs.lock(ctx, u.SHA256, nil, false)
	if err != nil {
		return err
	}
	defer unlock()
	err = h.opts.Blobs.Commit(ctx, u.ID, u.SHA256, u.Size)
	switch {
	case errors.Is(err, blob.ErrDigestMismatch):
		if err := h.store.DeleteUpload(ctx, u.ID); err != nil && !isNotFound(err) {
			return err
		}
		return errDigest
	case errors.Is(err, blob.ErrNotFound):
		// An earlier Commit of this upload stored the bytes and the row
		// was not written (a crash, a store failure): the blob holds them.
		if _, serr := h.opts.Blobs.Stat(ctx, u.SHA256); serr != nil {
			return err
		}
	case err != nil:
		return err
	}
	now := h.opts.Now()
	b, err := h.store.CommitUpload(ctx, u.ID, now, now.Add(blobTTL))
	if err != nil {
		return err
	}
	h.metrics.media.blobsStored.WithLabelValues(storedUploaded).Inc()
	writeUploadStatus(w, http.StatusOK, blobStatus(u.ID, b))
	return nil
}

var (
	errOverflow    = errors.New("httpapi: upload body longer than the upload")
	errInterrupted = errors.New("httpapi: upload body interrupted")
)

// chunkReader is a PATCH body as Append reads it. It passes at most
// remain bytes and then fails with errOverflow if the body has more; it
// moves the connection's read deadline on while bytes keep coming (the
// server's 60-second request limit would cut any large upload); and it
// can be interrupted from another goroutine, which makes the blocked read
// fail at once.
type chunkReader struct {
	body   io.Reader
	rc     *http.ResponseController
	remain int64 // set before the first Read

	mu       sync.Mutex // guards the fields below and the read deadline
	stopped  bool
	extended time.Time // when the deadline was last moved
	readErr  error     // the body's own error, if it broke
}

func newChunkReader(w http.ResponseWriter, body io.Reader) *chunkReader {
	return &chunkReader{body: body, rc: http.NewResponseController(w)}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return 0, errInterrupted
	}
	if now := time.Now(); now.Sub(c.extended) >= time.Second {
		_ = c.rc.SetReadDeadline(now.Add(uploadIdle)) // not supported: the server's own timeout stays
		c.extended = now
	}
	c.mu.Unlock()
	if c.remain <= 0 {
		var one [1]byte
		if n, _ := io.ReadFull(c.body, one[:]); n > 0 {
			return 0, errOverflow
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.remain {
		p = p[:c.remain]
	}
	n, err := c.body.Read(p)
	c.remain -= int64(n)
	if err != nil && err != io.EOF {
		c.mu.Lock()
		if c.stopped {
			err = errInterrupted
		} else {
			c.readErr = err
		}
		c.mu.Unlock()
	}
	return n, err
}

// interrupt makes the current and every later Read fail.
func (c *chunkReader) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	_ = c.rc.SetReadDeadline(time.Unix(1, 0))
}

// outcome reports whether the reader was interrupted, and the body's own
// error if it broke.
func (c *chunkReader) outcome() (stopped bool, readErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped, c.readErr
}
