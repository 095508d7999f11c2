package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// Media (migration 0003): blobs, blob_owners and uploads. A blob's expires
// is NULL exactly while it is retained; upload_expires remembers the
// expiry its uploads gave it, for when the last retention is released.

const blobColumns = "sha256, size, content_type, created, expires, retained"

func scanBlob(row interface{ Scan(...any) error }) (store.Blob, error) {
	var (
		b                store.Blob
		created          int64
		expires          sql.NullInt64
		retained, size64 int64
	)
	err := row.Scan(&b.SHA256, &size64, &b.ContentType, &created, &expires, &retained)
	if errors.Is(err, sql.ErrNoRows) {
		return b, store.ErrNotFound
	}
	if err != nil {
		return b, err
	}
	b.Size, b.Created, b.Retained = size64, fromMillis(created), int(retained)
	if expires.Valid {
		b.Expires = fromMillis(expires.Int64)
	}
	return b, nil
}

const uploadColumns = "id, account_id, device_id, sha256, size, content_type, received, created, expires"

func scanUpload(row interface{ Scan(...any) error }) (store.Upload, error) {
	var (
		u                store.Upload
		created, expires int64
	)
	err := row.Scan(&u.ID, &u.AccountID, &u.DeviceID, &u.SHA256, &u.Size, &u.ContentType, &u.Offset, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return u, store.ErrNotFound
	}
	if err != nil {
		return u, err
	}
	u.Created, u.Expires = fromMillis(created), fromMillis(expires)
	return u, nil
}

// storageUsedQuery is an account's storage at a time (store.BlobStore):
// ?1 the account, ?2 now in unix ms.
const storageUsedQuery = `SELECT
	(SELECT COALESCE(SUM(b.size), 0) FROM blob_owners o JOIN blobs b ON b.sha256 = o.sha256
		WHERE o.account_id = ?1 AND (b.expires IS NULL OR b.expires > ?2))
	+ (SELECT COALESCE(SUM(size), 0) FROM uploads WHERE account_id = ?1 AND expires > ?2)`

// withinQuota checks, in the writer's transaction, that the account's
// storage at now plus more bytes stays within quota.
func withinQuota(t *wtx, accountID int64, now time.Time, more, quota int64) error {
	var used int64
	if err := t.queryRow(storageUsedQuery, accountID, toMillis(now)).Scan(&used); err != nil {
		return err
	}
	if more > quota || used > quota-more {
		return store.ErrQuotaExceeded
	}
	return nil
}

// CreateUpload implements store.Store. A zero Created means now.
func (s *Store) CreateUpload(ctx context.Context, u store.Upload, quota int64) error {
	u.Created = stamp(u.Created)
	return s.write(ctx, "create upload", 0, func(t *wtx) error {
		if err := withinQuota(t, u.AccountID, u.Created, u.Size, quota); err != nil {
			return err
		}
		_, err := t.exec("INSERT INTO uploads ("+uploadColumns+") VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
			u.ID, u.AccountID, u.DeviceID, u.SHA256, u.Size, u.ContentType, toMillis(u.Created), toMillis(u.Expires))
		switch {
		case isUniqueViolation(err):
			return store.ErrExists
		case isForeignKeyViolation(err):
			return store.ErrNotFound
		}
		return err
	})
}

// Upload implements store.Store.
func (s *Store) Upload(ctx context.Context, id string) (store.Upload, error) {
	const op = "upload"
	if err := s.readable(op); err != nil {
		return store.Upload{}, err
	}
	u, err := scanUpload(s.rdb.QueryRowContext(ctx, "SELECT "+uploadColumns+" FROM uploads WHERE id = ?", id))
	if err != nil {
		return store.Upload{}, s.wrap(op, err)
	}
	return u, nil
}

// AdvanceUpload implements store.Store.
func (s *Store) AdvanceUpload(ctx context.Context, id string, from, to int64, expires time.Time) error {
	const op = "advance upload"
	if to < from {
		return fmt.Errorf("sqlite: %s: offset %d before %d", op, to, from)
	}
	return s.write(ctx, op, 0, func(t *wtx) error {
		res, err := t.exec("UPDATE uploads SET received = ?, expires = ? WHERE id = ? AND received = ?",
			to, toMillis(expires), id, from)
		if err != nil {
			return err
		}
		if err := oneRow(res); !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var one int
		err = t.queryRow("SELECT 1 FROM uploads WHERE id = ?", id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		return store.ErrOffsetMismatch
	})
}

// DeleteUpload implements store.Store.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	return s.write(ctx, "delete upload", 0, func(t *wtx) error {
		res, err := t.exec("DELETE FROM uploads WHERE id = ?", id)
		if err != nil {
			return err
		}
		return oneRow(res)
	})
}

// ExpiredUploads implements store.Store.
func (s *Store) ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.expired(ctx, "expired uploads",
		"SELECT id FROM uploads WHERE expires <= ? ORDER BY expires LIMIT ?", now, limit)
}

// expired runs a query for the names of up to limit things expired at now.
func (s *Store) expired(ctx context.Context, op, query string, now time.Time, limit int) ([]string, error) {
	if err := s.readable(op); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, query, toMillis(now), limit)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, s.wrap(op, err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(op, err)
	}
	return names, nil
}

// raiseExpiry gives a stored blob an upload expiry of at least expires;
// a retained blob keeps no expiry.
const raiseExpiry = `UPDATE blobs SET
	upload_expires = MAX(upload_expires, ?1),
	expires = CASE WHEN retained > 0 THEN NULL ELSE MAX(upload_expires, ?1) END
	WHERE sha256 = ?2`

