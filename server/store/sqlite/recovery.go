package sqlite

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"

	"github.com/parley-chat/parley/server/store"
)

// RecoverAccount implements store.Store. The hash is compared inside the
// transaction, so of two recoveries racing with the same key and a new
// hash, the second finds the hash changed and fails. A zero Created means
// now.
func (s *Store) RecoverAccount(ctx context.Context, r store.Recovery) (store.Account, store.Device, []uint32, error) {
	d := r.Device
	d.Created = stamp(d.Created)
	var (
		a       store.Account
		removed []uint32
	)
	size := len(r.IdentityKey) + preKeySetSize(r.PreKeys)
	err := s.write(ctx, "recover account", size, func(t *wtx) error {
		row := t.queryRow("SELECT "+accountColumns+" FROM accounts a WHERE a.username = ?", r.Username)
		err := scanAccountDevice(row, &a, nil)
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrRecoveryInvalid
		}
		if err != nil {
			return err
		}
		if a.RecoveryHash == nil || subtle.ConstantTimeCompare(a.RecoveryHash[:], r.RecoveryHash[:]) != 1 {
			return store.ErrRecoveryInvalid
		}
		if r.NewRecoveryHash != nil {
			a.RecoveryHash = cloneHash(r.NewRecoveryHash)
		}
		a.IdentityKey = r.IdentityKey
		if _, err := t.exec("UPDATE accounts SET identity_key = ?, recovery_hash = ? WHERE id = ?",
			a.IdentityKey, hashArg(a.RecoveryHash), a.ID); err != nil {
			return err
		}
		// Prekeys and queues go by ON DELETE CASCADE, as in RemoveDevice.
		if removed, err = deleteDevices(t, a.ID); err != nil {
			return err
		}
		if _, err := t.exec("DELETE FROM link_tokens WHERE account_id = ?", a.ID); err != nil {
			return err
		}
		d.AccountID = a.ID
		if d, err = addDevice(t, d, 1); err != nil { // the account has no device now
			return err
		}
		return putPreKeys(t, d.AccountID, d.ID, r.PreKeys)
	})
	if err != nil {
		return store.Account{}, store.Device{}, nil, err
	}
	return a, d, removed, nil
}

// deleteDevices deletes every device of an account and returns their IDs
// in ascending order.
func deleteDevices(t *wtx, accountID int64) ([]uint32, error) {
	rows, err := t.query("DELETE FROM devices WHERE account_id = ? RETURNING id", accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []uint32
	for rows.Next() {
		var id uint32
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// hashArg is an optional hash as a query argument: NULL for nil.
func hashArg(h *[32]byte) any {
	if h == nil {
		return nil
	}
	return h[:]
}

// cloneHash copies an optional hash, so that what a method returns does
// not alias its caller's argument.
func cloneHash(h *[32]byte) *[32]byte {
	if h == nil {
		return nil
	}
	c := *h
	return &c
}
