package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/parley-chat/parley/server/store"
)

const (
	accountColumns = "a.id, a.username, a.identity_key, a.created, a.recovery_hash"
	deviceColumns  = "d.account_id, d.id, d.name, d.credential_hash, d.created"
)

type scanner interface{ Scan(dest ...any) error }

// scanAccountDevice scans accountColumns, then deviceColumns, either of
// them nil to skip.
func scanAccountDevice(row scanner, a *store.Account, d *store.Device) error {
	var dest []any
	var aCreated, dCreated int64
	var hash, recovery []byte
	if a != nil {
		dest = append(dest, &a.ID, &a.Username, &a.IdentityKey, &aCreated, &recovery)
	}
	if d != nil {
		dest = append(dest, &d.AccountID, &d.ID, &d.Name, &hash, &dCreated)
	}
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		return err
	}
	if a != nil {
		a.Created, a.RecoveryHash = fromMillis(aCreated), nil
		if recovery != nil {
			h, err := hash32(recovery)
			if err != nil {
				return err
			}
			a.RecoveryHash = &h
		}
	}
	if d != nil {
		h, err := hash32(hash)
		if err != nil {
			return err
		}
		d.CredentialHash, d.Created = h, fromMillis(dCreated)
	}
	return nil
}

// CreateAccount implements store.Store. A zero Created means now.
func (s *Store) CreateAccount(ctx context.Context, a store.Account, first store.Device, inviteHash *[32]byte, keys store.PreKeySet) (store.Account, store.Device, error) {
	a.Created = stamp(a.Created)
	a.RecoveryHash = cloneHash(a.RecoveryHash)
	first.Created = stamp(first.Created)
	var invite []byte
	if inviteHash != nil {
		invite = inviteHash[:]
	}
	err := s.write(ctx, "create account", preKeySetSize(keys), func(t *wtx) (err error) {
		if invite != nil {
			res, err := t.exec("UPDATE invites SET used = 1 WHERE hash = ? AND used = 0", invite)
			if err != nil {
				return err
			}
			if err := oneRow(res); errors.Is(err, store.ErrNotFound) {
				return store.ErrInviteRequired
			} else if err != nil {
				return err
			}
		}
		err = t.queryRow("INSERT INTO accounts (username, identity_key, created, recovery_hash) VALUES (?, ?, ?, ?) RETURNING id",
			a.Username, a.IdentityKey, toMillis(a.Created), hashArg(a.RecoveryHash)).Scan(&a.ID)
		if isUniqueViolation(err) {
			return store.ErrUsernameTaken
		}
		if err != nil {
			return err
		}
		first.AccountID = a.ID
		if first, err = addDevice(t, first, 1); err != nil { // takes ID 1
			return err
		}
		return putPreKeys(t, first.AccountID, first.ID, keys)
	})
	if err != nil {
		return store.Account{}, store.Device{}, err
	}
	return a, first, nil
}

func insertDevice(t *wtx, d store.Device) error {
	_, err := t.exec("INSERT INTO devices (account_id, id, name, credential_hash, created) VALUES (?, ?, ?, ?, ?)",
		d.AccountID, d.ID, d.Name, d.CredentialHash[:], toMillis(d.Created))
	return err
}

// AccountByName implements store.Store.
func (s *Store) AccountByName(ctx context.Context, username string) (store.Account, error) {
	const op = "account by name"
	if err := s.readable(op); err != nil {
		return store.Account{}, err
	}
	var a store.Account
	row := s.rdb.QueryRowContext(ctx, "SELECT "+accountColumns+" FROM accounts a WHERE a.username = ?", username)
	if err := scanAccountDevice(row, &a, nil); err != nil {
		return store.Account{}, s.wrap(op, err)
	}
	return a, nil
}

// DeviceByName implements store.Store.
func (s *Store) DeviceByName(ctx context.Context, username string, deviceID uint32) (store.Account, store.Device, error) {
	const op = "device by name"
	if err := s.readable(op); err != nil {
		return store.Account{}, store.Device{}, err
	}
	var a store.Account
	var d store.Device
	row := s.rstmts.deviceByName.QueryRowContext(ctx, username, deviceID)
	if err := scanAccountDevice(row, &a, &d); err != nil {
		return store.Account{}, store.Device{}, s.wrap(op, err)
	}
	return a, d, nil
}

// AddDevice implements store.Store. A zero Created means now.
func (s *Store) AddDevice(ctx context.Context, d store.Device, max int) (store.Device, error) {
	d.Created = stamp(d.Created)
	err := s.write(ctx, "add device", 0, func(t *wtx) (err error) {
		d, err = addDevice(t, d, max)
		return err
	})
	if err != nil {
		return store.Device{}, err
	}
	return d, nil
}

