package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/parley-chat/parley/server/store"
)

// expireChunk is how many envelopes DeleteExpired deletes per writer
// request, so that a large purge does not hold up Enqueue for long.
const expireChunk = 1000

// Enqueue implements store.Store. The envelopes of one call commit together
// or not at all, in a batch with other callers' (see writer.go).
//
// The queue bounds are checked against the destination device's
// devices.queued and queued_bytes counters and the sender's row in
// queue_shares, kept in the same transaction, so they cost one primary-key
// update and one upsert per stored envelope: the counters are incremented
// after each insert, and the request fails (and rolls back) as soon as one
// exceeds its bound. A duplicate is caught by the messages_dedup index (ON CONFLICT
// DO NOTHING) before the counter is touched. An unknown device is a foreign
// key violation. Seqs are collected aside and copied into envs only once the
// batch has committed, so envs is untouched on error.
func (s *Store) Enqueue(ctx context.Context, envs []store.Envelope, lim store.QueueLimits) ([]bool, error) {
	if len(envs) == 0 {
		if err := s.readable("enqueue"); err != nil {
			return nil, err
		}
		return []bool{}, nil
	}
	size := 0
	for i := range envs {
		size += len(envs[i].Content)
	}
	seqs := make([]uint64, len(envs))
	dup := make([]bool, len(envs))
	// The envelopes for OnEnqueue are copied inside run, while the caller
	// still waits for the writer (processed), and handed over after commit.
	var stored []store.Envelope
	var committed func()
	if s.onEnqueue != nil {
		committed = func() { s.onEnqueue(stored) }
	}
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	err := s.w.doThen(ctx, size, func(t *wtx) error {
		for i := range envs {
			var err error
			seqs[i], dup[i], err = enqueueOne(t, &envs[i], lim)
			if err != nil {
				return err
			}
		}
		if s.onEnqueue != nil {
			stored = make([]store.Envelope, 0, len(envs))
			for i := range envs {
				if !dup[i] {
					e := envs[i]
					e.Seq = seqs[i]
					stored = append(stored, e)
				}
			}
		}
		return nil
	}, committed)
	if err != nil {
		return nil, s.wrap("enqueue", err)
	}
	for i := range envs {
		envs[i].Seq = seqs[i]
	}
	return dup, nil
}

// enqueueOne stores e unless it duplicates a queued envelope, and returns
// its seq either way.
func enqueueOne(t *wtx, e *store.Envelope, lim store.QueueLimits) (seq uint64, dup bool, err error) {
	content := e.Content
	if content == nil {
		content = []byte{} // NOT NULL: an empty content is a zero-length blob
	}
	row := t.st.insertMessage.QueryRowContext(t.ctx,
		e.DestAccount, e.DestDevice, e.SenderAccount, e.SenderName, e.SenderDevice,
		e.ClientID[:], e.Type, content, toMillis(e.Created), toMillis(e.Expires))
	return enqueued(t, e, row, int64(len(content)), lim)
}

// enqueued finishes storing e, whose insert (RETURNING seq) is row and
// whose content counts size bytes: it looks up the seq of a duplicate, or
// counts a new envelope in its device's queue and its sender's share and
// checks the bounds.
func enqueued(t *wtx, e *store.Envelope, row *sql.Row, size int64, lim store.QueueLimits) (seq uint64, dup bool, err error) {
	var id int64
	err = row.Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows): // a duplicate: ON CONFLICT DO NOTHING
		err = t.st.dupSeq.QueryRowContext(t.ctx,
			e.SenderAccount, e.SenderDevice, e.ClientID[:], e.DestAccount, e.DestDevice).Scan(&id)
		if err != nil {
			return 0, false, fmt.Errorf("look up duplicate: %w", err)
		}
		return uint64(id), true, nil
	case isForeignKeyViolation(err):
		return 0, false, store.ErrNotFound
	case err != nil:
		return 0, false, err
	}
	var n int
	var bytes int64
	if err := t.st.bumpShare.QueryRowContext(t.ctx, e.DestAccount, e.DestDevice, e.SenderAccount, size).Scan(&n, &bytes); err != nil {
		return 0, false, fmt.Errorf("count share: %w", err)
	}
	if e.SenderAccount != e.DestAccount &&
		(lim.SenderMax > 0 && n > lim.SenderMax || lim.SenderMaxBytes > 0 && bytes > lim.SenderMaxBytes) {
		return 0, false, store.ErrSenderQueueFull
	}
	if err := t.st.bumpQueue.QueryRowContext(t.ctx, e.DestAccount, e.DestDevice, size).Scan(&n, &bytes); err != nil {
		return 0, false, fmt.Errorf("count queue: %w", err)
	}
	if n > lim.MaxQueue || lim.MaxBytes > 0 && bytes > lim.MaxBytes {
		return 0, false, store.ErrQueueFull
	}
	return uint64(id), false, nil
}

