package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/parley-chat/parley/server/store"
)

const channelColumns = `c.id, c.handle, c.owner_id, c.genesis_key, c.title, c.about, c.avatar, c.created,
	coalesce(c.suspend_reason, ''), (SELECT count(*) FROM channel_follows f WHERE f.channel_id = c.id)`

func scanChannel(row interface{ Scan(...any) error }) (store.Channel, error) {
	var (
		c       store.Channel
		created int64
	)
	err := row.Scan(&c.ID, &c.Handle, &c.OwnerID, &c.GenesisKey, &c.Title, &c.About, &c.Avatar, &created, &c.SuspendReason, &c.Followers)
	c.Created = time.UnixMilli(created)
	return c, err
}

const recordColumns = `seq, channel_id, record_id, kind, target, position, hash, time, data, created, views, coalesce(takedown_reason, ''), takedown_notice`

func scanRecord(row interface{ Scan(...any) error }) (store.ChannelRecord, error) {
	var (
		r          store.ChannelRecord
		id, target []byte
		created    int64
	)
	err := row.Scan(&r.Seq, &r.ChannelID, &id, &r.Kind, &target, &r.Position, &r.Hash, &r.Time, &r.Data, &created, &r.Views, &r.TakedownReason, &r.TakedownNotice)
	copy(r.RecordID[:], id)
	if target != nil {
		r.Target = new([16]byte)
		copy(r.Target[:], target)
	}
	r.Created = time.UnixMilli(created)
	return r, err
}

func targetArg(t *[16]byte) any {
	if t == nil {
		return nil
	}
	return t[:]
}

// CreateChannel implements store.ChannelStore.
func (s *Store) CreateChannel(ctx context.Context, c store.Channel, profile store.ChannelRecord) (store.Channel, store.ChannelRecord, error) {
	err := s.write(ctx, "create channel", len(profile.Data), func(t *wtx) error {
		res, err := t.exec(`INSERT INTO channels (handle, owner_id, genesis_key, epoch, title, about, avatar, created)
			VALUES (?, ?, ?, 0, ?, ?, ?, ?)`, c.Handle, c.OwnerID, c.GenesisKey, profile.Title, profile.About, profile.Avatar, c.Created.UnixMilli())
		if isUniqueViolation(err) {
			return store.ErrHandleTaken
		}
		if err != nil {
			return err
		}
		if c.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		profile.ChannelID = c.ID
		profile, err = insertRecord(t, profile)
		return err
	})
	if err != nil {
		return store.Channel{}, store.ChannelRecord{}, err
	}
	c.Title, c.About, c.Avatar = profile.Title, profile.About, profile.Avatar
	return c, profile, nil
}

func insertRecord(t *wtx, r store.ChannelRecord) (store.ChannelRecord, error) {
	created := r.Created.UnixMilli()
	res, err := t.exec(`INSERT INTO channel_records (channel_id, record_id, kind, target, epoch, position, hash, time, data, created)
		VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?)`, r.ChannelID, r.RecordID[:], r.Kind, targetArg(r.Target), r.Position, r.Hash, r.Time, r.Data, created)
	if err != nil {
		return r, err
	}
	seq, err := res.LastInsertId()
	r.Seq = uint64(seq)
	return r, err
}

// ChannelByHandle implements store.ChannelStore.
func (s *Store) ChannelByHandle(ctx context.Context, handle string) (store.Channel, error) {
	return s.channelWhere(ctx, "channel by handle", "c.handle = ?", handle)
}

// ChannelByID implements store.ChannelStore.
func (s *Store) ChannelByID(ctx context.Context, id int64) (store.Channel, error) {
	return s.channelWhere(ctx, "channel by id", "c.id = ?", id)
}

