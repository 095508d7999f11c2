-- 0001: the initial schema. Times are unix milliseconds. Device and prekey
-- IDs are the protocol's uint32 values.

-- next_device_id is the ID the account's next device gets. It only grows,
-- so a device ID is never reused after a removal: the first device is 1, and
-- each added device takes next_device_id and increments it in the same
-- transaction.
CREATE TABLE accounts (
	id             INTEGER PRIMARY KEY,
	username       TEXT    NOT NULL UNIQUE, -- already normalised by the caller
	identity_key   BLOB,
	created        INTEGER NOT NULL,
	next_device_id INTEGER NOT NULL DEFAULT 1
);

-- queued counts the device's rows in messages, so that Enqueue's queue bound
-- and QueueDepth cost one primary-key lookup instead of a COUNT over the
-- queue. Enqueue increments it (UPDATE ... RETURNING gives it the new depth
-- in the same statement); the trigger messages_dequeued decrements it for
-- every deletion: Ack, DeleteExpired and the cascade from RemoveDevice.
CREATE TABLE devices (
	account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	id              INTEGER NOT NULL,
	name            TEXT    NOT NULL,
	credential_hash BLOB    NOT NULL, -- SHA-256 of the device secret
	created         INTEGER NOT NULL,
	queued          INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, id)
) WITHOUT ROWID;

CREATE TABLE signed_prekeys (
	account_id INTEGER NOT NULL,
	device_id  INTEGER NOT NULL,
	id         INTEGER NOT NULL,
	public_key BLOB    NOT NULL,
	signature  BLOB    NOT NULL,
	PRIMARY KEY (account_id, device_id),
	FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, id) ON DELETE CASCADE
);

CREATE TABLE last_resort_kem_prekeys (
	account_id INTEGER NOT NULL,
	device_id  INTEGER NOT NULL,
	id         INTEGER NOT NULL,
	public_key BLOB    NOT NULL,
	signature  BLOB    NOT NULL,
	PRIMARY KEY (account_id, device_id),
	FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, id) ON DELETE CASCADE
);

-- One-time ML-KEM prekeys. A rowid table, not WITHOUT ROWID: the 1569-byte
-- keys are too large for rows stored in the primary-key b-tree.
CREATE TABLE kem_prekeys (
	account_id INTEGER NOT NULL,
	device_id  INTEGER NOT NULL,
	id         INTEGER NOT NULL,
	public_key BLOB    NOT NULL,
	signature  BLOB    NOT NULL,
	PRIMARY KEY (account_id, device_id, id),
	FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, id) ON DELETE CASCADE
);

CREATE TABLE onetime_prekeys (
	account_id INTEGER NOT NULL,
	device_id  INTEGER NOT NULL,
	id         INTEGER NOT NULL,
	public_key BLOB    NOT NULL,
	PRIMARY KEY (account_id, device_id, id),
	FOREIGN KEY (account_id, device_id) REFERENCES devices (account_id, id) ON DELETE CASCADE
) WITHOUT ROWID;

-- The per-device queues. AUTOINCREMENT so that a seq is never reused, even
-- after the newest envelopes were deleted: clients resume with "after seq".
CREATE TABLE messages (
	seq            INTEGER PRIMARY KEY AUTOINCREMENT,
	dest_account   INTEGER NOT NULL,
	dest_device    INTEGER NOT NULL,
	sender_account INTEGER NOT NULL,
	sender_name    TEXT    NOT NULL,
	sender_device  INTEGER NOT NULL,
	client_id      BLOB    NOT NULL CHECK (length(client_id) = 16),
	type           INTEGER NOT NULL,
	content        BLOB    NOT NULL,
	created        INTEGER NOT NULL,
	expires        INTEGER NOT NULL,
	FOREIGN KEY (dest_account, dest_device) REFERENCES devices (account_id, id) ON DELETE CASCADE
);
CREATE INDEX messages_queue ON messages (dest_account, dest_device, seq);
CREATE UNIQUE INDEX messages_dedup ON messages (sender_account, sender_device, client_id, dest_account, dest_device);
CREATE INDEX messages_expires ON messages (expires);

CREATE TRIGGER messages_dequeued AFTER DELETE ON messages BEGIN
	UPDATE devices SET queued = queued - 1
	WHERE account_id = OLD.dest_account AND id = OLD.dest_device;
END;

-- A mailbox is empty while body is NULL.
CREATE TABLE provisioning (
	id      TEXT    PRIMARY KEY,
	body    BLOB,
	expires INTEGER NOT NULL
);

CREATE TABLE link_tokens (
	hash       BLOB    PRIMARY KEY, -- SHA-256 of the token
	account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	expires    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE invites (
	hash BLOB    PRIMARY KEY, -- SHA-256 of the invite code
	used INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
