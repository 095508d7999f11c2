package sqlite

import (
	"context"
	"database/sql"
	"errors"
)

// writeStmts are the statements the writer prepares once on its connection:
// transaction control, and the per-envelope statements of the hot path.
type writeStmts struct {
	begin, commit, rollback        *sql.Stmt
	savepoint, release, rollbackTo *sql.Stmt

	insertMessage *sql.Stmt // -> seq, or no row for a duplicate
	dupSeq        *sql.Stmt // the seq of the envelope a duplicate repeats
	insertShared  *sql.Stmt // insertMessage for an envelope whose content is in bodies
	insertBody    *sql.Stmt // -> the new body's id
	bumpQueue     *sql.Stmt // -> the destination's new queue depth and bytes
	bumpShare     *sql.Stmt // -> the sender's new share of it, envelopes and bytes
	ack           *sql.Stmt
	all           []*sql.Stmt
}

func prepareWrite(ctx context.Context, conn *sql.Conn) (*writeStmts, error) {
	st := new(writeStmts)
	p := preparer{prep: conn.PrepareContext, ctx: ctx}
	st.begin = p.prepare("BEGIN IMMEDIATE")
	st.commit = p.prepare("COMMIT")
	st.rollback = p.prepare("ROLLBACK")
	st.savepoint = p.prepare("SAVEPOINT req")
	st.release = p.prepare("RELEASE req")
	st.rollbackTo = p.prepare("ROLLBACK TO req")
	st.insertMessage = p.prepare(`INSERT INTO messages
		(dest_account, dest_device, sender_account, sender_name, sender_device,
		 client_id, type, content, created, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (sender_account, sender_device, client_id, dest_account, dest_device) DO NOTHING
		RETURNING seq`)
	st.insertShared = p.prepare(`INSERT INTO messages
		(dest_account, dest_device, sender_account, sender_name, sender_device,
		 client_id, type, content, created, expires, body_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, X'', ?, ?, ?)
		ON CONFLICT (sender_account, sender_device, client_id, dest_account, dest_device) DO NOTHING
		RETURNING seq`)
	st.insertBody = p.prepare("INSERT INTO bodies (refs, content) VALUES (0, ?) RETURNING id")
	st.dupSeq = p.prepare(`SELECT seq FROM messages
		WHERE sender_account = ? AND sender_device = ? AND client_id = ?
		AND dest_account = ? AND dest_device = ?`)
	st.bumpQueue = p.prepare(`UPDATE devices SET queued = queued + 1, queued_bytes = queued_bytes + ?3
		WHERE account_id = ?1 AND id = ?2 RETURNING queued, queued_bytes`)
	st.bumpShare = p.prepare(`INSERT INTO queue_shares
		(dest_account, dest_device, sender_account, queued, queued_bytes) VALUES (?1, ?2, ?3, 1, ?4)
		ON CONFLICT DO UPDATE SET queued = queued + 1, queued_bytes = queued_bytes + ?4
		RETURNING queued, queued_bytes`)
	// One statement per Ack, whatever its size: the Seqs come as a JSON
	// array (json_each is built into SQLite).
	st.ack = p.prepare(`DELETE FROM messages WHERE dest_account = ? AND dest_device = ?
		AND seq IN (SELECT value FROM json_each(?))`)
	if p.err != nil {
		p.closeAll()
		return nil, p.err
	}
	st.all = p.stmts
	return st, nil
}

func (st *writeStmts) close() error { return closeStmts(st.all) }

// readStmts are the reader pool's prepared statements (database/sql
// prepares them again on each pool connection as needed).
type readStmts struct {
	pending      *sql.Stmt
	deviceByName *sql.Stmt
	all          []*sql.Stmt
}

func prepareRead(ctx context.Context, db *sql.DB) (*readStmts, error) {
	st := new(readStmts)
	p := preparer{prep: db.PrepareContext, ctx: ctx}
	// A shared content is in bodies (EnqueueShared); the envelope's own
	// content is then empty.
	st.pending = p.prepare(`SELECT m.seq, m.sender_account, m.sender_name, m.sender_device,
		m.client_id, m.type, CASE WHEN m.body_id IS NULL THEN m.content ELSE b.content END,
		m.created, m.expires
		FROM messages m LEFT JOIN bodies b ON b.id = m.body_id
		WHERE m.dest_account = ? AND m.dest_device = ? AND m.seq > ? AND m.expires > ?
		ORDER BY m.seq LIMIT ?`)
	st.deviceByName = p.prepare(`SELECT ` + accountColumns + `, ` + deviceColumns + `
		FROM accounts a JOIN devices d ON d.account_id = a.id
		WHERE a.username = ? AND d.id = ?`)
	if p.err != nil {
		p.closeAll()
		return nil, p.err
	}
	st.all = p.stmts
	return st, nil
}

func (st *readStmts) close() error { return closeStmts(st.all) }

// preparer prepares statements until the first error.
type preparer struct {
	prep  func(context.Context, string) (*sql.Stmt, error)
	ctx   context.Context
	stmts []*sql.Stmt
	err   error
}

func (p *preparer) prepare(query string) *sql.Stmt {
	if p.err != nil {
		return nil
	}
	s, err := p.prep(p.ctx, query)
	if err != nil {
		p.err = err
		return nil
	}
	p.stmts = append(p.stmts, s)
	return s
}

func (p *preparer) closeAll() { _ = closeStmts(p.stmts) }

func closeStmts(ss []*sql.Stmt) error {
	var errs []error
	for _, s := range ss {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
