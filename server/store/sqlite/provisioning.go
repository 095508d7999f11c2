package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// A provisioning mailbox has expired at now if its expiry is not after now.

// CreateProvisioning implements store.Store.
func (s *Store) CreateProvisioning(ctx context.Context, id string, expires time.Time) error {
	return s.write(ctx, "create provisioning", 0, func(t *wtx) error {
		_, err := t.exec("INSERT INTO provisioning (id, expires) VALUES (?, ?)", id, toMillis(expires))
		if isUniqueViolation(err) {
			return store.ErrExists
		}
		return err
	})
}

// PutProvisioning implements store.Store.
func (s *Store) PutProvisioning(ctx context.Context, id string, body []byte, now time.Time) error {
	if body == nil {
		body = []byte{} // NULL means empty: an empty message is a zero-length blob
	}
	return s.write(ctx, "put provisioning", len(body), func(t *wtx) error {
		res, err := t.exec("UPDATE provisioning SET body = ? WHERE id = ? AND expires > ? AND body IS NULL",
			body, id, toMillis(now))
		if err != nil {
			return err
		}
		if err := oneRow(res); !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var written bool
		err = t.queryRow("SELECT body IS NOT NULL FROM provisioning WHERE id = ? AND expires > ?",
			id, toMillis(now)).Scan(&written)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case written:
			return store.ErrProvisionExists
		}
		return errors.New("mailbox neither empty nor written") // cannot happen: one writer
	})
}

// TakeProvisioning implements store.Store. It looks in the reader first, so
// polling an empty mailbox costs no write transaction.
func (s *Store) TakeProvisioning(ctx context.Context, id string, now time.Time) ([]byte, error) {
	const op = "take provisioning"
	if err := s.readable(op); err != nil {
		return nil, err
	}
	var written bool
	err := s.rdb.QueryRowContext(ctx, "SELECT body IS NOT NULL FROM provisioning WHERE id = ? AND expires > ?",
		id, toMillis(now)).Scan(&written)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, s.wrap(op, store.ErrNotFound)
	case err != nil:
		return nil, s.wrap(op, err)
	case !written:
		return nil, nil
	}
	var body []byte
	err = s.write(ctx, op, 0, func(t *wtx) error {
		err := t.queryRow("DELETE FROM provisioning WHERE id = ? AND expires > ? AND body IS NOT NULL RETURNING body",
			id, toMillis(now)).Scan(&body)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound // taken by a concurrent caller since the read
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if body == nil {
		body = []byte{}
	}
	return body, nil
}