func (s *Store) channelWhere(ctx context.Context, op, where string, arg any) (store.Channel, error) {
	if err := s.readable(op); err != nil {
		return store.Channel{}, err
	}
	c, err := scanChannel(s.rdb.QueryRowContext(ctx, "SELECT "+channelColumns+" FROM channels c WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Channel{}, s.wrap(op, store.ErrNotFound)
	}
	return c, s.wrap(op, err)
}

// AppendChannelRecord implements store.ChannelStore.
func (s *Store) AppendChannelRecord(ctx context.Context, r store.ChannelRecord) (store.ChannelRecord, error) {
	var out store.ChannelRecord
	err := s.write(ctx, "append channel record", len(r.Data), func(t *wtx) error {
		existing, err := scanRecord(t.queryRow("SELECT "+recordColumns+" FROM channel_records WHERE channel_id = ? AND record_id = ?", r.ChannelID, r.RecordID[:]))
		if err == nil {
			out = existing
			return store.ErrExists
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// The chain's next position, in this transaction: two publishers
		// racing for one position cannot both win (spec/api.md §11.3).
		// (The last record by Seq holds the highest position: positions
		// are only ever appended in order.)
		var last uint64
		err = t.queryRow("SELECT position FROM channel_records WHERE channel_id = ? ORDER BY seq DESC LIMIT 1", r.ChannelID).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if r.Position != last+1 {
			return store.ErrStaleHead
		}
		if out, err = insertRecord(t, r); err != nil {
			return err
		}
		if r.Kind == 7 { // profile
			_, err = t.exec("UPDATE channels SET title = ?, about = ?, avatar = ? WHERE id = ?", r.Title, r.About, r.Avatar, r.ChannelID)
		}
		return err
	})
	if errors.Is(err, store.ErrExists) {
		return out, err
	}
	return out, err
}

// ChannelRecords implements store.ChannelStore.
func (s *Store) ChannelRecords(ctx context.Context, channelID int64, q store.RecordQuery) ([]store.ChannelRecord, error) {
	const op = "channel records"
	if err := s.readable(op); err != nil {
		return nil, err
	}
	var (
		where = []string{"channel_id = ?"}
		args  = []any{channelID}
	)
	if q.After != 0 {
		where, args = append(where, "seq > ?"), append(args, q.After)
	}
	if q.Before != 0 {
		where, args = append(where, "seq < ?"), append(args, q.Before)
	}
	if q.Kind != 0 {
		where, args = append(where, "kind = ?"), append(args, q.Kind)
	}
	order := "ASC"
	if q.Desc {
		order = "DESC"
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+recordColumns+" FROM channel_records WHERE "+strings.Join(where, " AND ")+
		" ORDER BY seq "+order+" LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []store.ChannelRecord
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, s.wrap(op, err)
		}
		out = append(out, r)
	}
	return out, s.wrap(op, rows.Err())
}

// ChannelRecordByID implements store.ChannelStore.
func (s *Store) ChannelRecordByID(ctx context.Context, channelID int64, recordID [16]byte) (store.ChannelRecord, error) {
	const op = "channel record"
	if err := s.readable(op); err != nil {
		return store.ChannelRecord{}, err
	}
	r, err := scanRecord(s.rdb.QueryRowContext(ctx, "SELECT "+recordColumns+" FROM channel_records WHERE channel_id = ? AND record_id = ?", channelID, recordID[:]))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	return r, s.wrap(op, err)
}

// Follow implements store.ChannelStore.
func (s *Store) Follow(ctx context.Context, channelID, accountID int64, now time.Time) error {
	return s.write(ctx, "follow", 0, func(t *wtx) error {
		_, err := t.exec("INSERT INTO channel_follows (channel_id, account_id, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			channelID, accountID, now.UnixMilli())
		return err
	})
}

// Unfollow implements store.ChannelStore.
func (s *Store) Unfollow(ctx context.Context, channelID, accountID int64) error {
	return s.write(ctx, "unfollow", 0, func(t *wtx) error {
		_, err := t.exec("DELETE FROM channel_follows WHERE channel_id = ? AND account_id = ?", channelID, accountID)
		return err
	})
}

// ChannelFollowers implements store.ChannelStore.
func (s *Store) ChannelFollowers(ctx context.Context, channelID int64) ([]int64, error) {
	const op = "channel followers"
	if err := s.readable(op); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT account_id FROM channel_follows WHERE channel_id = ? ORDER BY account_id", channelID)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, s.wrap(op, err)
		}
		out = append(out, id)
	}
	return out, s.wrap(op, rows.Err())
}