// addDevice inserts d as the next device of its account. It takes the
// account's next_device_id and increments it, so a device ID is never
// reused; if the request fails, the savepoint rollback puts it back.
func addDevice(t *wtx, d store.Device, max int) (store.Device, error) {
	var next int64
	var n int
	err := t.queryRow(`SELECT a.next_device_id, (SELECT COUNT(*) FROM devices WHERE account_id = a.id)
		FROM accounts a WHERE a.id = ?`, d.AccountID).Scan(&next, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return d, store.ErrNotFound
	}
	if err != nil {
		return d, err
	}
	if n >= max || next > math.MaxUint32 {
		return d, store.ErrTooManyDevices
	}
	if _, err := t.exec("UPDATE accounts SET next_device_id = ? WHERE id = ?", next+1, d.AccountID); err != nil {
		return d, err
	}
	d.ID = uint32(next)
	return d, insertDevice(t, d)
}

// Devices implements store.Store.
func (s *Store) Devices(ctx context.Context, accountID int64) ([]store.Device, error) {
	const op = "devices"
	if err := s.readable(op); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+deviceColumns+" FROM devices d WHERE d.account_id = ? ORDER BY d.id", accountID)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var ds []store.Device
	for rows.Next() {
		var d store.Device
		if err := scanAccountDevice(rows, nil, &d); err != nil {
			return nil, s.wrap(op, err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(op, err)
	}
	return ds, nil
}

// RemoveDevice implements store.Store: ErrNotFound if there is no such
// device. Its prekeys and queue go by ON DELETE CASCADE.
func (s *Store) RemoveDevice(ctx context.Context, accountID int64, deviceID uint32) error {
	return s.write(ctx, "remove device", 0, func(t *wtx) error {
		res, err := t.exec("DELETE FROM devices WHERE account_id = ? AND id = ?", accountID, deviceID)
		if err != nil {
			return err
		}
		return oneRow(res)
	})
}

// oneRow is ErrNotFound unless res changed a row.
func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// CreateLinkToken implements store.Store.
func (s *Store) CreateLinkToken(ctx context.Context, accountID int64, tokenHash [32]byte, expires time.Time) error {
	return s.write(ctx, "create link token", 0, func(t *wtx) error {
		_, err := t.exec("INSERT INTO link_tokens (hash, account_id, expires) VALUES (?, ?, ?)",
			tokenHash[:], accountID, toMillis(expires))
		switch {
		case isForeignKeyViolation(err):
			return store.ErrNotFound
		case isUniqueViolation(err):
			return store.ErrExists
		}
		return err
	})
}

// LinkTokenAccount implements store.Store. A used token is gone (see
// AddDeviceWithToken), so one query covers unknown, used and expired.
func (s *Store) LinkTokenAccount(ctx context.Context, tokenHash [32]byte, now time.Time) (store.Account, error) {
	const op = "link token account"
	if err := s.readable(op); err != nil {
		return store.Account{}, err
	}
	var a store.Account
	row := s.rdb.QueryRowContext(ctx, "SELECT "+accountColumns+`
		FROM link_tokens l JOIN accounts a ON a.id = l.account_id
		WHERE l.hash = ? AND l.expires > ?`, tokenHash[:], toMillis(now))
	err := scanAccountDevice(row, &a, nil)
	if errors.Is(err, store.ErrNotFound) {
		err = store.ErrTokenInvalid
	}
	if err != nil {
		return store.Account{}, s.wrap(op, err)
	}
	return a, nil
}

// AddDeviceWithToken implements store.Store. The token is deleted as it is
// used; the savepoint rollback of a failed request restores it.
func (s *Store) AddDeviceWithToken(ctx context.Context, tokenHash [32]byte, d store.Device, max int, now time.Time, keys store.PreKeySet) (store.Account, store.Device, error) {
	d.Created = stamp(d.Created)
	var a store.Account
	err := s.write(ctx, "add device with token", preKeySetSize(keys), func(t *wtx) error {
		err := t.queryRow("DELETE FROM link_tokens WHERE hash = ? AND expires > ? RETURNING account_id",
			tokenHash[:], toMillis(now)).Scan(&d.AccountID)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrTokenInvalid
		}
		if err != nil {
			return err
		}
		if d, err = addDevice(t, d, max); err != nil {
			return err
		}
		if err := putPreKeys(t, d.AccountID, d.ID, keys); err != nil {
			return err
		}
		row := t.queryRow("SELECT "+accountColumns+" FROM accounts a WHERE a.id = ?", d.AccountID)
		return scanAccountDevice(row, &a, nil)
	})
	if err != nil {
		return store.Account{}, store.Device{}, err
	}
	return a, d, nil
}

// CreateInvite implements store.Store. Creating an invite that exists
// already changes nothing: a used one stays used.
func (s *Store) CreateInvite(ctx context.Context, codeHash [32]byte) error {
	return s.write(ctx, "create invite", 0, func(t *wtx) error {
		_, err := t.exec("INSERT INTO invites (hash) VALUES (?) ON CONFLICT (hash) DO NOTHING", codeHash[:])
		return err
	})
}

// requireDevice is ErrNotFound unless the device exists.
func requireDevice(t *wtx, accountID int64, deviceID uint32) error {
	var exists bool
	err := t.queryRow("SELECT EXISTS (SELECT 1 FROM devices WHERE account_id = ? AND id = ?)", accountID, deviceID).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look up device: %w", err)
	}
	if !exists {
		return store.ErrNotFound
	}
	return nil
}
