package api

// Media (spec/api.md §10): resumable uploads of blobs, and blobs served by
// their SHA-256.

// HeaderUploadOffset carries an upload's offset: in a PATCH request, the
// offset its body starts at; in answers to PATCH, HEAD and GET of an
// upload, and with offset_mismatch, the upload's current offset. Decimal.
const HeaderUploadOffset = "Upload-Offset"

// UploadRequest is the body of POST /v1/uploads.
type UploadRequest struct {
	// Size is the blob's size in bytes, 1 to the server's MaxUpload.
	Size int64 `json:"size"`
	// SHA256 is the blob's SHA-256: 64 lowercase hex digits. It names the
	// blob, and the server checks it against the bytes it receives.
	SHA256 string `json:"sha256"`
	// ContentType is the blob's media type (RFC 6838, with parameters),
	// which GET /v1/blobs/{sha256} serves it as. A client uploading an
	// encrypted attachment sends application/octet-stream.
	ContentType string `json:"content_type"`
}

// UploadStatus is the state of an upload: the answer to POST, PATCH and
// GET of an upload.
type UploadStatus struct {
	// ID names the upload in /v1/uploads/{id}; empty when POST found the
	// blob stored already.
	ID string `json:"id"`
	// Offset is how many bytes the server holds durably; the next PATCH
	// starts there.
	Offset int64 `json:"offset"`
	Size   int64 `json:"size"`
	// Complete is true once the blob is stored: Offset == Size and the
	// SHA-256 matched.
	Complete bool `json:"complete"`
	// Blob is the blob's SHA-256 once Complete, for GET /v1/blobs/{sha256}.
	Blob string `json:"blob"`
	// Expires, in unix milliseconds: while incomplete, when the upload is
	// dropped unless a PATCH comes first; once complete, when the blob may
	// be deleted, 0 if it is kept without expiry.
	Expires int64 `json:"expires"`
}