func (s *Store) channels(ctx context.Context, op, query string, args ...any) ([]store.Channel, error) {
	if err := s.readable(op); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []store.Channel
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, s.wrap(op, err)
		}
		out = append(out, c)
	}
	return out, s.wrap(op, rows.Err())
}

// FollowedChannels implements store.ChannelStore.
func (s *Store) FollowedChannels(ctx context.Context, accountID int64) ([]store.Channel, error) {
	return s.channels(ctx, "followed channels", "SELECT "+channelColumns+
		" FROM channels c JOIN channel_follows f ON f.channel_id = c.id WHERE f.account_id = ? ORDER BY c.handle", accountID)
}

// SearchChannels implements store.ChannelStore.
func (s *Store) SearchChannels(ctx context.Context, query string, limit int) ([]store.Channel, error) {
	like := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(query))
	return s.channels(ctx, "search channels", "SELECT "+channelColumns+` FROM channels c
		WHERE c.suspend_reason IS NULL AND (c.handle LIKE ? ESCAPE '\' OR lower(c.title) LIKE ? ESCAPE '\')
		ORDER BY 10 DESC, c.handle LIMIT ?`, like+"%", "%"+like+"%", limit)
}

// SetChannelAdmin implements store.ChannelStore.
func (s *Store) SetChannelAdmin(ctx context.Context, channelID, accountID int64, admin bool) error {
	return s.write(ctx, "set channel admin", 0, func(t *wtx) error {
		var err error
		if admin {
			_, err = t.exec("INSERT INTO channel_admins (channel_id, account_id) VALUES (?, ?) ON CONFLICT DO NOTHING", channelID, accountID)
		} else {
			_, err = t.exec("DELETE FROM channel_admins WHERE channel_id = ? AND account_id = ?", channelID, accountID)
		}
		return err
	})
}

// IsChannelAdmin implements store.ChannelStore.
func (s *Store) IsChannelAdmin(ctx context.Context, channelID, accountID int64) (bool, error) {
	const op = "is channel admin"
	if err := s.readable(op); err != nil {
		return false, err
	}
	var n int
	err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM channel_admins WHERE channel_id = ? AND account_id = ?", channelID, accountID).Scan(&n)
	return n > 0, s.wrap(op, err)
}

// ChannelAdmins implements store.ChannelStore.
func (s *Store) ChannelAdmins(ctx context.Context, channelID int64) ([]string, error) {
	const op = "channel admins"
	if err := s.readable(op); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT a.username FROM channel_admins ca JOIN accounts a ON a.id = ca.account_id WHERE ca.channel_id = ? ORDER BY a.username", channelID)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, s.wrap(op, err)
		}
		out = append(out, n)
	}
	return out, s.wrap(op, rows.Err())
}

