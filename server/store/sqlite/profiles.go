package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/parley-chat/parley/server/store"
)

// PutProfile implements store.Store: the version is compared and the row
// written in one writer request, so two devices of an account that race
// cannot both win with one version.
func (s *Store) PutProfile(ctx context.Context, accountID int64, p store.Profile) error {
	if p.Ciphertext == nil {
		p.Ciphertext = []byte{}
	}
	if p.Version == 0 || p.Version > 1<<63-1 {
		return s.wrap("put profile", store.ErrStaleVersion)
	}
	return s.write(ctx, "put profile", len(p.Ciphertext), func(t *wtx) error {
		var stored int64
		err := t.queryRow("SELECT version FROM profiles WHERE account_id = ?", accountID).Scan(&stored)
		switch {
		case err == nil && uint64(stored) >= p.Version:
			return store.ErrStaleVersion
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = t.exec(`INSERT INTO profiles (account_id, version, ciphertext, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET version = excluded.version, ciphertext = excluded.ciphertext, updated = excluded.updated`,
			accountID, int64(p.Version), p.Ciphertext, toMillis(stamp(p.Updated)))
		if isForeignKeyViolation(err) {
			return store.ErrNotFound
		}
		return err
	})
}

// Profile implements store.Store.
func (s *Store) Profile(ctx context.Context, accountID int64) (store.Profile, error) {
	const op = "profile"
	if err := s.readable(op); err != nil {
		return store.Profile{}, err
	}
	var (
		p        store.Profile
		version  int64
		modified int64
	)
	err := s.rdb.QueryRowContext(ctx, "SELECT version, ciphertext, updated FROM profiles WHERE account_id = ?", accountID).
		Scan(&version, &p.Ciphertext, &modified)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Profile{}, s.wrap(op, err)
	}
	if p.Ciphertext == nil {
		p.Ciphertext = []byte{}
	}
	p.Version, p.Updated = uint64(version), fromMillis(modified)
	return p, nil
}