// Pending implements store.Store. An envelope has expired at now if its
// Expires is not after now. A limit below 1 returns nothing.
func (s *Store) Pending(ctx context.Context, accountID int64, deviceID uint32, after uint64, limit int, now time.Time) ([]store.Envelope, error) {
	const op = "pending"
	if err := s.readable(op); err != nil {
		return nil, err
	}
	if limit < 1 || after >= math.MaxInt64 {
		return nil, nil
	}
	rows, err := s.rstmts.pending.QueryContext(ctx, accountID, deviceID, int64(after), toMillis(now), limit)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var envs []store.Envelope
	for rows.Next() {
		e := store.Envelope{DestAccount: accountID, DestDevice: deviceID}
		var seq, created, expires int64
		var clientID []byte
		err := rows.Scan(&seq, &e.SenderAccount, &e.SenderName, &e.SenderDevice,
			&clientID, &e.Type, &e.Content, &created, &expires)
		if err != nil {
			return nil, s.wrap(op, err)
		}
		if len(clientID) != len(e.ClientID) {
			return nil, s.wrap(op, fmt.Errorf("stored client id has %d bytes", len(clientID)))
		}
		copy(e.ClientID[:], clientID)
		e.Seq, e.Created, e.Expires = uint64(seq), fromMillis(created), fromMillis(expires)
		envs = append(envs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(op, err)
	}
	return envs, nil
}

// Ack implements store.Store.
func (s *Store) Ack(ctx context.Context, accountID int64, deviceID uint32, seqs []uint64) error {
	if len(seqs) == 0 {
		return s.readable("ack")
	}
	list := make([]byte, 0, 2+len(seqs)*8)
	list = append(list, '[')
	for _, seq := range seqs {
		if seq > math.MaxInt64 {
			continue // not a seq this store ever gave out
		}
		if len(list) > 1 {
			list = append(list, ',')
		}
		list = strconv.AppendUint(list, seq, 10)
	}
	list = append(list, ']')
	return s.write(ctx, "ack", 0, func(t *wtx) error {
		_, err := t.st.ack.ExecContext(t.ctx, accountID, deviceID, string(list))
		return err
	})
}

// QueuedTotal implements store.Store.
func (s *Store) QueuedTotal(ctx context.Context) (int64, error) {
	const op = "queued total"
	if err := s.readable(op); err != nil {
		return 0, err
	}
	var n int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT COALESCE(SUM(queued), 0) FROM devices").Scan(&n); err != nil {
		return 0, s.wrap(op, err)
	}
	return n, nil
}

// QueueDepth implements store.Store: ErrNotFound for an unknown device.
// Expired envelopes count until DeleteExpired removes them.
func (s *Store) QueueDepth(ctx context.Context, accountID int64, deviceID uint32) (int, error) {
	const op = "queue depth"
	if err := s.readable(op); err != nil {
		return 0, err
	}
	var n int
	err := s.rdb.QueryRowContext(ctx, "SELECT queued FROM devices WHERE account_id = ? AND id = ?",
		accountID, deviceID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return n, nil
}

// DeleteExpired implements store.Store; something expired at now if its
// expiry is not after now. Envelopes go in chunks, each its own writer
// request, so the queue counts stay right (the messages_dequeued trigger)
// and Enqueue is never held up for long. If ctx ends part way, it reports
// how many went before.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	const op = "delete expired"
	ms := toMillis(now)
	total := 0
	for {
		var n int64
		err := s.write(ctx, op, 0, func(t *wtx) error {
			res, err := t.exec(`DELETE FROM messages WHERE seq IN
				(SELECT seq FROM messages WHERE expires <= ? LIMIT ?)`, ms, expireChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < expireChunk {
			break
		}
	}
	err := s.write(ctx, op, 0, func(t *wtx) error {
		if _, err := t.exec("DELETE FROM queue_shares WHERE queued = 0"); err != nil {
			return err
		}
		if _, err := t.exec("DELETE FROM provisioning WHERE expires <= ?", ms); err != nil {
			return err
		}
		_, err := t.exec("DELETE FROM link_tokens WHERE expires <= ?", ms)
		return err
	})
	return total, err
}