// AddViews implements store.ChannelStore.
func (s *Store) AddViews(ctx context.Context, channelID int64, recordIDs [][16]byte) error {
	return s.write(ctx, "add views", 0, func(t *wtx) error {
		for _, id := range recordIDs {
			if _, err := t.exec("UPDATE channel_records SET views = views + 1 WHERE channel_id = ? AND record_id = ?", channelID, id[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Moderate implements store.ChannelStore.
func (s *Store) Moderate(ctx context.Context, a store.AuditEntry) (store.AuditEntry, error) {
	err := s.write(ctx, "moderate", 0, func(t *wtx) error {
		var (
			res sql.Result
			err error
		)
		switch a.Action {
		case store.ActionSuspend:
			res, err = t.exec("UPDATE channels SET suspend_reason = ? WHERE id = ?", a.Reason, a.ChannelID)
		case store.ActionRestore:
			res, err = t.exec("UPDATE channels SET suspend_reason = NULL WHERE id = ?", a.ChannelID)
		case store.ActionTakedown, store.ActionRestorePost:
			if a.RecordID == nil {
				return store.ErrNotFound
			}
			var reason, notice any
			if a.Action == store.ActionTakedown {
				reason, notice = a.Reason, a.Notice
			}
			res, err = t.exec("UPDATE channel_records SET takedown_reason = ?, takedown_notice = ? WHERE channel_id = ? AND record_id = ?",
				reason, notice, a.ChannelID, a.RecordID[:])
		default:
			return errors.New("unknown moderation action " + a.Action)
		}
		if err != nil {
			return err
		}
		if err := oneRow(res); err != nil {
			return err
		}
		res, err = t.exec("INSERT INTO audit_log (time, admin, action, channel_id, record_id, reason) VALUES (?, ?, ?, ?, ?, ?)",
			a.Time.UnixMilli(), a.Admin, a.Action, a.ChannelID, targetArg(a.RecordID), a.Reason)
		if err != nil {
			return err
		}
		a.ID, err = res.LastInsertId()
		return err
	})
	return a, err
}

// AuditLog implements store.ChannelStore: the newest entries first.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]store.AuditEntry, error) {
	const op = "audit log"
	if err := s.readable(op); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT id, time, admin, action, channel_id, record_id, reason FROM audit_log ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var (
			a   store.AuditEntry
			ms  int64
			rid []byte
		)
		if err := rows.Scan(&a.ID, &ms, &a.Admin, &a.Action, &a.ChannelID, &rid, &a.Reason); err != nil {
			return nil, s.wrap(op, err)
		}
		a.Time = time.UnixMilli(ms)
		if rid != nil {
			a.RecordID = new([16]byte)
			copy(a.RecordID[:], rid)
		}
		out = append(out, a)
	}
	return out, s.wrap(op, rows.Err())
}

// AddReport implements store.ChannelStore.
func (s *Store) AddReport(ctx context.Context, r store.Report) (store.Report, error) {
	err := s.write(ctx, "add report", 0, func(t *wtx) error {
		res, err := t.exec("INSERT INTO reports (channel_id, account_id, record_id, reporter_id, category, note, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
			nullID(r.ChannelID), nullID(r.AccountID), targetArg(r.RecordID), r.ReporterID, r.Category, r.Note, r.Created.UnixMilli())
		if err != nil {
			return err
		}
		r.ID, err = res.LastInsertId()
		return err
	})
	return r, err
}

// Reports implements store.ChannelStore: the newest first.
func (s *Store) Reports(ctx context.Context, limit int) ([]store.Report, error) {
	const op = "reports"
	if err := s.readable(op); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT r.id, coalesce(r.channel_id, 0), coalesce(r.account_id, 0), r.record_id, r.reporter_id, r.category, r.note, r.created, coalesce(a.username, ''), coalesce(p.username, '') "+
		"FROM reports r LEFT JOIN accounts a ON a.id = r.account_id LEFT JOIN accounts p ON p.id = r.reporter_id ORDER BY r.id DESC LIMIT ?", limit)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []store.Report
	for rows.Next() {
		var (
			r   store.Report
			rid []byte
			ms  int64
		)
		if err := rows.Scan(&r.ID, &r.ChannelID, &r.AccountID, &rid, &r.ReporterID, &r.Category, &r.Note, &ms, &r.AccountName, &r.ReporterName); err != nil {
			return nil, s.wrap(op, err)
		}
		r.Created = time.UnixMilli(ms)
		if rid != nil {
			r.RecordID = new([16]byte)
			copy(r.RecordID[:], rid)
		}
		out = append(out, r)
	}
	return out, s.wrap(op, rows.Err())
}

// nullID is id as a query argument: NULL for 0, "none".
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// OperatorKey implements store.ChannelStore.
func (s *Store) OperatorKey(ctx context.Context, fresh []byte) ([]byte, error) {
	var key []byte
	err := s.write(ctx, "operator key", len(fresh), func(t *wtx) error {
		if _, err := t.exec("INSERT INTO server_keys (name, key) VALUES ('operator', ?) ON CONFLICT DO NOTHING", fresh); err != nil {
			return err
		}
		return t.queryRow("SELECT key FROM server_keys WHERE name = 'operator'").Scan(&key)
	})
	return key, err
}
