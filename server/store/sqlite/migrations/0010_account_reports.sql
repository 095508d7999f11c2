-- 0010: reports of accounts beside reports of channels (spec/api.md §12.1).
-- A report names exactly one of a channel and an account; a record ID only
-- with a channel. SQLite cannot relax a NOT NULL column in place, so the
-- table is rebuilt with its rows and IDs.
CREATE TABLE reports_new (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	channel_id  INTEGER REFERENCES channels (id),
	account_id  INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
	record_id   BLOB CHECK (record_id IS NULL OR (length(record_id) = 16 AND channel_id IS NOT NULL)),
	reporter_id INTEGER NOT NULL,
	category    TEXT NOT NULL,
	note        TEXT NOT NULL DEFAULT '',
	created     INTEGER NOT NULL,
	CHECK ((channel_id IS NULL) != (account_id IS NULL))
);
INSERT INTO reports_new (id, channel_id, record_id, reporter_id, category, note, created)
	SELECT id, channel_id, record_id, reporter_id, category, note, created FROM reports;
DROP TABLE reports;
ALTER TABLE reports_new RENAME TO reports;