// CommitUpload implements store.Store.
func (s *Store) CommitUpload(ctx context.Context, id string, created, expires time.Time) (store.Blob, error) {
	created = stamp(created)
	var b store.Blob
	err := s.write(ctx, "commit upload", 0, func(t *wtx) error {
		u, err := scanUpload(t.queryRow("SELECT "+uploadColumns+" FROM uploads WHERE id = ?", id))
		if err != nil {
			return err
		}
		if u.Offset != u.Size {
			return store.ErrOffsetMismatch
		}
		if _, err := t.exec("DELETE FROM uploads WHERE id = ?", id); err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO blobs (sha256, size, content_type, created, expires, upload_expires)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
			u.SHA256, u.Size, u.ContentType, toMillis(created), toMillis(expires), toMillis(expires)); err != nil {
			return err
		}
		if _, err := t.exec(raiseExpiry, toMillis(expires), u.SHA256); err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO blob_owners (account_id, sha256, created) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING`, u.AccountID, u.SHA256, toMillis(created)); err != nil {
			return err
		}
		b, err = scanBlob(t.queryRow("SELECT "+blobColumns+" FROM blobs WHERE sha256 = ?", u.SHA256))
		return err
	})
	return b, err
}

// Blob implements store.Store.
func (s *Store) Blob(ctx context.Context, sha256 string) (store.Blob, error) {
	const op = "blob"
	if err := s.readable(op); err != nil {
		return store.Blob{}, err
	}
	b, err := scanBlob(s.rdb.QueryRowContext(ctx, "SELECT "+blobColumns+" FROM blobs WHERE sha256 = ?", sha256))
	if err != nil {
		return store.Blob{}, s.wrap(op, err)
	}
	return b, nil
}

// ClaimBlob implements store.Store.
func (s *Store) ClaimBlob(ctx context.Context, accountID int64, sha256 string, expires time.Time, quota int64, now time.Time) (store.Blob, error) {
	var b store.Blob
	err := s.write(ctx, "claim blob", 0, func(t *wtx) error {
		cur, err := scanBlob(t.queryRow("SELECT "+blobColumns+" FROM blobs WHERE sha256 = ?", sha256))
		if err != nil {
			return err
		}
		if cur.Expired(now) {
			return store.ErrNotFound
		}
		var owned bool
		if err := t.queryRow("SELECT EXISTS (SELECT 1 FROM blob_owners WHERE account_id = ? AND sha256 = ?)",
			accountID, sha256).Scan(&owned); err != nil {
			return err
		}
		if !owned {
			if err := withinQuota(t, accountID, now, cur.Size, quota); err != nil {
				return err
			}
			_, err := t.exec("INSERT INTO blob_owners (account_id, sha256, created) VALUES (?, ?, ?)",
				accountID, sha256, toMillis(now))
			if isForeignKeyViolation(err) {
				return store.ErrNotFound
			}
			if err != nil {
				return err
			}
		}
		if _, err := t.exec(raiseExpiry, toMillis(expires), sha256); err != nil {
			return err
		}
		b, err = scanBlob(t.queryRow("SELECT "+blobColumns+" FROM blobs WHERE sha256 = ?", sha256))
		return err
	})
	return b, err
}

// RetainBlob implements store.Store.
func (s *Store) RetainBlob(ctx context.Context, sha256 string, retain bool) error {
	return s.write(ctx, "retain blob", 0, func(t *wtx) error {
		if retain {
			res, err := t.exec("UPDATE blobs SET retained = retained + 1, expires = NULL WHERE sha256 = ?", sha256)
			if err != nil {
				return err
			}
			return oneRow(res)
		}
		res, err := t.exec(`UPDATE blobs SET retained = retained - 1,
			expires = CASE WHEN retained = 1 THEN upload_expires ELSE NULL END
			WHERE sha256 = ? AND retained > 0`, sha256)
		if err != nil {
			return err
		}
		if err := oneRow(res); !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var one int
		err = t.queryRow("SELECT 1 FROM blobs WHERE sha256 = ?", sha256).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		return err // stored, not held: nothing to release
	})
}

// ExpiredBlobs implements store.Store.
func (s *Store) ExpiredBlobs(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.expired(ctx, "expired blobs",
		"SELECT sha256 FROM blobs WHERE expires <= ? ORDER BY expires LIMIT ?", now, limit)
}

// DeleteExpiredBlob implements store.Store. Its ownerships go by ON DELETE
// CASCADE.
func (s *Store) DeleteExpiredBlob(ctx context.Context, sha256 string, now time.Time) error {
	return s.write(ctx, "delete expired blob", 0, func(t *wtx) error {
		res, err := t.exec("DELETE FROM blobs WHERE sha256 = ? AND expires <= ?", sha256, toMillis(now))
		if err != nil {
			return err
		}
		return oneRow(res)
	})
}

// StorageUsed implements store.Store.
func (s *Store) StorageUsed(ctx context.Context, accountID int64, now time.Time) (int64, error) {
	const op = "storage used"
	if err := s.readable(op); err != nil {
		return 0, err
	}
	var n int64
	if err := s.rdb.QueryRowContext(ctx, storageUsedQuery, accountID, toMillis(now)).Scan(&n); err != nil {
		return 0, s.wrap(op, err)
	}
	return n, nil
}
