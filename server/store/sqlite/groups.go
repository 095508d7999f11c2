package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/server/store"
)

// EnqueueShared implements store.Store. It stores content once as a row of
// bodies and one row per envelope in messages that names it (body_id, with
// an empty content of its own), all in one writer request: the body first,
// then the envelopes as Enqueue stores them, counting len(content) bytes
// each, then the body's reference count, the envelopes that were not
// duplicates. A body that no envelope took is deleted again before commit.
// The trigger messages_dequeued_shared (migration 0008) deletes the body
// with its last envelope.
func (s *Store) EnqueueShared(ctx context.Context, content []byte, envs []store.Envelope, lim store.QueueLimits) ([]bool, error) {
	const op = "enqueue shared"
	if len(envs) == 0 {
		if err := s.readable(op); err != nil {
			return nil, err
		}
		return []bool{}, nil
	}
	if content == nil {
		content = []byte{} // NOT NULL: an empty content is a zero-length blob
	}
	seqs := make([]uint64, len(envs))
	dup := make([]bool, len(envs))
	var stored []store.Envelope
	var committed func()
	if s.onEnqueue != nil {
		committed = func() { s.onEnqueue(stored) }
	}
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	size := int64(len(content))
	err := s.w.doThen(ctx, len(content), func(t *wtx) error {
		var body int64
		if err := t.st.insertBody.QueryRowContext(t.ctx, content).Scan(&body); err != nil {
			return fmt.Errorf("store body: %w", err)
		}
		refs := 0
		for i := range envs {
			e := &envs[i]
			row := t.st.insertShared.QueryRowContext(t.ctx,
				e.DestAccount, e.DestDevice, e.SenderAccount, e.SenderName, e.SenderDevice,
				e.ClientID[:], e.Type, toMillis(e.Created), toMillis(e.Expires), body)
			var err error
			if seqs[i], dup[i], err = enqueued(t, e, row, size, lim); err != nil {
				return err
			}
			if !dup[i] {
				refs++
			}
		}
		var err error
		if refs == 0 {
			_, err = t.exec("DELETE FROM bodies WHERE id = ?", body)
		} else {
			_, err = t.exec("UPDATE bodies SET refs = ? WHERE id = ?", refs, body)
		}
		if err != nil {
			return fmt.Errorf("count body references: %w", err)
		}
		if s.onEnqueue != nil {
			stored = make([]store.Envelope, 0, refs)
			for i := range envs {
				if !dup[i] {
					e := envs[i]
					e.Seq, e.Content = seqs[i], content
					stored = append(stored, e)
				}
			}
		}
		return nil
	}, committed)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	for i := range envs {
		envs[i].Seq, envs[i].Content = seqs[i], content
	}
	return dup, nil
}

// PutGroupLink implements store.Store: the owner is looked up, then the
// snapshot replaced, or the account's links counted and a new one
// inserted, all in one writer request.
func (s *Store) PutGroupLink(ctx context.Context, id [16]byte, accountID int64, snapshot []byte, max int) error {
	if snapshot == nil {
		snapshot = []byte{}
	}
	return s.write(ctx, "put group link", len(snapshot), func(t *wtx) error {
		var owner int64
		err := t.queryRow("SELECT account_id FROM group_links WHERE id = ?", id[:]).Scan(&owner)
		switch {
		case err == nil && owner != accountID:
			return store.ErrNotOwner
		case err == nil:
			_, err = t.exec("UPDATE group_links SET snapshot = ? WHERE id = ?", snapshot, id[:])
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if max > 0 {
			var n int
			if err := t.queryRow("SELECT COUNT(*) FROM group_links WHERE account_id = ?", accountID).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return store.ErrTooManyLinks
			}
		}
		_, err = t.exec("INSERT INTO group_links (id, account_id, snapshot) VALUES (?, ?, ?)", id[:], accountID, snapshot)
		if isForeignKeyViolation(err) {
			return store.ErrNotFound
		}
		return err
	})
}

// GroupLink implements store.Store.
func (s *Store) GroupLink(ctx context.Context, id [16]byte) ([]byte, error) {
	const op = "group link"
	if err := s.readable(op); err != nil {
		return nil, err
	}
	var snapshot []byte
	err := s.rdb.QueryRowContext(ctx, "SELECT snapshot FROM group_links WHERE id = ?", id[:]).Scan(&snapshot)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, s.wrap(op, err)
	}
	if snapshot == nil {
		snapshot = []byte{}
	}
	return snapshot, nil
}

// DeleteGroupLink implements store.Store.
func (s *Store) DeleteGroupLink(ctx context.Context, id [16]byte, accountID int64) error {
	return s.write(ctx, "delete group link", 0, func(t *wtx) error {
		res, err := t.exec("DELETE FROM group_links WHERE id = ? AND account_id = ?", id[:], accountID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var owner int64
		err = t.queryRow("SELECT account_id FROM group_links WHERE id = ?", id[:]).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		return store.ErrNotOwner
	})
}
