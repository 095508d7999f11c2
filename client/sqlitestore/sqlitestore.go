// Package sqlitestore keeps a Parley client's state in one SQLite file
// (modernc.org/sqlite, WAL, synchronous=FULL): the client.Store the CLI
// uses. It stores what the client gives it, which is sealed by the client
// (client/vault.go) except for the vault header.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/parley-chat/parley/client"
)

const schema = `CREATE TABLE IF NOT EXISTS kv (
	bucket TEXT NOT NULL,
	key    TEXT NOT NULL,
	value  BLOB NOT NULL,
	PRIMARY KEY (bucket, key)
) WITHOUT ROWID`

// Store is a client.Store in one SQLite file. One connection serves
// every transaction in turn: a client is one process with little
// concurrency, and a single connection makes Update and View serialisable
// without retry loops.
type Store struct {
	db *sql.DB
	// Statements prepared once: parsing SQL on every call was a tenth of
	// a client's CPU (see docs/BENCHMARKS.md, full client path).
	get, put, del *sql.Stmt
}

const (
	sqlGet = `SELECT value FROM kv WHERE bucket = ? AND key = ?`
	sqlPut = `INSERT INTO kv (bucket, key, value) VALUES (?, ?, ?)
		ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value`
	sqlDel = `DELETE FROM kv WHERE bucket = ? AND key = ?`
	// sqlScan reads a key range of a bucket in key order, from the
	// primary key's index (see tx.Scan).
	sqlScan = `SELECT key, value FROM kv WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key`
	// sqlPage and sqlPageFrom are a page of a scan: the keys after the
	// last one seen, or the first ones. One lower bound each, so that
	// SQLite seeks the primary key's index to it rather than scanning
	// from the start of the range.
	sqlPage     = `SELECT key, value FROM kv WHERE bucket = ? AND key > ? AND key < ? ORDER BY key LIMIT ?`
	sqlPageFrom = `SELECT key, value FROM kv WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?`
)

var (
	_ client.Store = (*Store)(nil)
	_ client.Pager = (*tx)(nil)
)

// Open opens or creates the database at path.
func Open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(ON)")
	// Deleted rows are overwritten with zeros, not left in free pages:
	// what the client erases (a message deleted for everyone, or whose
	// timer ran out) leaves no sealed copy in the file (see Purge).
	q.Add("_pragma", "secure_delete(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	st := &Store{db: db}
	for _, p := range []struct {
		s   **sql.Stmt
		sql string
	}{{&st.get, sqlGet}, {&st.put, sqlPut}, {&st.del, sqlDel}} {
		if *p.s, err = db.PrepareContext(ctx, p.sql); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlitestore: prepare: %w", err)
		}
	}
	return st, nil
}

// Update implements client.Store.
func (s *Store) Update(ctx context.Context, fn func(client.Tx) error) error {
	return s.run(ctx, false, fn)
}

// View implements client.Store.
func (s *Store) View(ctx context.Context, fn func(client.Tx) error) error {
	return s.run(ctx, true, fn)
}

func (s *Store) run(ctx context.Context, readOnly bool, fn func(client.Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("sqlitestore: begin: %w", err)
	}
	if err := fn(&tx{ctx: ctx, tx: sqlTx, s: s}); err != nil {
		sqlTx.Rollback()
		return err
	}
	if readOnly {
		return sqlTx.Rollback()
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit: %w", err)
	}
	return nil
}

// Purge implements client.Purger: it copies the write-ahead log into the
// database and truncates it to zero bytes, so that the old versions of
// erased rows that the log still held are gone from disk too (with
// secure_delete, the database file has none).
func (s *Store) Purge(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("sqlitestore: purge: %w", err)
	}
	return nil
}

var _ client.Purger = (*Store)(nil)

// Close closes the database.
func (s *Store) Close() error {
	s.get.Close()
	s.put.Close()
	s.del.Close()
	return s.db.Close()
}

type tx struct {
	ctx context.Context
	tx  *sql.Tx
	s   *Store
}

func (t *tx) Get(bucket, key string) ([]byte, error) {
	var v []byte
	err := t.tx.StmtContext(t.ctx, t.s.get).QueryRowContext(t.ctx, bucket, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, client.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get: %w", err)
	}
	return v, nil
}

func (t *tx) Put(bucket, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := t.tx.StmtContext(t.ctx, t.s.put).ExecContext(t.ctx, bucket, key, value)
	if err != nil {
		return fmt.Errorf("sqlitestore: put: %w", err)
	}
	return nil
}

func (t *tx) Delete(bucket, key string) error {
	if _, err := t.tx.StmtContext(t.ctx, t.s.del).ExecContext(t.ctx, bucket, key); err != nil {
		return fmt.Errorf("sqlitestore: delete: %w", err)
	}
	return nil
}

func (t *tx) Scan(bucket, prefix string, fn func(key string, value []byte) error) error {
	// Keys are TEXT under the BINARY collation, compared with memcmp, so
	// the range [prefix, prefix+0xFF…) holds exactly the keys that start
	// with prefix, for ASCII keys, and the primary key's index gives them
	// in order: no sort, and no reading of the bucket's other rows.
	return t.scan(fn, prefix, sqlScan, bucket, prefix, prefix+"\xff")
}

// Page implements client.Pager: the first limit keys of bucket that
// start with prefix and sort after after.
func (t *tx) Page(bucket, prefix, after string, limit int, fn func(key string, value []byte) error) error {
	if after < prefix {
		return t.scan(fn, prefix, sqlPageFrom, bucket, prefix, prefix+"\xff", limit)
	}
	return t.scan(fn, prefix, sqlPage, bucket, after, prefix+"\xff", limit)
}

func (t *tx) scan(fn func(key string, value []byte) error, prefix, query string, args ...any) error {
	rows, err := t.tx.QueryContext(t.ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlitestore: scan: %w", err)
	}
	return each(rows, prefix, fn)
}

// each reads rows whose key starts with prefix, then calls fn for each,
// after the rows are closed, so that fn may write.
func each(rows *sql.Rows, prefix string, fn func(key string, value []byte) error) error {
	type kv struct {
		k string
		v []byte
	}
	var all []kv
	for rows.Next() {
		var e kv
		if err := rows.Scan(&e.k, &e.v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlitestore: scan: %w", err)
		}
		if strings.HasPrefix(e.k, prefix) {
			all = append(all, e)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlitestore: scan: %w", err)
	}
	for _, e := range all {
		if err := fn(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}
