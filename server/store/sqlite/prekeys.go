package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/server/store"
)

// Every prekey method returns store.ErrNotFound for an unknown device.

// SetPreKeys implements store.Store.
func (s *Store) SetPreKeys(ctx context.Context, accountID int64, deviceID uint32, k store.PreKeySet) error {
	return s.write(ctx, "set prekeys", preKeySetSize(k), func(t *wtx) error {
		if err := requireDevice(t, accountID, deviceID); err != nil {
			return err
		}
		return putPreKeys(t, accountID, deviceID, k)
	})
}

// preKeySetSize is k's payload, for the writer's batch bound.
func preKeySetSize(k store.PreKeySet) int {
	n := 0
	if k.SignedPreKey != nil {
		n += len(k.SignedPreKey.PublicKey)
	}
	if k.LastResortKEMPreKey != nil {
		n += len(k.LastResortKEMPreKey.PublicKey)
	}
	for _, pk := range k.OneTime {
		n += len(pk.PublicKey)
	}
	for _, pk := range k.KEMOneTime {
		n += len(pk.PublicKey)
	}
	return n
}

// putPreKeys stores k for a device that exists, inside the caller's
// request, so that it commits with whatever else the request writes.
func putPreKeys(t *wtx, accountID int64, deviceID uint32, k store.PreKeySet) error {
	if spk := k.SignedPreKey; spk != nil {
		_, err := t.exec(`INSERT INTO signed_prekeys (account_id, device_id, id, public_key, signature)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account_id, device_id) DO UPDATE SET
			id = excluded.id, public_key = excluded.public_key, signature = excluded.signature`,
			accountID, deviceID, spk.ID, spk.PublicKey, spk.Signature)
		if err != nil {
			return fmt.Errorf("signed prekey: %w", err)
		}
	}
	if lr := k.LastResortKEMPreKey; lr != nil {
		_, err := t.exec(`INSERT INTO last_resort_kem_prekeys (account_id, device_id, id, public_key, signature)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account_id, device_id) DO UPDATE SET
			id = excluded.id, public_key = excluded.public_key, signature = excluded.signature`,
			accountID, deviceID, lr.ID, lr.PublicKey, lr.Signature)
		if err != nil {
			return fmt.Errorf("last-resort kem prekey: %w", err)
		}
	}
	// The one-time lists run in order, so a later entry with the same ID
	// replaces an earlier one. Each statement is prepared once per list.
	err := execEach(t, len(k.OneTime), `INSERT INTO onetime_prekeys (account_id, device_id, id, public_key)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, device_id, id) DO UPDATE SET public_key = excluded.public_key`,
		func(i int) []any { return []any{accountID, deviceID, k.OneTime[i].ID, k.OneTime[i].PublicKey} })
	if err != nil {
		return fmt.Errorf("one-time prekeys: %w", err)
	}
	err = execEach(t, len(k.KEMOneTime), `INSERT INTO kem_prekeys (account_id, device_id, id, public_key, signature)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account_id, device_id, id) DO UPDATE SET
		public_key = excluded.public_key, signature = excluded.signature`,
		func(i int) []any {
			pk := &k.KEMOneTime[i]
			return []any{accountID, deviceID, pk.ID, pk.PublicKey, pk.Signature}
		})
	if err != nil {
		return fmt.Errorf("kem prekeys: %w", err)
	}
	return nil
}

// execEach runs query n times, with args(i) the i'th time.
func execEach(t *wtx, n int, query string, args func(i int) []any) (err error) {
	if n == 0 {
		return nil
	}
	st, err := t.conn.PrepareContext(t.ctx, query)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	for i := range n {
		if _, err := st.ExecContext(t.ctx, args(i)...); err != nil {
			return err
		}
	}
	return nil
}

