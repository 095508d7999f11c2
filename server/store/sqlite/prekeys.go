package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/parley-chat/parley/server/store"
)

// Every prekey method returns store.ErrNotFound for an unknown device.

// SetSignedPreKey implements store.Store.
func (s *Store) SetSignedPreKey(ctx context.Context, accountID int64, deviceID uint32, k store.SignedPreKey) error {
	return s.write(ctx, "set signed prekey", len(k.PublicKey), func(t *wtx) error {
		if err := requireDevice(t, accountID, deviceID); err != nil {
			return err
		}
		_, err := t.exec(`INSERT INTO signed_prekeys (account_id, device_id, id, public_key, signature)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account_id, device_id) DO UPDATE SET
			id = excluded.id, public_key = excluded.public_key, signature = excluded.signature`,
			accountID, deviceID, k.ID, k.PublicKey, k.Signature)
		return err
	})
}

// SetLastResortKEMPreKey implements store.Store.
func (s *Store) SetLastResortKEMPreKey(ctx context.Context, accountID int64, deviceID uint32, k store.KEMPreKey) error {
	return s.write(ctx, "set last-resort kem prekey", len(k.PublicKey), func(t *wtx) error {
		if err := requireDevice(t, accountID, deviceID); err != nil {
			return err
		}
		_, err := t.exec(`INSERT INTO last_resort_kem_prekeys (account_id, device_id, id, public_key, signature)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account_id, device_id) DO UPDATE SET
			id = excluded.id, public_key = excluded.public_key, signature = excluded.signature`,
			accountID, deviceID, k.ID, k.PublicKey, k.Signature)
		return err
	})
}

// AddOneTimePreKeys implements store.Store.
func (s *Store) AddOneTimePreKeys(ctx context.Context, accountID int64, deviceID uint32, ks []store.PreKey) error {
	size := 0
	for _, k := range ks {
		size += len(k.PublicKey)
	}
	return s.write(ctx, "add one-time prekeys", size, func(t *wtx) error {
		if err := requireDevice(t, accountID, deviceID); err != nil {
			return err
		}
		for _, k := range ks {
			_, err := t.exec(`INSERT INTO onetime_prekeys (account_id, device_id, id, public_key)
				VALUES (?, ?, ?, ?)
				ON CONFLICT (account_id, device_id, id) DO UPDATE SET public_key = excluded.public_key`,
				accountID, deviceID, k.ID, k.PublicKey)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// AddKEMPreKeys implements store.Store.
func (s *Store) AddKEMPreKeys(ctx context.Context, accountID int64, deviceID uint32, ks []store.KEMPreKey) error {
	size := 0
	for _, k := range ks {
		size += len(k.PublicKey)
	}
	return s.write(ctx, "add kem prekeys", size, func(t *wtx) error {
		if err := requireDevice(t, accountID, deviceID); err != nil {
			return err
		}
		for _, k := range ks {
			_, err := t.exec(`INSERT INTO kem_prekeys (account_id, device_id, id, public_key, signature)
				VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (account_id, device_id, id) DO UPDATE SET
				public_key = excluded.public_key, signature = excluded.signature`,
				accountID, deviceID, k.ID, k.PublicKey, k.Signature)
			if err != nil {
				return err
			}
		}
		return nil
	})
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
// handed out one at a time; the one-time keys are removed with DELETE ...
// RETURNING in the same transaction that reads them. It hands out the
// lowest-numbered one-time keys first. If the caller's ctx ends after the
// writer took the request, the keys may be used up without reaching it; a
// wasted one-time key is harmless.
func (s *Store) TakeBundle(ctx context.Context, accountID int64, deviceID uint32) (store.Bundle, error) {
	var b store.Bundle
	err := s.write(ctx, "take bundle", 0, func(t *wtx) (err error) {
		b, err = takeBundle(t, accountID, deviceID)
		return err
	})
	if err != nil {
		return store.Bundle{}, err
	}
	return b, nil
}

func takeBundle(t *wtx, accountID int64, deviceID uint32) (store.Bundle, error) {
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
	err = t.queryRow(`DELETE FROM kem_prekeys
		WHERE account_id = ?1 AND device_id = ?2
		AND id = (SELECT MIN(id) FROM kem_prekeys WHERE account_id = ?1 AND device_id = ?2)
		RETURNING id, public_key, signature`,
		accountID, deviceID).Scan(&kem.ID, &kem.PublicKey, &kem.Signature)
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
