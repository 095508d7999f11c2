// Package blob stores parleyd's media: content-addressed blobs, each named
// by the SHA-256 of its bytes (64 lowercase hex digits), and the partial
// files of uploads in progress (spec/api.md §10).
//
// Store is the interface every backend implements; blobtest is the one
// conformance suite they all pass. The local subpackage keeps blobs as
// files under the data directory and is the embedded default. An S3
// backend is a later addition: it will map partial uploads onto S3
// multipart uploads and serve reads with ranged GETs.
//
// A blob is written whole or not at all, and only under the name of its
// own digest: a backend verifies the SHA-256 of every byte it stores
// before the blob becomes visible. It never holds a whole blob in memory.
// The bytes are opaque here: private-chat attachments are encrypted by the
// clients; this package neither knows nor cares.
//
// What a blob is for, who uploaded it and when it expires is the server
// store's business (server/store), not this package's.
package blob

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"
)

// Errors a backend returns (wrapped or bare) and callers branch on with
// errors.Is.
var (
	ErrNotFound       = errors.New("blob: not found")
	ErrInvalidName    = errors.New("blob: invalid digest or upload ID")
	ErrDigestMismatch = errors.New("blob: SHA-256 does not match")
	ErrSizeMismatch   = errors.New("blob: size does not match")
	// ErrOffset: Append at an offset past what the partial upload holds.
	ErrOffset = errors.New("blob: offset past the end of the partial upload")
)

// Info describes a stored blob.
type Info struct {
	SHA256  string // lowercase hex
	Size    int64
	ModTime time.Time // when it was stored
}

// Partial describes the stored part of an upload in progress.
type Partial struct {
	ID      string
	Size    int64 // bytes stored so far
	ModTime time.Time
}

// Store keeps blobs and partial uploads.
//
// What holds for every method:
//   - All methods are safe for concurrent use and take ctx first. A blob
//     name that is not 64 lowercase hex digits, or an upload ID that is
//     not 1–64 characters of base64url (A–Z a–z 0–9 - _), is
//     ErrInvalidName.
//   - A method that returns without error has made its change durable.
//   - Writes of one blob are atomic: a reader sees the whole blob or
//     ErrNotFound, never part of one. Two writers of the same blob both
//     succeed (the bytes are the same, by their digest).
//   - Append, Commit and Abort of one upload must not run concurrently
//     with each other; the caller serialises them (the server holds a lock
//     per upload). Different uploads are independent.
type Store interface {
	// Create stores the size bytes read from r as the blob named sum. It
	// reads r to EOF or to one byte past size, whichever is first:
	// ErrSizeMismatch if r holds fewer or more than size bytes,
	// ErrDigestMismatch if their SHA-256 is not sum; then nothing is
	// stored. If the blob exists, it is replaced by the same bytes. An
	// error reading r is returned wrapped, and nothing is stored.
	Create(ctx context.Context, sum string, size int64, r io.Reader) error
	// Open opens a blob for reading. The reader also seeks, so that
	// http.ServeContent can serve ranges of it; the caller closes it. A
	// blob deleted while open stays readable through the open reader.
	Open(ctx context.Context, sum string) (io.ReadSeekCloser, Info, error)
	// Stat describes a blob (ErrNotFound if there is none).
	Stat(ctx context.Context, sum string) (Info, error)
	// Delete removes a blob (ErrNotFound if there is none).
	Delete(ctx context.Context, sum string) error
	// List yields every stored blob once, in no particular order, for
	// cleanup; blobs created or deleted meanwhile may or may not appear.
	// An error ends the sequence.
	List(ctx context.Context) iter.Seq2[Info, error]

	// Append writes r, up to EOF, to the partial upload id from offset on,
	// creating it if offset is 0 and it does not exist. What the partial
	// held past offset is discarded first, so a client that resumes from
	// an offset the server recorded overwrites whatever an interrupted
	// request left after it. ErrOffset if the partial holds fewer than
	// offset bytes (ErrNotFound if it does not exist and offset > 0).
	//
	// It returns the partial's new length, made durable. On an error
	// reading r, or once ctx ends, it keeps what it has written, makes it
	// durable and returns that length with the error: the caller records
	// it and the client resumes from there. Only if it cannot make the new
	// bytes durable does it return offset itself.
	Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error)
	// Commit turns the partial upload id into the blob sum: the partial
	// must hold exactly size bytes (ErrSizeMismatch otherwise, and the
	// partial stays) whose SHA-256 is sum. ErrDigestMismatch if it is not:
	// the partial is then deleted. ErrNotFound if there is no partial. If
	// the blob exists already, the partial is deleted and the blob stays.
	Commit(ctx context.Context, id, sum string, size int64) error
	// Abort deletes what is stored of the partial upload id; an upload
	// with nothing stored is not an error.
	Abort(ctx context.Context, id string) error
	// Partials yields every partial upload once, for cleanup, like List.
	Partials(ctx context.Context) iter.Seq2[Partial, error]
}

// ValidSum reports whether s is a blob name: 64 lowercase hex digits.
func ValidSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ValidUploadID reports whether s can name a partial upload: 1–64
// characters of the base64url alphabet.
func ValidUploadID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