// PreKeyCounts implements store.Store.
func (s *Store) PreKeyCounts(ctx context.Context, accountID int64, deviceID uint32) (store.PreKeyCounts, error) {
	const op = "prekey counts"
	if err := s.readable(op); err != nil {
		return store.PreKeyCounts{}, err
	}
	var c store.PreKeyCounts
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM onetime_prekeys WHERE account_id = d.account_id AND device_id = d.id),
		(SELECT COUNT(*) FROM kem_prekeys WHERE account_id = d.account_id AND device_id = d.id)
		FROM devices d WHERE d.account_id = ? AND d.id = ?`, accountID, deviceID).Scan(&c.OneTime, &c.KEMOneTime)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.PreKeyCounts{}, s.wrap(op, err)
	}
	return c, nil
}

// TakeBundle implements store.Store. It runs in the writer, so bundles are
// handed out one at a time and never see half of a SetPreKeys; the one-time
// keys are removed with DELETE ... RETURNING in the same transaction that
// reads them. It hands out the lowest-numbered one-time keys first. If the
// caller's ctx ends after the writer took the request, the keys may be used
// up without reaching it; a wasted one-time key is harmless.
func (s *Store) TakeBundle(ctx context.Context, accountID int64, deviceID uint32) (store.Bundle, error) {
	var b store.Bundle
	err := s.write(ctx, "take bundle", 0, func(t *wtx) (err error) {
		b, err = takeBundle(t, accountID, deviceID, true)
		return err
	})
	if err != nil {
		return store.Bundle{}, err
	}
	return b, nil
}

// BaseBundle implements store.Store. It goes through the writer like
// TakeBundle, so that it reads the signed and last-resort prekeys in one
// transaction, though it writes nothing.
func (s *Store) BaseBundle(ctx context.Context, accountID int64, deviceID uint32) (store.Bundle, error) {
	var b store.Bundle
	err := s.write(ctx, "base bundle", 0, func(t *wtx) (err error) {
		b, err = takeBundle(t, accountID, deviceID, false)
		return err
	})
	if err != nil {
		return store.Bundle{}, err
	}
	return b, nil
}

// takeBundle reads a device's bundle; with oneTime it takes (and deletes)
// a one-time KEM prekey, else uses the last-resort one, and takes a
// one-time X25519 prekey if any is left; without, it uses the last-resort
// KEM prekey and no one-time prekey, and deletes nothing.
func takeBundle(t *wtx, accountID int64, deviceID uint32, oneTime bool) (store.Bundle, error) {
	b := store.Bundle{DeviceID: deviceID}
	spk := &b.SignedPreKey
	err := t.queryRow(`SELECT id, public_key, signature FROM signed_prekeys WHERE account_id = ? AND device_id = ?`,
		accountID, deviceID).Scan(&spk.ID, &spk.PublicKey, &spk.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		if err := requireDevice(t, accountID, deviceID); err != nil {
			return b, err
		}
		return b, store.ErrNoSignedPreKey
	}
	if err != nil {
		return b, err
	}

	kem := &b.KEMPreKey
	err = sql.ErrNoRows
	if oneTime {
		err = t.queryRow(`DELETE FROM kem_prekeys
			WHERE account_id = ?1 AND device_id = ?2
			AND id = (SELECT MIN(id) FROM kem_prekeys WHERE account_id = ?1 AND device_id = ?2)
			RETURNING id, public_key, signature`,
			accountID, deviceID).Scan(&kem.ID, &kem.PublicKey, &kem.Signature)
	}
	if errors.Is(err, sql.ErrNoRows) {
		b.LastResort = true
		err = t.queryRow(`SELECT id, public_key, signature FROM last_resort_kem_prekeys
			WHERE account_id = ? AND device_id = ?`,
			accountID, deviceID).Scan(&kem.ID, &kem.PublicKey, &kem.Signature)
		if errors.Is(err, sql.ErrNoRows) {
			return b, store.ErrNoKEMPreKey
		}
	}
	if err != nil {
		return b, err
	}
	if !oneTime {
		return b, nil
	}

	var pk store.PreKey
	err = t.queryRow(`DELETE FROM onetime_prekeys
		WHERE account_id = ?1 AND device_id = ?2
		AND id = (SELECT MIN(id) FROM onetime_prekeys WHERE account_id = ?1 AND device_id = ?2)
		RETURNING id, public_key`,
		accountID, deviceID).Scan(&pk.ID, &pk.PublicKey)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return b, err
	default:
		b.OneTime = &pk
	}
	return b, nil
}
