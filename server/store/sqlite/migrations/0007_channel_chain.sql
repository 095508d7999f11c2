-- 0006: channel records form a hash chain (spec/protocol.md §10.4): each
-- row keeps the record's signed position and its hash, and at most one
-- record holds a position. A takedown keeps the operator's signed notice
-- (spec/protocol.md §10.7). The epoch column of format version 1 is no
-- longer read.
ALTER TABLE channel_records ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channel_records ADD COLUMN hash BLOB CHECK (hash IS NULL OR length(hash) = 32);
ALTER TABLE channel_records ADD COLUMN takedown_notice BLOB;
CREATE UNIQUE INDEX channel_records_by_position ON channel_records (channel_id, position) WHERE position > 0;
-- The server reads a channel's add_admin and remove_admin records on every
-- publish (the signers of its head), and the edits of a deleted post.
CREATE INDEX channel_records_by_kind ON channel_records (channel_id, kind, seq);

-- The server's own keys, made once and kept: the operator key that signs
-- takedown notices (name 'operator').
CREATE TABLE server_keys (
	name TEXT PRIMARY KEY,
	key  BLOB NOT NULL
) WITHOUT ROWID;
