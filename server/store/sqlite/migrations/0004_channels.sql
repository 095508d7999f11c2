-- 0004: public channels (spec/api.md §11): channels, their signed records,
-- followers, admins, reports, and the append-only moderation audit log.
CREATE TABLE channels (
	id          INTEGER PRIMARY KEY,
	handle      TEXT NOT NULL UNIQUE,
	owner_id    INTEGER NOT NULL REFERENCES accounts (id),
	genesis_key BLOB NOT NULL CHECK (length(genesis_key) = 32),
	epoch       INTEGER NOT NULL DEFAULT 0,
	title       TEXT NOT NULL,
	about       TEXT NOT NULL DEFAULT '',
	avatar      BLOB,
	created     INTEGER NOT NULL,
	suspend_reason TEXT
);

CREATE TABLE channel_records (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	channel_id INTEGER NOT NULL REFERENCES channels (id),
	record_id  BLOB NOT NULL CHECK (length(record_id) = 16),
	kind       INTEGER NOT NULL,
	target     BLOB CHECK (target IS NULL OR length(target) = 16),
	epoch      INTEGER NOT NULL,
	time       INTEGER NOT NULL,
	data       BLOB NOT NULL,
	created    INTEGER NOT NULL,
	views      INTEGER NOT NULL DEFAULT 0,
	takedown_reason TEXT,
	UNIQUE (channel_id, record_id)
);
CREATE INDEX channel_records_by_channel ON channel_records (channel_id, seq);

CREATE TABLE channel_follows (
	channel_id INTEGER NOT NULL REFERENCES channels (id),
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	created    INTEGER NOT NULL,
	PRIMARY KEY (channel_id, account_id)
) WITHOUT ROWID;
CREATE INDEX channel_follows_by_account ON channel_follows (account_id);

CREATE TABLE channel_admins (
	channel_id INTEGER NOT NULL REFERENCES channels (id),
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	PRIMARY KEY (channel_id, account_id)
) WITHOUT ROWID;

CREATE TABLE reports (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	channel_id  INTEGER NOT NULL REFERENCES channels (id),
	record_id   BLOB CHECK (record_id IS NULL OR length(record_id) = 16),
	reporter_id INTEGER NOT NULL,
	category    TEXT NOT NULL,
	note        TEXT NOT NULL DEFAULT '',
	created     INTEGER NOT NULL
);

CREATE TABLE audit_log (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	time       INTEGER NOT NULL,
	admin      TEXT NOT NULL,
	action     TEXT NOT NULL,
	channel_id INTEGER NOT NULL,
	record_id  BLOB,
	reason     TEXT NOT NULL
);
CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
