package store

import (
	"context"
	"errors"
	"time"
)

// Errors of the media methods (BlobStore).
var (
	// ErrQuotaExceeded: the account's stored and reserved bytes would
	// pass its quota.
	ErrQuotaExceeded = errors.New("store: storage quota exceeded")
	// ErrOffsetMismatch: an upload's offset is not the one the caller
	// assumed.
	ErrOffsetMismatch = errors.New("store: upload offset mismatch")
)

// Blob is what the server knows of one stored blob (spec/api.md §10); its
// bytes are in server/blob, under its SHA-256.
type Blob struct {
	SHA256      string // 64 lowercase hex digits
	Size        int64
	ContentType string // as given at its first upload
	Created     time.Time
	// Expires is when the janitor may delete it; zero while it is
	// retained (RetainBlob). It has expired at now if Expires <= now.
	Expires time.Time
	// Retained counts RetainBlob calls not yet released.
	Retained int
}

// Expired reports whether b has expired at now.
func (b Blob) Expired(now time.Time) bool {
	return !b.Expires.IsZero() && !b.Expires.After(now)
}

// Upload is an upload in progress: the server receives Size bytes that
// must hash to SHA256, and has made the first Offset of them durable.
type Upload struct {
	ID          string
	AccountID   int64
	DeviceID    uint32 // the device that created it (informational)
	SHA256      string
	Size        int64
	ContentType string
	Offset      int64
	Created     time.Time
	Expires     time.Time // it has expired at now if Expires <= now
}

// BlobStore is the media part of Store: blobs' metadata, which account
// uploaded which blob (for quotas), and uploads in progress. The rules
// written on Store hold here too.
//
// Storage an account uses, for its quota, at a time now: the sizes of the
// blobs it uploaded that have not expired at now (a blob uploaded by two
// accounts counts for each), plus the full sizes of its uploads in
// progress that have not expired at now.
type BlobStore interface {
	// CreateUpload stores a new upload in progress with u.Offset 0, if the
	// account's storage at u.Created plus u.Size is at most quota
	// (ErrQuotaExceeded otherwise). ErrExists if the ID is taken,
	// ErrNotFound for an unknown account.
	CreateUpload(ctx context.Context, u Upload, quota int64) error
	// Upload returns an upload in progress, expired or not, until
	// DeleteUpload or CommitUpload removes it (ErrNotFound after).
	Upload(ctx context.Context, id string) (Upload, error)
	// AdvanceUpload moves the upload's offset from from to to (from <= to
	// <= its size) and sets its expiry. ErrOffsetMismatch if its offset is
	// not from; ErrNotFound for an unknown upload.
	AdvanceUpload(ctx context.Context, id string, from, to int64, expires time.Time) error
	// DeleteUpload deletes an upload in progress (ErrNotFound if unknown).
	DeleteUpload(ctx context.Context, id string) error
	// ExpiredUploads lists up to limit uploads that have expired at now.
	ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]string, error)
	// CommitUpload turns a finished upload into a blob, in one
	// transaction: the upload (ErrNotFound if unknown; ErrOffsetMismatch
	// unless its offset is its size) is deleted; the blob of its SHA256 is
	// stored with its size and content type, created at created, expiring
	// at expires; and its account becomes an owner of the blob. If the
	// blob is stored already, expired or not, it keeps its content type
	// and creation time, and its expiry becomes the later of its own and
	// expires (a retained blob stays retained). Returns the blob as stored.
	CommitUpload(ctx context.Context, id string, created, expires time.Time) (Blob, error)

	// Blob returns a stored blob, expired or not, until DeleteExpiredBlob
	// removes it (ErrNotFound after).
	Blob(ctx context.Context, sha256 string) (Blob, error)
	// ClaimBlob makes an account an owner of a blob that has not expired
	// at now (ErrNotFound otherwise), as a finished upload of the same
	// bytes would: its expiry becomes the later of its own and expires.
	// If the account did not own the blob, its storage at now plus the
	// blob's size must be at most quota (ErrQuotaExceeded otherwise,
	// changing nothing). ErrNotFound for an unknown account. Returns the
	// blob as stored.
	ClaimBlob(ctx context.Context, accountID int64, sha256 string, expires time.Time, quota int64, now time.Time) (Blob, error)
	// RetainBlob keeps a stored blob, expired or not, without expiry
	// (retain), or releases one such hold (!retain). Holds count: the blob
	// keeps no expiry until every hold is released, and then takes again
	// the expiry its uploads gave it (which may have passed: the janitor
	// then deletes it). Releasing a blob that is not held changes nothing.
	// ErrNotFound for a blob not stored. Channel posts call it for the
	// media they show.
	RetainBlob(ctx context.Context, sha256 string, retain bool) error
	// ExpiredBlobs lists up to limit blobs that have expired at now.
	ExpiredBlobs(ctx context.Context, now time.Time, limit int) ([]string, error)
	// DeleteExpiredBlob deletes a blob and its ownerships if it has
	// expired at now; ErrNotFound if it is not stored or has not expired
	// (retained, or its expiry moved). The caller deletes its bytes after.
	DeleteExpiredBlob(ctx context.Context, sha256 string, now time.Time) error
	// StorageUsed reports an account's storage at now, in bytes (0 for an
	// unknown account).
	StorageUsed(ctx context.Context, accountID int64, now time.Time) (int64, error)
}
