package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/parley-chat/parley/server/blob"
)

// getBlob is GET and HEAD /v1/blobs/{sha256} (spec/api.md §10.4). It needs
// no credentials: a blob's name is the SHA-256 of its bytes, which only
// those who have the bytes or were given the name know, and private-chat
// attachments are encrypted by the clients. http.ServeContent answers
// ranges, If-Range and the conditional requests against the ETag, which
// is the digest itself: a blob's bytes never change. The Range header is
// checked and bounded first (sanitizeRange).
func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request) error {
	if h.opts.Blobs == nil {
		return errNoMedia
	}
	sum := r.PathValue("sha256")
	if !blob.ValidSum(sum) {
		return errNotFound
	}
	ctx := r.Context()
	b, err := h.store.Blob(ctx, sum)
	if err != nil {
		return err
	}
	if b.Expired(h.opts.Now()) {
		return errNotFound
	}
	f, info, err := h.opts.Blobs.Open(ctx, sum)
	if errors.Is(err, blob.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if info.Size != b.Size {
		return fmt.Errorf("httpapi: blob %s holds %d bytes, its row says %d", sum, info.Size, b.Size)
	}
	hd := w.Header()
	hd.Set("Content-Type", b.ContentType)
	hd.Set("ETag", `"`+sum+`"`)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("X-Content-Type-Options", "nosniff")
	// Whatever the content type, a blob opened as a page runs nothing.
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	sanitizeRange(r, b.Size)
	http.ServeContent(readFromWriter(w), r, "", b.Created, f)
	return nil
}

// readFromWriter lets http.ServeContent's copy reach the connection's
// ReadFrom, and so sendfile(2), through the statusWriter that handle
// wraps every response in.
func readFromWriter(w http.ResponseWriter) http.ResponseWriter {
	if sw, ok := w.(*statusWriter); ok {
		return sendfileWriter{sw}
	}
	return w
}

type sendfileWriter struct{ *statusWriter }

func (w sendfileWriter) ReadFrom(r io.Reader) (int64, error) {
	w.wrote = true
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
}
