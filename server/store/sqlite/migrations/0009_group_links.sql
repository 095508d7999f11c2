-- 0009: group links (spec/api.md §13): an opaque snapshot under a random
-- 16-byte ID, owned by the account that stored it first. The index serves
-- the per-account bound and the cascade from the account.
CREATE TABLE group_links (
	id         BLOB    PRIMARY KEY CHECK (length(id) = 16),
	account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	snapshot   BLOB    NOT NULL
);
CREATE INDEX group_links_account ON group_links (account_id);
