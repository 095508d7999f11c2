-- 0011: profiles (spec/api.md §14): one end-to-end encrypted profile per
-- account, opaque to the server, with the version its owner gave it.
CREATE TABLE profiles (
	account_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
	version    INTEGER NOT NULL CHECK (version > 0),
	ciphertext BLOB    NOT NULL,
	updated    INTEGER NOT NULL
);
